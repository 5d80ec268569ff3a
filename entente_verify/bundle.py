"""Checking an audit bundle, and checkpoints an auditor kept, with nothing but a public key.

A bundle is one UTF-8 file, one JSON object per line: a header (the signed checkpoint,
consistency proofs) and then one line per event with its inclusion proof (docs/AUDIT.md).
Each event is checked on its own, so a failure names the event:

1. its content recomputes to its payload hash and, with its prev_hash, to its chain link;
2. its leaf (position, stream, version, recorded time, link) is included, by the proof,
   in the tree whose root the checkpoint signs;
3. within a stream, versions run without gaps from 1 up to the newest event of that stream
   in the bundle, and each prev_hash is the previous link;
4. it belongs to the bundle's subject: a stream bundle's events are all of that stream, a
   pair's (subject "KZ-US") hold no other pair's relationship-... stream (`_check_subject`
   says which subjects are which).

Nothing signs a stream's head, so an event newer than a stream's last one in the bundle,
removed from the database or cut from the file with the header's count, is not seen here
(docs/AUDIT.md, "What it does not prove"): `expect` (--expect STREAM=VERSION) states a
stream's version read elsewhere, and the bundle must end exactly there.

The header's tree_size and origin must be the signed checkpoint's, and the key it names
the key given. Checkpoints kept from earlier must agree with the bundle's: the same size
with another root is a split view; a smaller one must be a prefix (consistency proof),
else the log was rewritten or cut after it was kept. A consistency proof the auditor gave
that no two checkpoints used is a problem too: a VERIFIED never covers an unchecked proof.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from entente_verify.events import PAYLOAD_FIELDS, chain_hash, leaf_bytes, payload_hash
from entente_verify.merkle import leaf_hash, verify_consistency, verify_inclusion
from entente_verify.note import (
    SIGNATURE_PREFIX,
    Checkpoint,
    NoteError,
    Verifier,
    open_checkpoint,
)

FORMAT = "entente-audit-bundle/1"
HEX = re.compile(r"[0-9a-f]{64}")
EVENT_ID = re.compile(rb'"event_id":"([0-9a-f-]{36})"')
"""Names the event of a line too damaged to read as JSON, when its id survived."""
EVENT_FIELDS = frozenset(
    {
        *PAYLOAD_FIELDS,
        *("leaf_index", "position", "stream_id", "version", "recorded_at"),
        *("prev_hash", "hash", "proof"),
    }
)
"""Every field an event line must have: each is bound by a hash, so a renamed one fails."""
PAIR_SUBJECT = re.compile(r"([A-Z]{2})-([A-Z]{2})")
"""The subject of a relationship's bundle (/relationships/KZ-US/bundle): two party codes.
Any other subject is a stream id (/streams/{id}/bundle)."""
PAIR_STREAM_PREFIX = "relationship-"
"""A pair's own stream is relationship-<A>-<B>, codes sorted (reporting/relationship_history.py)."""
KIND_PREFIXES = ("dialogue-", "visit-", PAIR_STREAM_PREFIX)
"""How the ids of the streams the API writes begin (domain/streams.py, KINDS)."""


@dataclass
class EventResult:
    """The verdict on one event line."""

    line: int
    event_id: str | None = None
    stream_id: str | None = None
    version: int | None = None
    position: int | None = None
    failure: str | None = None

    @property
    def ok(self) -> bool:
        """True when every check of this event passed."""
        return self.failure is None

    def describe(self) -> str:
        """One line for the report."""
        who = f"event {self.event_id} ({self.stream_id} v{self.version}, position {self.position})"
        head = f"line {self.line}: {who}"
        return f"OK   {head}" if self.ok else f"FAIL {head}: {self.failure}"


@dataclass
class Report:
    """Everything the verifier found; `ok` only when nothing failed."""

    checkpoint: Checkpoint | None = None
    events: list[EventResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the checkpoints agree and every event verified."""
        return not self.problems and all(e.ok for e in self.events)

    def failed_events(self) -> list[EventResult]:
        """The events that did not verify, in bundle order."""
        return [e for e in self.events if not e.ok]

    def lines(self) -> list[str]:
        """The report as text lines."""
        out = [e.describe() for e in self.events]
        out += [f"PROBLEM {p}" for p in self.problems]
        failed = len(self.failed_events())
        out.append(
            f"{'VERIFIED' if self.ok else 'NOT VERIFIED'}: {len(self.events)} events,"
            f" {failed} failed, {len(self.problems)} other problems"
        )
        return out


class BadField(ValueError):
    """A field of an event line that is missing or has the wrong shape."""


def _hash(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or not HEX.fullmatch(value):
        raise BadField(f"{name} is not 64 lowercase hex digits")
    return bytes.fromhex(value)


def _int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadField(f"{name} is not a non-negative integer")
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise BadField(f"{name} is not a string")
    return value


def _check_event(event: dict[str, Any], checkpoint: Checkpoint, result: EventResult) -> bytes:
    """Checks 1 and 2; returns the recomputed link (raises BadField or sets failure)."""
    missing = EVENT_FIELDS - set(event)
    if missing:
        raise BadField(f"missing {', '.join(sorted(missing))}")
    result.event_id = _str(event.get("event_id"), "event_id")
    result.stream_id = _str(event.get("stream_id"), "stream_id")
    result.version = _int(event.get("version"), "version")
    result.position = _int(event.get("position"), "position")
    recorded_at = _str(event.get("recorded_at"), "recorded_at")
    prev = event.get("prev_hash")
    prev_hash = None if prev is None else _hash(prev, "prev_hash")
    stored = _hash(event.get("hash"), "hash")
    proof = event.get("proof")
    if not isinstance(proof, list):
        raise BadField("proof is not a list")
    path = [_hash(p, "a proof hash") for p in proof]
    index = _int(event.get("leaf_index"), "leaf_index")
    link = chain_hash(prev_hash, result.stream_id, result.version, recorded_at, payload_hash(event))
    if link != stored:
        result.failure = "its content does not match its hash: altered after it was recorded"
        return link
    leaf = leaf_hash(
        leaf_bytes(result.position, result.stream_id, result.version, recorded_at, link)
    )
    if not verify_inclusion(index, checkpoint.size, leaf, path, checkpoint.root):
        result.failure = (
            f"not in the signed tree of {checkpoint.size} as leaf {index}: the log holds"
            " something else there (the event or its chain was rewritten)"
        )
    return link


def _check_streams(
    lines: list[tuple[EventResult, dict[str, Any], bytes]], unreadable: bool
) -> None:
    """Check 3: versions without gaps, each prev_hash the previous event's link. When an
    event already failed, its stream and version claim nothing, and it may be the missing
    version: gaps are then not named, only the failed event."""
    by_stream: dict[str, list[tuple[EventResult, dict[str, Any], bytes]]] = {}
    for item in lines:
        by_stream.setdefault(item[0].stream_id or "", []).append(item)
    for items in by_stream.values():
        items.sort(key=lambda item: item[0].version or 0)
        previous: tuple[EventResult, dict[str, Any], bytes] | None = None
        for result, event, _link in items:
            if previous is not None and not previous[0].ok:
                previous = (result, event, _link)  # a failed event's claims prove nothing
                continue
            expected = previous[0].version + 1 if previous and previous[0].version else 1
            if result.ok and result.version != expected:
                if unreadable:
                    previous = None
                    continue
                result.failure = f"version {expected} of its stream is missing from the bundle"
            elif (
                result.ok
                and previous is not None
                and event.get("prev_hash") != previous[1].get("hash")
            ):
                result.failure = "its prev_hash is not the previous event's hash"
            previous = (result, event, _link)


def _proofs(header: dict[str, Any]) -> dict[tuple[int, int], list[bytes]]:
    found: dict[tuple[int, int], list[bytes]] = {}
    for item in header.get("consistency") or []:
        found[(int(item["first"]), int(item["second"]))] = [
            _hash(p, "a consistency hash") for p in item["proof"]
        ]
    return found


def check_checkpoints(
    checkpoints: Sequence[tuple[str, Checkpoint]],
    proofs: dict[tuple[int, int], list[bytes]],
    given: Iterable[tuple[int, int]] = (),
) -> list[str]:
    """Problems between signed checkpoints: split views, rewrites and cuts between sizes.

    `given` are the (first, second) sizes of the proofs the auditor supplied: each that no
    two of the checkpoints compared is a problem, so nothing unchecked passes as checked.
    """
    problems: list[str] = []
    compared: set[tuple[int, int]] = set()
    ordered = sorted(checkpoints, key=lambda item: item[1].size)
    for i, (name_a, a) in enumerate(ordered):
        for name_b, b in ordered[i + 1 :]:
            compared.add((a.size, b.size))
            if a.size == b.size:
                if a.root != b.root:
                    problems.append(
                        f"split view: {name_a} and {name_b} are both signed for tree size"
                        f" {a.size} with different roots"
                    )
                continue
            if a.size == 0:
                continue
            proof = proofs.get((a.size, b.size))
            if proof is None:
                problems.append(
                    f"no consistency proof from {a.size} ({name_a}) to {b.size} ({name_b})"
                )
            elif not verify_consistency(a.size, b.size, a.root, b.root, proof):
                problems.append(
                    f"inconsistent: the log of {b.size} ({name_b}) does not extend the log of"
                    f" {a.size} ({name_a}); events were rewritten or removed after {name_a}"
                )
    for first, second in sorted(set(given) - compared):
        problems.append(
            f"the consistency proof from {first} to {second} was not used: no two checkpoints"
            " of those sizes were given"
        )
    return problems


def split_notes(text: str) -> list[str]:
    """The signed notes in a file holding one or more, one after another (blank lines
    between them allowed, as the witness file has): text lines, an empty line, then the
    signature lines, which start with an em dash."""
    notes: list[str] = []
    body: list[str] = []
    signatures: list[str] = []
    for line in [*text.replace("\r\n", "\n").split("\n"), ""]:
        if line.startswith(SIGNATURE_PREFIX) and body:
            signatures.append(line)
            continue
        if signatures:
            notes.append("\n".join(body) + "\n\n" + "\n".join(signatures) + "\n")
            body, signatures = [], []
        if line:
            body.append(line)
    return notes


def open_kept(
    notes: Iterable[str], verifier: Verifier
) -> tuple[list[tuple[str, Checkpoint]], list[str]]:
    """The kept checkpoints that verify, named `kept #n`, and a problem per one that does not."""
    opened: list[tuple[str, Checkpoint]] = []
    problems: list[str] = []
    for n, note in enumerate(notes, 1):
        try:
            opened.append((f"kept #{n}", open_checkpoint(note, verifier)))
        except NoteError as error:
            problems.append(f"kept checkpoint #{n} does not verify: {error}")
    return opened, problems


def _check_header(header: dict[str, Any], checkpoint: Checkpoint, verifier: Verifier) -> list[str]:
    """The header's own fields are not signed: each that restates the signed checkpoint or
    the key must say what they say, so nobody reads a false one."""
    problems: list[str] = []
    size = header.get("tree_size", checkpoint.size)
    if type(size) is not int or size != checkpoint.size:
        problems.append(
            f"the header's tree_size {size!r} is not the signed checkpoint's {checkpoint.size}"
        )
    origin = header.get("origin", checkpoint.origin)
    if origin != checkpoint.origin:
        problems.append(
            f"the header's origin {origin!r} is not the signed checkpoint's {checkpoint.origin!r}"
        )
    key = header.get("key")
    if key is not None:
        try:
            named = Verifier.parse(key) if isinstance(key, str) else None
        except NoteError:
            named = None
        if named != verifier:
            problems.append(
                f"the header names the key {str(key)[:120]!r}, not the key given"
                f" ({verifier.text()})"
            )
    subject = header.get("subject")
    if subject is not None and not isinstance(subject, str):
        problems.append(f"the header's subject {subject!r} is not a string")
    return problems


def _check_subject(subject: Any, results: Sequence[EventResult]) -> None:
    """Check 4 on the events that passed the others: a stream bundle's events are all of
    that stream; a pair's hold no relationship stream but the pair's own.

    The subject is a pair when it reads like KZ-US, a stream when it has a stream kind's
    prefix or the bundle holds events of the stream it names; another subject is none the
    server makes, and is not checked."""
    if not isinstance(subject, str):
        return
    pair = PAIR_SUBJECT.fullmatch(subject)
    own = PAIR_STREAM_PREFIX + "-".join(sorted(pair.groups())) if pair else None
    if own is None and not (
        subject.startswith(KIND_PREFIXES) or any(r.stream_id == subject for r in results)
    ):
        return
    for result in results:
        if not result.ok or result.stream_id is None:
            continue
        if own is None and result.stream_id != subject:
            result.failure = (
                f"it is of stream {result.stream_id}, not of {subject}, the stream the bundle is of"
            )
        elif (
            own is not None
            and result.stream_id.startswith(PAIR_STREAM_PREFIX)
            and result.stream_id != own
        ):
            result.failure = (
                f"it is of another pair's stream {result.stream_id}: the bundle of {subject}"
                f" holds only {own}"
            )


def _check_expected(expect: Mapping[str, int], events: Sequence[EventResult]) -> list[str]:
    """Each stream the auditor gave a version for (read elsewhere) ends exactly there."""
    problems: list[str] = []
    for stream, version in sorted(expect.items()):
        versions = [e.version for e in events if e.stream_id == stream and e.version is not None]
        last = max(versions, default=0)
        if last == version:
            continue
        if not versions:
            problems.append(
                f"stream {stream}: the bundle holds none of its events, expected it up to"
                f" version {version}"
            )
        else:
            problems.append(
                f"stream {stream}: the bundle ends at version {last}, expected {version}"
            )
    return problems


def verify_bundle(
    content: bytes,
    verifier: Verifier,
    kept: Sequence[str] = (),
    proofs: dict[tuple[int, int], list[bytes]] | None = None,
    expect: Mapping[str, int] | None = None,
) -> Report:
    """Check a bundle (and kept checkpoints) against a public key; see the module docstring.

    `proofs` are consistency proofs the auditor supplied (each must be used); `expect`
    maps a stream id to the version the bundle must hold it up to, exactly.
    """
    report = Report()
    if not content.strip():
        report.problems.append("the bundle is empty: it has no header line")
        return report
    raw_lines = content.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    try:
        header = json.loads(raw_lines[0].decode())
        if header.get("format") != FORMAT:
            raise ValueError(f"not an {FORMAT} file")
        report.checkpoint = checkpoint = open_checkpoint(header["checkpoint"], verifier)
        all_proofs = {**_proofs(header), **(proofs or {})}
    except (IndexError, ValueError, KeyError, TypeError, AttributeError) as error:
        report.problems.append(f"the bundle's header (line 1) does not verify: {error}")
        return report
    report.problems = _check_header(header, checkpoint, verifier)
    opened, problems = open_kept(kept, verifier)
    report.problems += problems
    report.problems += check_checkpoints(
        [("the bundle's checkpoint", checkpoint), *opened], all_proofs, given=proofs or {}
    )
    checked: list[tuple[EventResult, dict[str, Any], bytes]] = []
    for number, raw in enumerate(raw_lines[1:], 2):
        result = EventResult(line=number)
        report.events.append(result)
        try:
            event = json.loads(raw.decode())
            if not isinstance(event, dict):
                raise BadField("not a JSON object")
            link = _check_event(event, checkpoint, result)
            checked.append((result, event, link))
        except BadField as error:
            result.failure = str(error)
        except (ValueError, TypeError) as error:  # UnicodeDecodeError, JSONDecodeError
            result.failure = f"not a readable event line: {error}"
            named = EVENT_ID.search(raw)
            result.event_id = result.event_id or (named.group(1).decode() if named else None)
    _check_streams(checked, unreadable=not all(e.ok for e in report.events))
    _check_subject(header.get("subject"), report.events)
    if header.get("events") != len(report.events):
        report.problems.append(
            f"the header announces {header.get('events')} events, the bundle holds"
            f" {len(report.events)}"
        )
    report.problems += _check_expected(expect or {}, report.events)
    return report

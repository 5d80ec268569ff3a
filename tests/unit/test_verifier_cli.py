"""The offline verifier on bundles built here with no database: what it proves and its CLI.

A small log is built the way the server builds it (store/transparency.py `bundle`): events
hashed and chained per stream, one leaf per event in log order, a signed checkpoint over
the leaves, and an NDJSON bundle of a subject's events with their inclusion proofs.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from entente_verify.__main__ import main
from entente_verify.bundle import FORMAT, verify_bundle
from entente_verify.events import chain_hash, leaf_bytes, payload_hash
from entente_verify.merkle import (
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    node_hash,
)
from entente_verify.note import Checkpoint, Signer

SIGNER = Signer.generate("example.org/log")
KEY = SIGNER.verifier.text()
MOMENT = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
PAIR = "relationship-KZ-US"
DIALOGUE = "dialogue-5b0c3a52-7d4e-4f6b-9a51-2f1d0e6c8a10"


def _mth(leaves: Sequence[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


@dataclass
class Log:
    """Events in log order with their leaves, as the server stores them."""

    events: list[dict[str, Any]] = field(default_factory=list)
    leaves: list[bytes] = field(default_factory=list)
    heads: dict[str, tuple[int, str | None]] = field(default_factory=dict)

    def append(self, stream_id: str, n: int = 1) -> None:
        for _ in range(n):
            version, prev = self.heads.get(stream_id, (0, None))
            position = len(self.events) + 1
            event: dict[str, Any] = {
                "leaf_index": len(self.leaves),
                "position": position,
                "stream_id": stream_id,
                "version": version + 1,
                "event_id": str(uuid.uuid4()),
                "type": "Noted",
                "schema_version": 1,
                "data": {"n": position},
                "metadata": {},
                "valid_from": None,
                "valid_to": None,
                "recorded_at": f"2026-12-02T12:00:{position:02d}.000000Z",
                "prev_hash": prev,
            }
            link = chain_hash(
                bytes.fromhex(prev) if prev else None,
                stream_id,
                event["version"],
                event["recorded_at"],
                payload_hash(event),
            )
            event["hash"] = link.hex()
            self.events.append(event)
            self.leaves.append(
                leaf_hash(
                    leaf_bytes(position, stream_id, event["version"], event["recorded_at"], link)
                )
            )
            self.heads[stream_id] = (event["version"], link.hex())

    def note(self, size: int | None = None) -> str:
        size = len(self.leaves) if size is None else size
        root = _mth(self.leaves[:size])
        return SIGNER.sign(Checkpoint(SIGNER.name, size, root, MOMENT).text())

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        tree = self.leaves[:second]
        proof = [_mth(tree[a:b]).hex() for a, b in consistency_ranges(first, second)]
        return {"first": first, "second": second, "proof": proof}

    def bundle(
        self,
        subject: str,
        keep: Callable[[dict[str, Any]], bool] | None = None,
        known: Sequence[int] = (),
    ) -> bytes:
        """The bundle of the events `keep` picks (the subject's stream by default)."""
        size = len(self.leaves)
        note = self.note(size)
        chosen = [e for e in self.events if (keep or (lambda e: e["stream_id"] == subject))(e)]
        lines = [
            {
                "format": FORMAT,
                "subject": subject,
                "origin": SIGNER.name,
                "tree_size": size,
                "key": KEY,
                "checkpoint": note,
                "consistency": [self.consistency(k, size) for k in known],
                "events": len(chosen),
            }
        ]
        for event in chosen:
            proof = [
                _mth(self.leaves[a:b]).hex() for a, b in inclusion_ranges(event["leaf_index"], size)
            ]
            lines.append({**event, "proof": proof})
        return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def _log() -> Log:
    log = Log()
    for stream in (PAIR, DIALOGUE, "relationship-FR-US", PAIR, DIALOGUE, PAIR):
        log.append(stream)
    return log


def _header(content: bytes, **changes: Any) -> bytes:
    head, _, rest = content.partition(b"\n")
    return json.dumps({**json.loads(head), **changes}).encode() + b"\n" + rest


def _run(tmp_path: Path, content: bytes | None, *args: str) -> int:
    if content is None:
        return main(["--key", KEY, *args])
    path = tmp_path / "bundle.ndjson"
    path.write_bytes(content)
    return main(["--key", KEY, str(path), *args])


def test_a_whole_bundle_verifies_and_exits_0(tmp_path, capsys):
    content = _log().bundle(PAIR)
    assert verify_bundle(content, SIGNER.verifier).ok
    assert _run(tmp_path, content) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "VERIFIED: 3 events, 0 failed, 0 other problems"
    )


# -- a stream's newest events (docs/AUDIT.md, "What it does not prove") ------------------


def test_a_stream_cut_at_its_tail_verifies_unless_its_version_is_expected(tmp_path, capsys):
    """(b) The last line cut from the file and the header's count changed to match:
    nothing offline tells, until the auditor states the version they read elsewhere."""
    whole = _log().bundle(PAIR)
    lines = whole.rstrip(b"\n").split(b"\n")
    cut = _header(b"\n".join(lines[:-1]) + b"\n", events=len(lines) - 2)
    assert verify_bundle(cut, SIGNER.verifier).ok  # the documented limit

    assert _run(tmp_path, cut, "--expect", f"{PAIR}=3") == 1
    out = capsys.readouterr().out.splitlines()
    assert f"PROBLEM stream {PAIR}: the bundle ends at version 2, expected 3" in out
    assert out[-1].startswith("NOT VERIFIED")

    assert _run(tmp_path, whole, "--expect", f"{PAIR}=3") == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("VERIFIED: 3 events")


def test_an_event_deleted_after_its_checkpoint_is_named_only_by_expect(tmp_path, capsys):
    """(a) The newest event of a stream, already covered by a signed checkpoint, deleted
    from the database: the server's bundle leaves it out and still verifies offline."""
    log = _log()
    newest = max(e["position"] for e in log.events if e["stream_id"] == DIALOGUE)
    content = log.bundle(
        DIALOGUE, keep=lambda e: e["stream_id"] == DIALOGUE and e["position"] != newest
    )
    assert verify_bundle(content, SIGNER.verifier).ok
    assert _run(tmp_path, content, "--expect", f"{DIALOGUE}=2") == 1
    assert (
        f"PROBLEM stream {DIALOGUE}: the bundle ends at version 1, expected 2"
        in capsys.readouterr().out.splitlines()
    )
    report = verify_bundle(content, SIGNER.verifier, expect={DIALOGUE: 1})
    assert report.ok


def test_expect_names_a_stream_the_bundle_lacks_and_a_stream_longer_than_stated(tmp_path):
    content = _log().bundle("KZ-US", keep=lambda e: e["stream_id"] != "relationship-FR-US")
    report = verify_bundle(content, SIGNER.verifier, expect={PAIR: 2, "visit-x": 1, DIALOGUE: 2})
    assert report.problems == [
        f"stream {PAIR}: the bundle ends at version 3, expected 2",
        "stream visit-x: the bundle holds none of its events, expected it up to version 1",
    ]
    assert _run(tmp_path, content, "--expect", f"{PAIR}=3", "--expect", f"{DIALOGUE}=2") == 0


@pytest.mark.parametrize(
    "expect", [["--expect", "no-version"], ["--expect", f"{PAIR}=x"], ["--expect", "=3"]]
)
def test_expect_that_cannot_be_read_exits_2(tmp_path, capsys, expect):
    assert _run(tmp_path, _log().bundle(PAIR), *expect) == 2
    assert "--expect takes STREAM=VERSION" in capsys.readouterr().err


def test_expect_without_a_bundle_exits_2(tmp_path, capsys):
    kept = tmp_path / "kept.txt"
    kept.write_text(_log().note())
    assert _run(tmp_path, None, "--kept", str(kept), "--expect", f"{PAIR}=3") == 2
    assert "--expect needs a bundle" in capsys.readouterr().err


# -- edge cases of the command line ----------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"\n", b"  \n\n"])
def test_an_empty_bundle_is_named_and_exits_2(tmp_path, capsys, content):
    assert _run(tmp_path, content) == 2
    err = capsys.readouterr().err
    assert "is empty: it has no header line" in err and "list index" not in err
    report = verify_bundle(content, SIGNER.verifier)
    assert not report.ok
    assert report.problems == ["the bundle is empty: it has no header line"]


def test_a_proof_alone_checks_nothing_and_exits_2(tmp_path, capsys):
    log = _log()
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(log.consistency(3, 6)))
    assert _run(tmp_path, None, "--proof", str(proof)) == 2
    captured = capsys.readouterr()
    assert "nothing to check" in captured.err and "VERIFIED" not in captured.out
    assert _run(tmp_path, None) == 2


def test_a_proof_that_no_two_checkpoints_use_is_a_problem(tmp_path, capsys):
    log = _log()
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(log.consistency(3, 6)))
    old, new, other = tmp_path / "old.txt", tmp_path / "new.txt", tmp_path / "other.txt"
    old.write_text(log.note(3))
    new.write_text(log.note(6))
    other.write_text(log.note(4))

    assert _run(tmp_path, None, "--kept", str(old), "--kept", str(new), "--proof", str(proof)) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("VERIFIED")

    unused = (
        "PROBLEM the consistency proof from 3 to 6 was not used: no two checkpoints of those"
        " sizes were given"
    )
    assert _run(tmp_path, None, "--kept", str(new), "--proof", str(proof)) == 1
    assert unused in capsys.readouterr().out.splitlines()
    args = ("--kept", str(other), "--kept", str(new), "--proof", str(proof))
    assert _run(tmp_path, None, *args) == 1
    out = capsys.readouterr().out.splitlines()
    assert unused in out and "PROBLEM no consistency proof from 4 (kept #1) to 6 (kept #2)" in out

    # With a bundle (its checkpoint is of 6): used when a kept checkpoint of 3 is given.
    content = log.bundle(PAIR)
    assert _run(tmp_path, content, "--kept", str(old), "--proof", str(proof)) == 0
    capsys.readouterr()
    assert _run(tmp_path, content, "--proof", str(proof)) == 1
    assert unused in capsys.readouterr().out.splitlines()


def test_the_bundles_own_proofs_need_no_kept_checkpoint(tmp_path):
    """The header's proofs (from each known_size) are the server's offer, not the auditor's
    claim: unused, they are no problem."""
    assert verify_bundle(_log().bundle(PAIR, known=(3,)), SIGNER.verifier).ok


# -- the header's fields against the signed checkpoint and the key -------------------------------


def test_a_header_tree_size_or_origin_other_than_the_signed_ones_is_a_problem(tmp_path, capsys):
    content = _log().bundle(PAIR)
    report = verify_bundle(_header(content, tree_size=5), SIGNER.verifier)
    assert report.problems == ["the header's tree_size 5 is not the signed checkpoint's 6"]
    report = verify_bundle(_header(content, tree_size="6"), SIGNER.verifier)
    assert report.problems == ["the header's tree_size '6' is not the signed checkpoint's 6"]
    report = verify_bundle(_header(content, origin="other.org/log"), SIGNER.verifier)
    assert report.problems == [
        "the header's origin 'other.org/log' is not the signed checkpoint's 'example.org/log'"
    ]
    assert _run(tmp_path, _header(content, tree_size=5)) == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith("NOT VERIFIED")


def test_a_header_naming_another_key_is_a_problem():
    content = _log().bundle(PAIR)
    stranger = Signer.generate(SIGNER.name).verifier.text()
    for key in (stranger, "not a key", 7):
        report = verify_bundle(_header(content, key=key), SIGNER.verifier)
        assert len(report.problems) == 1, key
        assert report.problems[0].startswith("the header names the key")
        assert report.problems[0].endswith(f"not the key given ({KEY})")
    head = json.loads(content.partition(b"\n")[0])
    del head["key"], head["origin"], head["tree_size"]
    unnamed = json.dumps(head).encode() + b"\n" + content.partition(b"\n")[2]
    assert verify_bundle(unnamed, SIGNER.verifier).ok  # what is not stated is not compared


def test_a_stream_bundle_holds_only_its_stream():
    log = _log()
    content = log.bundle(DIALOGUE, keep=lambda e: e["stream_id"] in (DIALOGUE, PAIR))
    report = verify_bundle(content, SIGNER.verifier)
    failed = report.failed_events()
    assert {e.stream_id for e in failed} == {PAIR} and len(failed) == 3
    assert failed[0].failure == (
        f"it is of stream {PAIR}, not of {DIALOGUE}, the stream the bundle is of"
    )
    assert all(e.ok for e in report.events if e.stream_id == DIALOGUE)
    relabelled = _header(log.bundle(DIALOGUE), subject="dialogue-other")
    assert len(verify_bundle(relabelled, SIGNER.verifier).failed_events()) == 2


def test_a_pair_bundle_holds_no_other_pairs_stream():
    log = _log()
    content = log.bundle("KZ-US", keep=lambda e: True)
    report = verify_bundle(content, SIGNER.verifier)
    failed = report.failed_events()
    assert [e.stream_id for e in failed] == ["relationship-FR-US"]
    assert failed[0].failure == (
        f"it is of another pair's stream relationship-FR-US: the bundle of KZ-US holds only {PAIR}"
    )
    honest = log.bundle("KZ-US", keep=lambda e: e["stream_id"] != "relationship-FR-US")
    assert verify_bundle(honest, SIGNER.verifier).ok  # its own stream and its dialogues
    assert not verify_bundle(_header(honest, subject="FR-US"), SIGNER.verifier).ok
    assert not verify_bundle(_header(honest, subject=["KZ-US"]), SIGNER.verifier).ok


def test_a_subject_of_no_stream_kind_is_checked_only_when_it_names_a_stream_held():
    """The API writes only dialogue-, visit- and relationship- streams; a stream of no
    kind is a stream subject when the bundle holds it, and a subject that is neither a
    pair nor a stream the bundle holds (the server makes none) is not checked."""
    log = Log()
    for stream in ("s-one", "s-two", "s-one"):
        log.append(stream)
    mixed = log.bundle("s-one", keep=lambda e: True)
    assert [e.stream_id for e in verify_bundle(mixed, SIGNER.verifier).failed_events()] == ["s-two"]
    assert verify_bundle(log.bundle("test", keep=lambda e: True), SIGNER.verifier).ok

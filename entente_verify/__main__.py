"""`python -m entente_verify --key KEY [BUNDLE] [--kept FILE ...] [--proof FILE ...]
[--expect STREAM=VERSION ...]`.

Without a bundle, at least one checkpoint must be given with --kept. Exit status 0 when
everything verifies, 1 when anything fails (each failure is named), 2 when an input cannot
be read at all (an empty bundle among them) or there is nothing to check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from entente_verify.bundle import (
    Report,
    check_checkpoints,
    open_kept,
    split_notes,
    verify_bundle,
)
from entente_verify.note import NoteError, Verifier


def _verifier(text: str) -> Verifier:
    path = Path(text)
    return Verifier.parse(path.read_text() if path.exists() else text)


def _proofs(paths: list[str]) -> dict[tuple[int, int], list[bytes]]:
    proofs: dict[tuple[int, int], list[bytes]] = {}
    for path in paths:
        item = json.loads(Path(path).read_text())
        proofs[(int(item["first"]), int(item["second"]))] = [
            bytes.fromhex(h) for h in item["proof"]
        ]
    return proofs


def _expectations(items: list[str]) -> dict[str, int]:
    """--expect STREAM=VERSION, repeatable: the version each stream must end at."""
    expect: dict[str, int] = {}
    for item in items:
        stream, sep, version = item.rpartition("=")
        if not sep or not stream or not version.isdigit():
            raise ValueError(f"--expect takes STREAM=VERSION, not {item!r}")
        if expect.get(stream, int(version)) != int(version):
            raise ValueError(f"--expect gives stream {stream} two versions")
        expect[stream] = int(version)
    return expect


def main(argv: list[str] | None = None) -> int:
    """Verify, print one line per event and problem, return the exit status."""
    parser = argparse.ArgumentParser(prog="entente-verify", description=__doc__)
    parser.add_argument("bundle", nargs="?", help="an audit bundle (- for standard input)")
    parser.add_argument("--key", required=True, help="the log's verifier key, or a file holding it")
    parser.add_argument(
        "--kept", action="append", default=[], help="a file of checkpoints kept earlier"
    )
    parser.add_argument(
        "--proof",
        action="append",
        default=[],
        help="a consistency proof (GET /transparency/consistency); it must be used",
    )
    parser.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="STREAM=VERSION",
        help="the version a stream is at, read elsewhere (the ETag of GET /dialogues/{id},"
        " GET /streams/{id}/events): the bundle must hold it up to exactly that version",
    )
    args = parser.parse_args(argv)
    try:
        verifier = _verifier(args.key)
        kept = [note for path in args.kept for note in split_notes(Path(path).read_text())]
        proofs = _proofs(args.proof)
        expect = _expectations(args.expect)
        content = None
        if args.bundle:
            content = (
                sys.stdin.buffer.read() if args.bundle == "-" else Path(args.bundle).read_bytes()
            )
            if not content.strip():
                raise ValueError(f"the bundle {args.bundle} is empty: it has no header line")
    except (OSError, ValueError, KeyError, TypeError, NoteError) as error:
        print(f"entente-verify: cannot read the input: {error}", file=sys.stderr)
        return 2
    if content is None and not kept:
        print(
            "entente-verify: nothing to check: give a bundle, or at least one checkpoint"
            " with --kept (a --proof is checked only between two checkpoints)",
            file=sys.stderr,
        )
        return 2
    if content is None and expect:
        print("entente-verify: --expect needs a bundle", file=sys.stderr)
        return 2
    if content is not None:
        report = verify_bundle(content, verifier, kept, proofs, expect)
    else:
        opened, problems = open_kept(kept, verifier)
        report = Report(problems=problems + check_checkpoints(opened, proofs, given=proofs))
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

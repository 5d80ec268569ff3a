"""Checkpoints as C2SP signed notes: keys, signatures, and what the verifier makes of them."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from entente_verify.bundle import check_checkpoints, open_kept, split_notes
from entente_verify.merkle import leaf_hash, node_hash
from entente_verify.note import Checkpoint, NoteError, Signer, Verifier, open_checkpoint, open_note

SIGNER = Signer.generate("example.org/log")


def _note(size: int, root: bytes, signer: Signer = SIGNER) -> str:
    moment = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
    return signer.sign(Checkpoint(signer.name, size, root, moment).text())


def test_keys_are_spelled_like_go_note_keys_and_read_back():
    verifier = SIGNER.verifier
    text = verifier.text()
    name, key_hash, encoded = text.split("+", 2)
    assert name == "example.org/log" and len(key_hash) == 8
    expected = hashlib.sha256(b"example.org/log\n\x01" + verifier.public).digest()[:4]
    assert bytes.fromhex(key_hash) == expected
    assert Verifier.parse(text) == verifier
    assert Signer.parse(SIGNER.text()) == SIGNER
    assert SIGNER.text().startswith("PRIVATE+KEY+example.org/log+" + key_hash + "+")
    with pytest.raises(NoteError, match="id does not match"):
        Verifier.parse(f"{name}+00000000+{encoded}")


def test_a_checkpoint_note_has_the_c2sp_layout_and_verifies():
    root = node_hash(leaf_hash(b"a"), leaf_hash(b"b"))
    note = _note(2, root)
    body, signatures = note.split("\n\n")
    assert body.split("\n") == [
        "example.org/log",
        "2",
        Checkpoint("x", 2, root).text().split("\n")[2],
        "time 2026-12-02T12:00:00Z",
    ]
    assert signatures.startswith("\u2014 example.org/log ")
    checkpoint = open_checkpoint(note, SIGNER.verifier)
    assert (checkpoint.size, checkpoint.root) == (2, root)


def test_a_note_altered_or_signed_by_another_key_is_refused():
    note = _note(2, b"\x01" * 32)
    with pytest.raises(NoteError, match="does not verify"):
        open_note(note.replace("\n2\n", "\n3\n"), SIGNER.verifier)
    stranger = Signer.generate("example.org/log")
    with pytest.raises(NoteError, match="no signature"):
        open_note(_note(2, b"\x01" * 32, stranger), SIGNER.verifier)


def test_must_show_3_a_split_view_is_named():
    """Two checkpoints, both validly signed for the same size, with different roots."""
    notes = _note(5, b"\x01" * 32) + _note(5, b"\x02" * 32) + _note(5, b"\x01" * 32)
    opened, problems = open_kept(split_notes(notes), SIGNER.verifier)
    assert len(opened) == 3 and not problems
    found = check_checkpoints(opened, {})
    assert found == [
        "split view: kept #1 and kept #2 are both signed for tree size 5 with different roots",
        "split view: kept #2 and kept #3 are both signed for tree size 5 with different roots",
    ]
    assert check_checkpoints([opened[0], opened[2]], {}) == []

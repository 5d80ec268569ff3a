"""Signed notes and checkpoints (C2SP signed-note, tlog-checkpoint) with Ed25519 keys.

A checkpoint's text is three lines and optional extension lines:

    <origin>
    <tree size, decimal>
    <root hash, base64>
    time <issued at, RFC 3339 UTC>

A signed note is that text, an empty line, and one line per signature,
"— <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>", the key id being
the first four bytes of SHA-256(key name || 0x0A || 0x01 || public key). Keys are spelled
as the Go note package spells them, so its tools read ours:
verifier `<name>+<key id hex>+<base64(0x01 || public key)>`, signer
`PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "
TIME_EXTENSION = "time "


class NoteError(ValueError):
    """A key, note or checkpoint that is malformed or whose signature does not verify."""


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"not base64: {text[:40]!r}") from None


def _valid_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"a key name has no spaces or '+': {name!r}")
    return name


def key_id(name: str, public: bytes) -> bytes:
    """The four bytes that tell a signature's key apart from others of the same name."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A public key and its name (the log's origin)."""

    name: str
    public: bytes

    @property
    def key_id(self) -> bytes:
        """See `key_id`."""
        return key_id(self.name, self.public)

    def text(self) -> str:
        """The verifier key string auditors keep."""
        encoded = base64.b64encode(ED25519 + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @staticmethod
    def parse(text: str) -> Verifier:
        """Read a verifier key string, checking its key id."""
        parts = text.strip().split("+", 2)  # base64 may hold '+'
        if len(parts) != 3 or len(parts[1]) != 8:
            raise NoteError("a verifier key is <name>+<8 hex digits>+<base64 key>")
        raw = _b64decode(parts[2])
        if len(raw) != 33 or raw[:1] != ED25519:
            raise NoteError("not an Ed25519 verifier key")
        verifier = Verifier(_valid_name(parts[0]), raw[1:])
        if verifier.key_id.hex() != parts[1].lower():
            raise NoteError("the verifier key's id does not match its key")
        return verifier

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether `signature` is this key's over `message`."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private key and its name; it lives in a file, never in the database."""

    name: str
    seed: bytes

    @staticmethod
    def generate(name: str) -> Signer:
        """A fresh key named after the log's origin."""
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return Signer(_valid_name(name), seed)

    @property
    def verifier(self) -> Verifier:
        """The matching public key."""
        public = Ed25519PrivateKey.from_private_bytes(self.seed).public_key()
        return Verifier(self.name, public.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def text(self) -> str:
        """The signer key string (keep it secret)."""
        encoded = base64.b64encode(ED25519 + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{encoded}"

    @staticmethod
    def parse(text: str) -> Signer:
        """Read a signer key string."""
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a signer key is PRIVATE+KEY+<name>+<key id>+<base64 key>")
        raw = _b64decode(parts[4])
        if len(raw) != 33 or raw[:1] != ED25519:
            raise NoteError("not an Ed25519 signer key")
        signer = Signer(_valid_name(parts[2]), raw[1:])
        if signer.verifier.key_id.hex() != parts[3].lower():
            raise NoteError("the signer key's id does not match its key")
        return signer

    def sign(self, text: str) -> str:
        """`text` (ending in a newline) as a note signed by this key."""
        if not text.endswith("\n") or "\n\n" in text:
            raise NoteError("a note's text ends with one newline and has no empty line")
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        signature = self.verifier.key_id + private.sign(text.encode())
        return f"{text}\n{SIGNATURE_PREFIX}{self.name} {base64.b64encode(signature).decode()}\n"


def open_note(note: str, verifier: Verifier) -> str:
    """The text of a note signed by `verifier`; NoteError if it is not."""
    text, sep, signatures = note.rpartition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise NoteError("a signed note is text, an empty line and signature lines")
    text += "\n"
    for line in signatures[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"not a signature line: {line[:60]!r}")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        raw = _b64decode(encoded)
        if name != verifier.name or raw[:4] != verifier.key_id:
            continue
        if len(raw) == 68 and verifier.verify(text.encode(), raw[4:]):
            return text
        raise NoteError(f"the signature by {name} does not verify")
    raise NoteError(f"the note carries no signature by {verifier.name}")


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the log named `origin` had `size` leaves with root `root`."""

    origin: str
    size: int
    root: bytes
    issued_at: dt.datetime | None = None

    def text(self) -> str:
        """The checkpoint body (what is signed)."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        if self.issued_at is not None:
            moment = self.issued_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            lines.append(TIME_EXTENSION + moment)
        return "\n".join(lines) + "\n"

    @staticmethod
    def parse_text(text: str) -> Checkpoint:
        """Read a checkpoint body."""
        lines = text.rstrip("\n").split("\n")
        if len(lines) < 3 or not lines[1].isdigit() or str(int(lines[1])) != lines[1]:
            raise NoteError("a checkpoint is origin, tree size and root hash lines")
        root = _b64decode(lines[2])
        if len(root) != 32:
            raise NoteError("a checkpoint's root hash is 32 bytes")
        issued: dt.datetime | None = None
        for extra in lines[3:]:
            if extra.startswith(TIME_EXTENSION):
                try:
                    issued = dt.datetime.strptime(
                        extra[len(TIME_EXTENSION) :], "%Y-%m-%dT%H:%M:%SZ"
                    ).replace(tzinfo=dt.UTC)
                except ValueError:
                    raise NoteError(f"not a time: {extra!r}") from None
        return Checkpoint(lines[0], int(lines[1]), root, issued)


def open_checkpoint(note: str, verifier: Verifier) -> Checkpoint:
    """A checkpoint signed by `verifier` for its own origin; NoteError otherwise."""
    checkpoint = Checkpoint.parse_text(open_note(note, verifier))
    if checkpoint.origin != verifier.name:
        raise NoteError(f"checkpoint of {checkpoint.origin!r}, not of {verifier.name!r}")
    return checkpoint

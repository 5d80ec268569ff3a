"""An event's hashes as the offline verifier recomputes them (standard library only).

The same definitions as the server's store/hashing.py (docs/ARCHITECTURE.md), spelled
over the JSON an audit bundle carries, plus the tree's leaf:

leaf = b"entente-event-v1\\n" || utf8(f"{position}\\n{stream_id}\\n{version}\\n{recorded_at}\\n")
       || hash        (the event's 32-byte chain link)

The chain link already binds the payload hash, the previous link, the stream id, the
version and the recorded time; the leaf repeats the event's identity in clear and adds its
log position, so a leaf names the event it stands for.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

LEAF_DOMAIN = b"entente-event-v1\n"
PAYLOAD_FIELDS = (
    "data",
    "event_id",
    "metadata",
    "schema_version",
    "type",
    "valid_from",
    "valid_to",
)


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: one spelling per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def payload_hash(event: dict[str, Any]) -> bytes:
    """SHA-256 of the canonical JSON of what the writer supplied (the payload fields)."""
    return hashlib.sha256(canonical_json({k: event[k] for k in PAYLOAD_FIELDS})).digest()


def chain_hash(
    prev_hash: bytes | None, stream_id: str, version: int, recorded_at: str, payload: bytes
) -> bytes:
    """The link: SHA-256(prev_hash || "stream\\nversion\\nrecorded_at\\n" || payload hash)."""
    line = f"{stream_id}\n{version}\n{recorded_at}\n".encode()
    return hashlib.sha256((prev_hash or b"") + line + payload).digest()


def leaf_bytes(position: int, stream_id: str, version: int, recorded_at: str, link: bytes) -> bytes:
    """The tree leaf standing for one event (see the module docstring)."""
    return LEAF_DOMAIN + f"{position}\n{stream_id}\n{version}\n{recorded_at}\n".encode() + link

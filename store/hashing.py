"""The canonical form of an event and its hash chain (documented in docs/ARCHITECTURE.md).

payload_hash = sha256(canonical JSON of {data, event_id, metadata, schema_version, type,
               valid_from, valid_to}) with sorted keys, no whitespace, UTF-8.
hash         = sha256(prev_hash || utf8(f"{stream_id}\\n{version}\\n{recorded_at}\\n")
               || payload_hash), recorded_at as YYYY-MM-DDTHH:MM:SS.ffffffZ in UTC and
               prev_hash empty for a stream's first event.
The database computes `hash` when appending; verification recomputes both from the rows.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from entente_verify import events


def canonical_json(value: Any) -> bytes:
    """One spelling per value, so the same content always hashes the same."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def payload_hash(
    *,
    event_id: uuid.UUID,
    type: str,
    schema_version: int,
    data: dict[str, Any],
    metadata: dict[str, Any],
    valid_from: date | None,
    valid_to: date | None,
) -> bytes:
    """Hash of everything the writer supplied about one event."""
    return hashlib.sha256(
        canonical_json(
            {
                "data": data,
                "event_id": str(event_id),
                "metadata": metadata,
                "schema_version": schema_version,
                "type": type,
                "valid_from": valid_from.isoformat() if valid_from else None,
                "valid_to": valid_to.isoformat() if valid_to else None,
            }
        )
    ).digest()


def payload_hash_of_canonical(
    *,
    data_json: str,
    event_id: uuid.UUID,
    type: str,
    schema_version: int,
    metadata_json: str,
    valid_from: date | None,
    valid_to: date | None,
) -> bytes:
    """payload_hash for the append path, from data and metadata already in canonical JSON.

    Byte for byte the canonical JSON `payload_hash` builds (the keys in sorted order, each
    value spelled by `canonical_json`), so the writer encodes `data` once and sends the same
    text as the jsonb column; verification keeps using `payload_hash` on the stored rows.
    """
    text = (
        f'{{"data":{data_json},"event_id":"{event_id}","metadata":{metadata_json},'
        f'"schema_version":{_compact_int(schema_version)},"type":{_compact(type)},'
        f'"valid_from":{_compact_date(valid_from)},"valid_to":{_compact_date(valid_to)}}}'
    )
    return hashlib.sha256(text.encode()).digest()


def _compact_int(value: int) -> str:
    """canonical_json of an int without the encoder's call (a bool still goes through it)."""
    return str(value) if type(value) is int else _compact(value)


def _compact_date(value: date | None) -> str:
    """canonical_json of a date's ISO text: digits and dashes need no escaping."""
    return f'"{value.isoformat()}"' if value else "null"


def canonical_text(value: Any) -> str:
    """canonical_json as str (what the append path sends as jsonb text)."""
    if _c_canonical is None:
        return _compact(value)
    return "".join(_c_canonical(value, 0))


_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_compact = _canonical.encode

_make_c_encoder = getattr(json.encoder, "c_make_encoder", None)  # absent from the stubs
_c_canonical: Callable[[Any, int], Sequence[str]] | None = (
    _make_c_encoder(
        None,  # no circular-reference markers: event data is a tree of JSON values
        _canonical.default,
        json.encoder.encode_basestring,
        None,
        ":",
        ",",
        True,
        False,
        True,
    )
    if _make_c_encoder is not None
    else None
)
"""The C encoder `_compact` builds anew on every call (its options are those of
`_canonical`), made once: two to four microseconds less for each value encoded, twice
per appended event. tests/unit/test_payload_hash.py holds it equal to `canonical_json`."""


def canonical_time(moment: datetime) -> str:
    """recorded_at as the chain spells it: microseconds, UTC, a trailing Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chain_hash(
    prev_hash: bytes | None, stream_id: str, version: int, recorded_at: datetime, payload: bytes
) -> bytes:
    """Link one event to its predecessor in the stream (the offline verifier's definition)."""
    return events.chain_hash(prev_hash, stream_id, version, canonical_time(recorded_at), payload)

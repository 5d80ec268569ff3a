"""Answering "what does the register say about X" by replaying its stream."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Response

from api.parameters import moment
from api.problems import problem
from service.handling import load
from service.replaying import FoldedStates
from store.event_store import EventStore
from store.json_ready import to_builtins


async def state_response(
    store: EventStore,
    folded: FoldedStates,
    stream_id: str,
    *,
    as_of: dt.datetime | None,
    valid_at: dt.date | None,
    absent_ok: bool = False,
) -> Response[dict[str, Any]]:
    """The folded state with its version as ETag; 404 when nothing was recorded by then,
    unless `absent_ok` (a relationship with history elsewhere answers version 0).

    `store` is the read database's (a replica may serve it: stale, never wrong) and
    `folded` the process's cache of folded states (api/dependencies.py provides both)."""
    as_of = moment(as_of, "as_of")
    loaded = await load(store, stream_id, recorded_until=as_of, valid_at=valid_at, folded=folded)
    if loaded.version == 0 and not absent_ok:
        raise problem(
            404,
            f"nothing is recorded for {stream_id}"
            + (f" as of {as_of.isoformat()}" if as_of else ""),
        )
    body = {
        "stream_id": stream_id,
        "version": loaded.version,
        "as_of": as_of.isoformat() if as_of else None,
        "valid_at": valid_at.isoformat() if valid_at else None,
        "state": to_builtins(loaded.state),
    }
    return Response(body, headers={"ETag": f'"{loaded.version}"'})

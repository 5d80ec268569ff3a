"""Claiming the ids of new sessions, outcomes, indicators and milestones.

A stream's decider keeps these ids unique within its stream only; routes such as
GET /sessions/{id} and GET /outcomes/{id} address them by id alone. (Progress notes are
addressed under their outcome and need no claim.) So before a command that brings a
new entity into a stream is appended, its id is claimed for that stream in
`event_store.entity_ids` (migration 0012): the first stream to claim an id keeps it, and
a command of another stream bringing in the same id is refused (409). The claim commits
on its own, before the append: if the append then fails, the id stays reserved for the
stream that claimed it, which may still use it; no other stream can. One round trip, and
only for commands that bring in an id their stream did not know.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.errors import IdInUse

CLAIM_SQL = """SELECT kind, entity_id::text, stream_id
FROM event_store.claim_entity_ids($1, $2::text[], $3::text[]::uuid[])"""
"""The ids travel as text: a uuid[] parameter would make asyncpg introspect the type, and
its introspection leaves a session-level setting (jit) on the pooled connection."""


async def claim_entity_ids(pool: Any, stream_id: str, ids: Iterable[tuple[str, str]]) -> None:
    """Claim `ids` ((kind, id) pairs) for `stream_id`; IdInUse if another stream has one."""
    wanted = sorted(set(ids))
    if not wanted:
        return
    taken = await pool.fetch(
        CLAIM_SQL, stream_id, [kind for kind, _ in wanted], [ident for _, ident in wanted]
    )
    if taken:
        first = taken[0]
        raise IdInUse(first["kind"], first["entity_id"], first["stream_id"])

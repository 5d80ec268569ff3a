"""The transparency log for auditors: checkpoints, proofs, the key, and audit bundles.

Everything here answers from stored subtrees and signed checkpoints (store/transparency.py);
an auditor checks it with entente_verify and the public key alone (docs/AUDIT.md). It is
all read from the read database (a streaming replica when one is configured): a replica
may know fewer checkpoints than the primary, never different ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from litestar import Response, get
from litestar.params import Parameter

from api.parameters import MAX_COUNT, MAX_KNOWN_SIZES, text
from api.problems import problem, problem_responses
from api.relationships import parse_pair
from reporting.bundles import relationship_events
from store.database import Pool
from store.event_store import EventStore
from store.records import RecordedEvent
from store.transparency import (
    CheckpointView,
    ConsistencyProof,
    InclusionProof,
    TreeUnavailable,
    bundle,
    checkpoint_at_least,
    checkpoint_covering,
    consistency_proof,
    inclusion_proof,
    latest_checkpoint,
    signing_keys,
)

TAG = "transparency"
AUDIT = {"permission": "audit"}
BUNDLE_TYPE = "application/x-ndjson"


class LogKey(msgspec.Struct, frozen=True, kw_only=True):
    """The verifier key checkpoints are signed with now, and every earlier one."""

    origin: str
    key_id: str
    key: str
    all_keys: list[str]


Position = Annotated[int, Parameter(ge=0, le=MAX_COUNT)]
TreeSize = Annotated[int, Parameter(ge=1, le=MAX_COUNT)]
"""A tree size: a tree of no leaves has no checkpoint and no proof."""
KnownSizes = Annotated[
    list[int] | None,
    Parameter(description=f"tree sizes of checkpoints you kept (at most {MAX_KNOWN_SIZES})"),
]
"""Each one checked as a TreeSize; api/contract.py states the items' bounds."""


def _count(value: int | None, name: str, *, minimum: int, maximum: int) -> int | None:
    if value is not None and not minimum <= value <= maximum:
        raise problem(400, f"{name} is between {minimum} and {maximum}")
    return value


def _missing(error: TreeUnavailable) -> Exception:
    return problem(404, str(error))


async def _size_or_latest(connection: Any, tree_size: int | None) -> int:
    if tree_size is not None:
        return tree_size
    latest = await latest_checkpoint(connection)
    if latest is None:
        raise problem(404, "no checkpoint has been signed yet")
    return latest.tree_size


@get(
    "/transparency/key",
    summary="The public key checkpoints are signed with (C2SP note verifier key)",
    tags=[TAG],
    opt=AUDIT,
    responses=problem_responses(400, 401, 403, 404),
)
async def log_key(read_pool: Pool) -> LogKey:
    """Compare it with the key you were given out of band: the database could lie."""
    async with read_pool.acquire() as connection:
        keys = await signing_keys(connection)
        latest = await latest_checkpoint(connection)
    if latest is None or not keys:
        raise problem(404, "no checkpoint has been signed yet")
    name, key_id, _ = latest.key.split("+", 2)
    return LogKey(origin=name, key_id=key_id, key=latest.key, all_keys=keys)


@get(
    "/transparency/checkpoint",
    summary="The latest signed checkpoint, or the first at or after a size or position",
    tags=[TAG],
    opt=AUDIT,
    responses=problem_responses(400, 401, 403, 404),
)
async def checkpoint(
    read_pool: Pool, at_least: TreeSize | None = None, position: Position | None = None
) -> CheckpointView:
    """`at_least`: a tree of at least that many leaves; `position`: one that holds the
    event at that log position. `note` is the signed note to keep."""
    async with read_pool.acquire() as connection:
        if position is not None:
            found = await checkpoint_covering(connection, position)
        elif at_least is not None:
            found = await checkpoint_at_least(connection, at_least)
        else:
            found = await latest_checkpoint(connection)
    if found is None:
        raise problem(404, "no signed checkpoint covers that yet")
    return found


@get(
    "/transparency/inclusion",
    summary="Inclusion proof of an event (by id or position) in the tree of a given size",
    tags=[TAG],
    opt=AUDIT,
    responses=problem_responses(400, 401, 403, 404),
)
async def inclusion(
    read_pool: Pool,
    event_id: uuid.UUID | None = None,
    position: Position | None = None,
    tree_size: TreeSize | None = None,
) -> InclusionProof:
    """RFC 9162 audit path; `tree_size` defaults to the latest checkpoint's."""
    if (event_id is None) == (position is None):
        raise problem(400, "name the event by event_id or by position (one of them)")
    async with read_pool.acquire() as connection:
        size = await _size_or_latest(connection, tree_size)
        try:
            return await inclusion_proof(
                connection, tree_size_=size, position=position, event_id=event_id
            )
        except TreeUnavailable as error:
            raise _missing(error) from None


@get(
    "/transparency/consistency",
    summary="Consistency proof: the tree of `second` extends the tree of `first`",
    tags=[TAG],
    opt=AUDIT,
    responses=problem_responses(400, 401, 403, 404),
)
async def consistency(
    read_pool: Pool, first: TreeSize, second: TreeSize | None = None
) -> ConsistencyProof:
    """RFC 9162 consistency proof; `second` defaults to the latest checkpoint's size."""
    async with read_pool.acquire() as connection:
        size = await _size_or_latest(connection, second)
        if first > size:
            raise problem(400, f"first ({first}) is larger than second ({size})")
        try:
            return await consistency_proof(connection, first, size)
        except TreeUnavailable as error:
            raise _missing(error) from None


async def _bundle_response(
    pool: Pool,
    subject: str,
    events: Callable[[], Awaitable[list[RecordedEvent]]],
    known_size: list[int] | None,
) -> Response[bytes]:
    sizes = known_size or []
    if len(sizes) > MAX_KNOWN_SIZES:
        raise problem(400, f"at most {MAX_KNOWN_SIZES} known_size values")
    for size in sizes:
        _count(size, "known_size", minimum=1, maximum=MAX_COUNT)
    try:
        content = await bundle(pool, subject, events, sizes)
    except TreeUnavailable as error:
        raise _missing(error) from None
    name = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in subject)[:100]
    return Response(
        content,
        media_type=BUNDLE_TYPE,
        headers={"Content-Disposition": f'attachment; filename="bundle-{name}.ndjson"'},
    )


@get(
    "/relationships/{pair:str}/bundle",
    summary="Audit bundle: the relationship's events, each with its inclusion proof",
    tags=[TAG, "relationships"],
    opt=AUDIT,
    media_type=BUNDLE_TYPE,
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def relationship_bundle(
    read_pool: Pool, pair: str, known_size: KnownSizes = None
) -> Response[bytes]:
    """NDJSON: a header with the signed checkpoint (and consistency proofs from each
    `known_size`), then every event of the pair's streams in that tree. Check it offline
    with `python -m entente_verify`."""
    a, b = parse_pair(pair)

    async def events() -> list[RecordedEvent]:
        return await relationship_events(read_pool, a, b)

    return await _bundle_response(read_pool, f"{a}-{b}", events, known_size)


@get(
    "/streams/{stream_id:str}/bundle",
    summary="Audit bundle of one stream",
    tags=[TAG],
    opt=AUDIT,
    media_type=BUNDLE_TYPE,
    responses=problem_responses(400, 401, 403, 404),
)
async def stream_bundle(
    read_pool: Pool, read_store: EventStore, stream_id: str, known_size: KnownSizes = None
) -> Response[bytes]:
    """Like the relationship bundle, for one stream."""
    text(stream_id, "stream_id")

    async def events() -> list[RecordedEvent]:
        return await read_store.read_stream(stream_id)

    return await _bundle_response(read_pool, stream_id, events, known_size)


routes = [log_key, checkpoint, inclusion, consistency, relationship_bundle, stream_bundle]

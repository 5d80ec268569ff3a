"""Webhook subscriptions over HTTP: admins make and change them, owners read them.

An admin subscribes a target URL for an owner (an API key's name, by default the admin's
own): the owner's key may then list the subscription and its delivery log, whatever its
role, and nothing else about it. The signing secret is in the answer to POST only.
Everything a subscription names is checked before anything is stored: the target against
the target policy (delivery/targets.py), event types against the domain's, parties
against the register's codes, and a start position against the head of the log.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, delete, get, patch, post
from litestar.params import Parameter

from api.auth import caller
from api.parameters import MAX_COUNT, whole
from api.problems import problem, problem_responses
from api.read_models import party_filter
from delivery.targets import TargetPolicy, TargetRefused, check_target
from domain.events import EVENT_TYPES
from domain.streams import KINDS
from store.api_keys import is_live_key
from store.database import Pool
from store.event_store import EventStore
from store.records import START, Cursor
from store.webhook_subscriptions import (
    DeliveryAttempt,
    Filters,
    WebhookSubscription,
    change_subscription,
    create_subscription,
    delete_subscription,
    get_subscription,
    list_attempts,
    list_subscriptions,
)

TAG = "webhooks"
ADMIN = {"permission": "admin"}
OWNER = {"permission": "subscribe"}
STREAM_KINDS = {kind.name: kind.prefix for kind in KINDS}
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=whole(r"^[^\x00-\x1f]+$"))]
Position = Annotated[
    str,
    msgspec.Meta(
        max_length=200,
        description="`now`, `beginning`, or a cursor from GET /events or an event's"
        " `position`: delivery starts after it",
    ),
]


class FiltersIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which events to deliver; every filter given must match (null: no filter).
    `stream_kind` (dialogue, visit, relationship) is shorthand for its stream prefix."""

    stream_kind: Literal["dialogue", "visit", "relationship"] | None = None
    stream_prefix: Text | None = None
    event_types: Annotated[list[Text], msgspec.Meta(min_length=1, max_length=100)] | None = None
    parties: (
        Annotated[
            list[Annotated[str, msgspec.Meta(pattern=whole(r"^[A-Za-z]{2}$"))]],
            msgspec.Meta(min_length=1, max_length=50),
        ]
        | None
    ) = None


class NewSubscription(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A target URL to push to, what to push, from where, and for whom."""

    target_url: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    filters: FiltersIn = FiltersIn()
    start: Position = "now"
    owner: Annotated[str, msgspec.Meta(pattern=whole(r"^[A-Za-z0-9_.@-]{1,64}$"))] | None = None


class SubscriptionChange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Pause or resume (a resume forgets past failures), or replace the filters."""

    state: Literal["active", "paused"] | None = None
    filters: FiltersIn | None = None


class Replay(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where to deliver from again: the events after `position`."""

    position: Position


class SubscriptionView(msgspec.Struct, frozen=True, kw_only=True):
    """A subscription as served: its cursor as a token, never its secret."""

    subscription_id: uuid.UUID
    owner: str
    target_url: str
    filters: Filters
    cursor: str
    state: str
    failures: int
    last_error: str | None
    next_attempt_at: dt.datetime | None
    last_delivered_at: dt.datetime | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class CreatedSubscription(msgspec.Struct, frozen=True, kw_only=True):
    """The subscription and, this once, the secret its webhooks are signed with."""

    subscription: SubscriptionView
    secret: str


def view(subscription: WebhookSubscription) -> SubscriptionView:
    """The served shape of a stored subscription."""
    fields = msgspec.to_builtins(subscription)
    fields["cursor"] = subscription.cursor.encode()
    return msgspec.convert(fields, SubscriptionView)


def filters_of(given: FiltersIn) -> Filters:
    """The stored filters, or a 422 naming what the register does not know."""
    prefix = given.stream_prefix
    if given.stream_kind is not None:
        kind_prefix = STREAM_KINDS[given.stream_kind]
        if prefix is not None and not prefix.startswith(kind_prefix):
            raise problem(
                422,
                f"stream_prefix {prefix!r} is not within stream_kind {given.stream_kind!r}",
                kind="invalid-value",
            )
        prefix = prefix or kind_prefix
    unknown = sorted(set(given.event_types or ()) - set(EVENT_TYPES))
    if unknown:
        raise problem(
            422,
            f"unknown event type {unknown[0]!r}; known types: {', '.join(sorted(EVENT_TYPES))}",
            kind="invalid-value",
        )
    parties = sorted({str(party_filter(p)) for p in given.parties}) if given.parties else None
    return Filters(
        stream_prefix=prefix,
        event_types=sorted(set(given.event_types)) if given.event_types else None,
        parties=parties,
    )


async def position_of(store: EventStore, given: str) -> Cursor:
    """A start or replay position: 400 if it is no cursor, 422 beyond the head of the log
    (the primary's: a replica's head may be behind a position a client already saw)."""
    head = await store.horizon()
    if given == "now":
        return Cursor(head.transaction_id, 0)
    if given == "beginning":
        return START
    position = Cursor.decode(given)
    if position > head:
        raise problem(
            422,
            "that position is beyond the head of the log: use a cursor GET /events returned",
            kind="invalid-value",
        )
    return position


async def _target(policy: TargetPolicy, url: str) -> str:
    try:
        await check_target(url, policy)
    except TargetRefused as refused:
        raise problem(422, str(refused), kind="invalid-value") from None
    return url


def _owner_scope(request: Request[Any, Any, Any]) -> str | None:
    """Whose subscriptions this caller reads: its own, or everyone's (None) for an admin."""
    key = caller(request)
    return None if "admin" in key.roles else key.name


async def _found(
    request: Request[Any, Any, Any], pool: Pool, subscription_id: uuid.UUID
) -> WebhookSubscription:
    found = await get_subscription(pool, subscription_id, _owner_scope(request))
    if found is None:
        raise problem(404, f"no subscription {subscription_id} of yours")
    return found


@post(
    "/subscriptions",
    summary="Subscribe a webhook target to the register's events",
    tags=[TAG],
    opt=ADMIN,
    status_code=201,
    responses=problem_responses(400, 401, 403, 413, 422),
)
async def subscribe(
    request: Request[Any, Any, Any],
    pool: Pool,
    store: EventStore,
    webhook_policy: TargetPolicy,
    data: NewSubscription,
) -> CreatedSubscription:
    """Delivery starts after `start`; the signing secret is shown only now."""
    target = await _target(webhook_policy, data.target_url)
    filters = filters_of(data.filters)
    start = await position_of(store, data.start)
    admin = caller(request).name
    if data.owner is not None and not await is_live_key(pool, data.owner):
        # a key made later under that name would read the subscription and its log
        raise problem(422, f"owner {data.owner!r} names no live API key", kind="invalid-value")
    made, secret = await create_subscription(
        pool,
        owner=data.owner or admin,
        target_url=target,
        filters=filters,
        start=start,
        created_by=admin,
    )
    return CreatedSubscription(subscription=view(made), secret=secret)


@get(
    "/subscriptions",
    summary="List webhook subscriptions (never their secrets)",
    tags=[TAG],
    opt=OWNER,
    responses=problem_responses(401, 403),
)
async def subscriptions(request: Request[Any, Any, Any], pool: Pool) -> list[SubscriptionView]:
    """The caller's own subscriptions (an admin's: every one)."""
    found = await list_subscriptions(pool, _owner_scope(request))
    return [view(s) for s in found]


@get(
    "/subscriptions/{subscription_id:uuid}",
    summary="One webhook subscription, with its cursor and state",
    tags=[TAG],
    opt=OWNER,
    responses=problem_responses(400, 401, 403, 404),
)
async def subscription(
    request: Request[Any, Any, Any], pool: Pool, subscription_id: uuid.UUID
) -> SubscriptionView:
    """`state` is active, paused or failing (paused by the worker after repeated failures:
    resume it with PATCH once the target is fixed)."""
    return view(await _found(request, pool, subscription_id))


@patch(
    "/subscriptions/{subscription_id:uuid}",
    summary="Pause, resume or re-filter a webhook subscription",
    tags=[TAG],
    opt=ADMIN,
    responses=problem_responses(400, 401, 403, 404, 413, 422),
)
async def change(
    pool: Pool, subscription_id: uuid.UUID, data: SubscriptionChange
) -> SubscriptionView:
    """A resume forgets past failures and retries at once; new filters apply from the
    cursor on."""
    filters = filters_of(data.filters) if data.filters is not None else None
    changed = await change_subscription(pool, subscription_id, state=data.state, filters=filters)
    if changed is None:
        raise problem(404, f"no subscription {subscription_id}")
    return view(changed)


@delete(
    "/subscriptions/{subscription_id:uuid}",
    summary="Delete a webhook subscription and its delivery log",
    tags=[TAG],
    opt=ADMIN,
    status_code=204,
    responses=problem_responses(400, 401, 403, 404),
)
async def unsubscribe(pool: Pool, subscription_id: uuid.UUID) -> None:
    """Deliveries stop within a second."""
    if not await delete_subscription(pool, subscription_id):
        raise problem(404, f"no subscription {subscription_id}")


@post(
    "/subscriptions/{subscription_id:uuid}/replay",
    summary="Deliver again from a position",
    tags=[TAG],
    opt=ADMIN,
    status_code=200,
    responses=problem_responses(400, 401, 403, 404, 413, 422),
)
async def replay(
    request: Request[Any, Any, Any],
    pool: Pool,
    store: EventStore,
    subscription_id: uuid.UUID,
    data: Replay,
) -> SubscriptionView:
    """Moves the cursor to `position` (`beginning`, or any cursor up to the head); the
    events after it are delivered again, in order, with their original ids."""
    await _found(request, pool, subscription_id)
    position = await position_of(store, data.position)
    changed = await change_subscription(pool, subscription_id, cursor=position)
    if changed is None:
        raise problem(404, f"no subscription {subscription_id}")
    return view(changed)


@get(
    "/subscriptions/{subscription_id:uuid}/deliveries",
    summary="A webhook subscription's delivery attempts, latest first",
    tags=[TAG],
    opt=OWNER,
    responses=problem_responses(400, 401, 403, 404),
)
async def deliveries(
    request: Request[Any, Any, Any],
    pool: Pool,
    subscription_id: uuid.UUID,
    before: Annotated[
        int | None, Parameter(ge=1, le=MAX_COUNT, description="attempts before this id")
    ] = None,
    limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
) -> list[DeliveryAttempt]:
    """Each POST: the webhook id, the positions it carried, the status (null when no
    answer came), the latency and the error. Pass the last `attempt_id` as `before` for
    older ones; attempts are kept 7 days."""
    await _found(request, pool, subscription_id)
    return await list_attempts(pool, subscription_id, before=before, limit=limit)


routes = [subscribe, subscriptions, subscription, change, unsubscribe, replay, deliveries]

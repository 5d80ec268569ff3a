"""Delivering each subscription's matching events, in log order, to its target.

One task per active subscription, so a slow or dead target only ever delays itself: each
task has its own HTTP client and time-out, and waits out its own back-off. A task reads
the next page after the subscription's cursor in the store's safe global order (the order
of GET /events), keeps the events its filters match, POSTs them as one signed CloudEvents
batch and moves the cursor only after a 2xx, so delivery is at least once and in order;
a batch that failed is sent again, from the same cursor, after an exponential back-off
with jitter. After `max_failures` consecutive failures the subscription turns `failing`
and is left alone until an admin resumes it: never dropped silently.

Several workers share the subscriptions: a worker delivers to a subscription while it
holds the subscription's session advisory lock (class LOCK_CLASS) on its lock
connection. A worker killed mid-delivery loses that connection and with it the lock, and
the next worker starts again from the stored cursor: the batch in flight is sent again.

Idle tasks wake on the event store's NOTIFY (store/subscription.py) with a bounded poll,
and look at their subscription at least every `idle_wait` seconds, which is as long as a
pause, a replay or a change of filters takes to reach a running task.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import asyncpg
import httpx
import msgspec

from delivery.envelope import batch_body, signed_headers, source, webhook_id
from delivery.targets import TargetPolicy, TargetRefused, approve_target, post_pinned
from domain.codec import decode_event, domain_events
from domain.streams import kind_of_stream
from store.database import asyncpg_dsn, create_pool
from store.event_store import EventStore
from store.records import RecordedEvent
from store.sealing import SecretUnavailable, key_from_env
from store.settings import positive_number
from store.subscription import Subscription
from store.supervision import SupervisedLoop, running
from store.webhook_subscriptions import (
    WebhookSubscription,
    active_subscription_ids,
    advance,
    get_subscription,
    log_attempt,
    prune_attempts,
    record_failure,
    signing_secret,
)

log = logging.getLogger("entente.delivery")

LOCK_CLASS = 16
STATE_CACHE = 10_000
"""Streams whose state the party filter remembers; beyond that it forgets them all."""
PRUNE_EVERY = 3600.0


class DeliverySettings(msgspec.Struct, frozen=True, kw_only=True):
    """How the worker delivers; `from_env` reads the ENTENTE_WEBHOOK_* variables."""

    batch_size: int = 100
    timeout: float = 10.0
    max_failures: int = 8
    retry_first: float = 1.0
    retry_max: float = 300.0
    idle_wait: float = 1.0
    policy: TargetPolicy = TargetPolicy()

    @classmethod
    def from_env(cls) -> DeliverySettings:
        """Settings from ENTENTE_WEBHOOK_BATCH_SIZE, _TIMEOUT_SECONDS, _MAX_FAILURES,
        _RETRY_FIRST_SECONDS, _RETRY_MAX_SECONDS, and the target policy's variables."""
        return cls(
            batch_size=int(positive_number("ENTENTE_WEBHOOK_BATCH_SIZE", "100", whole=True)),
            timeout=positive_number("ENTENTE_WEBHOOK_TIMEOUT_SECONDS", "10"),
            max_failures=int(positive_number("ENTENTE_WEBHOOK_MAX_FAILURES", "8", whole=True)),
            retry_first=positive_number("ENTENTE_WEBHOOK_RETRY_FIRST_SECONDS", "1"),
            retry_max=positive_number("ENTENTE_WEBHOOK_RETRY_MAX_SECONDS", "300"),
            policy=TargetPolicy.from_env(),
        )


def retry_delay(failures: int, settings: DeliverySettings) -> float:
    """Seconds before the next attempt after `failures` consecutive failures: doubling
    from retry_first up to retry_max, times a jitter in [0.5, 1] so that the targets of
    one outage are not all retried in the same instant."""
    jitter = random.uniform(0.5, 1.0)  # noqa: S311 (spreading retries, not a secret)
    return min(settings.retry_max, settings.retry_first * 2.0 ** max(failures - 1, 0)) * jitter


class StreamParties:
    """The parties a stream is between as of each event, for the `parties` filter.

    Only a stream's first events name its parties (a dialogue's charter, a visit's plan)
    and a correction can change them, so the filter folds the stream: it remembers each
    stream's state after the last event it saw, and reads the stream's history once when
    an event does not follow on from it (a stream first met mid-way, a replay).
    """

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._states: dict[str, tuple[int, Any]] = {}

    async def of(self, event: RecordedEvent) -> set[str]:
        """The parties of the event's stream just before and just after it."""
        kind = kind_of_stream(event.stream_id)
        if kind is None:
            return set()
        decider = kind.decider
        try:
            cached = self._states.get(event.stream_id)
            if cached is not None and cached[0] == event.version - 1:
                before = cached[1]
            else:
                history = await self._store.read_stream(
                    event.stream_id, to_version=event.version - 1
                )
                before = decider.fold(domain_events(history))
            after = decider.evolve(
                before, decode_event(event.type, event.schema_version, event.data)
            )
        except (msgspec.ValidationError, KeyError, ValueError, TypeError):
            return set()  # not an event of the domain: it names no party
        if len(self._states) >= STATE_CACHE:
            self._states.clear()
        self._states[event.stream_id] = (event.version, after)
        return set(kind.parties_of(before)) | set(kind.parties_of(after))

    async def matching(
        self, events: Sequence[RecordedEvent], parties: Sequence[str] | None
    ) -> list[RecordedEvent]:
        """The events of streams between any of `parties` (all events when None)."""
        if not parties:
            return list(events)
        wanted = set(parties)
        return [e for e in events if await self.of(e) & wanted]


class DeliveryWorker:
    """Delivers every active subscription this process can lock, until stopped."""

    def __init__(self, url: str, settings: DeliverySettings | None = None) -> None:
        key_from_env()  # a malformed sealing key stops the worker at once, not each delivery
        self._url = url
        self.settings = settings or DeliverySettings.from_env()
        self._origin = source()
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}

    async def run(self, stop: asyncio.Event, progressed: Callable[[], None] = lambda: None) -> None:
        """Reconcile the subscriptions with the delivering tasks every `idle_wait` seconds
        (calling `progressed` after each round) until `stop` is set."""
        pool = await create_pool(self._url, min_size=1, max_size=8)
        locks: Any = None
        try:
            store = EventStore(pool)
            pruned_at = 0.0
            async with Subscription(store, self._url) as wake:
                while not stop.is_set():
                    locks = await self._held_locks(locks)
                    await self._reconcile(pool, store, wake, locks)
                    if time.monotonic() - pruned_at > PRUNE_EVERY:
                        await prune_attempts(pool)
                        pruned_at = time.monotonic()
                    progressed()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.settings.idle_wait)
        finally:
            await self._stop_deliveries()
            if locks is not None and not locks.is_closed():
                await locks.close()  # releases every subscription this worker held
            await pool.close()

    async def _held_locks(self, locks: Any) -> Any:
        """The lock connection, checked alive; after it was lost (killed, a failover, a
        network cut) every delivery stops before another worker can take its
        subscription over, and a new connection takes the subscriptions afresh."""
        if locks is not None and not locks.is_closed():
            try:
                await asyncio.wait_for(locks.fetchval("SELECT 1"), self.settings.timeout)
                return locks
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                locks.terminate()
        if locks is not None:
            log.warning("webhooks: lost the lock connection; stopping deliveries, owning again")
            await self._stop_deliveries()
        return await asyncpg.connect(asyncpg_dsn(self._url))

    async def _stop_deliveries(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _reconcile(
        self, pool: Any, store: EventStore, wake: Subscription, locks: Any
    ) -> None:
        """Forget finished tasks (releasing their locks); start one for every active
        subscription that no other worker holds."""
        for subscription_id, task in list(self._tasks.items()):
            if task.done():
                del self._tasks[subscription_id]
                if not task.cancelled() and task.exception() is not None:
                    log.warning(
                        "delivery to subscription %s stopped: %r; restarting it",
                        subscription_id,
                        task.exception(),
                    )
                await locks.execute(
                    "SELECT pg_advisory_unlock($1, hashtext($2))", LOCK_CLASS, str(subscription_id)
                )
        for subscription_id in await active_subscription_ids(pool):
            if subscription_id in self._tasks:
                continue
            if await locks.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext($2))", LOCK_CLASS, str(subscription_id)
            ):
                self._tasks[subscription_id] = asyncio.create_task(
                    self._deliver(pool, store, wake, subscription_id, locks),
                    name=f"webhook:{subscription_id}",
                )

    async def _deliver(
        self,
        pool: Any,
        store: EventStore,
        wake: Subscription,
        subscription_id: uuid.UUID,
        locks: Any,
    ) -> None:
        """Deliver one subscription until it is no longer active (or deleted), or until
        the connection holding its lock is gone: then another worker may own it."""
        settings = self.settings
        parties = StreamParties(store)
        limits = httpx.Limits(max_connections=4, max_keepalive_connections=2)
        async with httpx.AsyncClient(
            timeout=settings.timeout, follow_redirects=False, trust_env=False, limits=limits
        ) as http:
            while not locks.is_closed():
                subscription = await get_subscription(pool, subscription_id)
                if subscription is None or subscription.state != "active":
                    return
                if subscription.next_attempt_at is not None:
                    wait = (subscription.next_attempt_at - dt.datetime.now(dt.UTC)).total_seconds()
                    if wait > 0:
                        await asyncio.sleep(min(wait, settings.idle_wait))
                        continue
                filters = subscription.filters
                page = await store.read_all(
                    subscription.cursor,
                    limit=settings.batch_size,
                    types=filters.event_types,
                    stream_prefix=filters.stream_prefix,
                )
                events = await parties.matching(page.events, filters.parties)
                if locks.is_closed():
                    return
                if not events:
                    if page.cursor != subscription.cursor:
                        await advance(
                            pool, subscription_id, subscription.cursor, page.cursor, delivered=False
                        )
                    await wake.wait_for_new(page.cursor, settings.idle_wait)
                    continue
                error = await self._post(pool, http, subscription, events)
                if error is None:
                    await advance(
                        pool, subscription_id, subscription.cursor, page.cursor, delivered=True
                    )
                    continue
                failed = await record_failure(
                    pool,
                    subscription_id,
                    subscription.cursor,
                    error,
                    retry_delay(subscription.failures + 1, settings),
                    settings.max_failures,
                )
                if failed is not None and failed.state == "failing":
                    log.warning(
                        "subscription %s is failing after %d attempts (%s); paused until resumed",
                        subscription_id,
                        failed.failures,
                        error,
                    )
                    return

    async def _post(
        self,
        pool: Any,
        http: httpx.AsyncClient,
        subscription: WebhookSubscription,
        events: list[RecordedEvent],
    ) -> str | None:
        """POST one signed batch and log the attempt; None on a 2xx, else what went wrong.

        The target is resolved and checked once, and the POST connects to the addresses
        that check approved (delivery/targets.py), reading at most MAX_RESPONSE_BYTES of
        the answer, all within the settings' timeout."""
        body = batch_body(events, self._origin)
        message_id = webhook_id(str(subscription.subscription_id), events)
        status: int | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            secret = await signing_secret(pool, subscription.subscription_id)
            if secret is None:
                raise TargetRefused("the subscription was deleted")
            target = await approve_target(subscription.target_url, self.settings.policy)
            # the whole exchange, not each read: a target dripping its answer byte by byte
            # would otherwise hold the delivery for as long as it likes
            async with asyncio.timeout(self.settings.timeout):
                status, answer = await post_pinned(
                    http, target, content=body, headers=signed_headers(secret, message_id, body)
                )
            if not 200 <= status < 300:
                error = f"HTTP {status}: {answer[:200]}"
        except TargetRefused as refused:
            error = f"refused: {refused}"
        except SecretUnavailable as unavailable:
            error = f"not signed: {unavailable}"
        except (httpx.TimeoutException, TimeoutError):
            error = f"timed out after {self.settings.timeout:g} s"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"[:500]
        latency_ms = (time.perf_counter() - started) * 1000
        await log_attempt(
            pool,
            subscription.subscription_id,
            webhook_id=message_id,
            positions=[e.position for e in events],
            status_code=status,
            latency_ms=latency_ms,
            error=error,
            delivered=error is None,
        )
        return error


@contextlib.asynccontextmanager
async def running_deliveries(
    url: str, settings: DeliverySettings | None = None
) -> AsyncIterator[SupervisedLoop]:
    """Run the delivery worker, supervised, while the context is open."""
    async with running("webhooks", DeliveryWorker(url, settings).run) as loop:
        yield loop

"""A command retried with its Idempotency-Key while the original is still in flight.

The original may commit at any moment of the retry's path (key check, load, decide,
append). Whatever the moment, the retry must replay the original answer: never a 409 for
the original's own write, never a domain refusal of a change that the original made.
These tests pin the moments around the load deterministically: the original commits just
before, or just after, the retry reads the stream it decides on. (Before the fix the key
was looked up first, and an original committing between the lookup and the load got its
own retry a 409: the flaky `test_racing_updates_with_one_key_write_once`.)
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from domain import commands as c
from service.handling import Decision, handle
from store import NO_STREAM, EventStore, IdempotencyKeyReused, NewEvent
from store.event_store import APPEND_BATCH_SQL
from store.records import RecordedEvent
from store.write_combining import combined_requests
from tests.unit import builders as b

MOMENTS = pytest.mark.parametrize("moment", ["before the load", "after the load"])


class OriginalCommitsMeanwhile(EventStore):
    """A store on which the original request commits just before (or just after) this
    request reads the stream it will decide on."""

    def __init__(self, pool: Any, original: Callable[[], Awaitable[Decision]], moment: str) -> None:
        super().__init__(pool)
        self._original: Callable[[], Awaitable[Decision]] | None = original
        self._moment = moment
        self.original: Decision | None = None

    async def _let_the_original_commit(self) -> None:
        if self._original is not None:
            original, self._original = self._original, None
            self.original = await original()

    async def read_stream(self, stream_id: str, **kw: Any) -> list[RecordedEvent]:
        if self._moment == "before the load":
            await self._let_the_original_commit()
        events = await super().read_stream(stream_id, **kw)
        await self._let_the_original_commit()
        return events


def _fingerprint(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


async def _launched(store: EventStore) -> uuid.UUID:
    dialogue = uuid.uuid4()
    await handle(store, c.LaunchDialogue(dialogue_id=dialogue, charter=b.charter()))
    return dialogue


def _same_write(original: Decision | None, retry: Decision) -> None:
    assert original is not None and not original.replayed
    assert retry.replayed
    assert (retry.version, retry.positions, retry.cursor, retry.event_types) == (
        original.version,
        original.positions,
        original.cursor,
        original.event_types,
    )


async def _race(
    pool: Any,
    store: EventStore,
    command: Any,
    key: str,
    expected_version: int | None,
    moment: str,
) -> tuple[Decision | None, Decision]:
    def send(on: EventStore) -> Awaitable[Decision]:
        return handle(
            on,
            command,
            expected_version=expected_version,
            idempotency_key=key,
            fingerprint=_fingerprint(key),
        )

    racing = OriginalCommitsMeanwhile(pool, lambda: send(store), moment)
    retry = await send(racing)
    return racing.original, retry


@MOMENTS
async def test_a_retry_with_if_match_replays_an_original_that_committed_meanwhile(
    pool: Any, store: EventStore, moment: str
) -> None:
    dialogue = await _launched(store)
    rename = c.RenameDialogue(dialogue_id=dialogue, name="Raced")
    original, retry = await _race(pool, store, rename, f"rename-{dialogue}", 1, moment)
    _same_write(original, retry)  # not a 409 for the original's own write
    assert await store.stream_version(f"dialogue-{dialogue}") == 2


@MOMENTS
async def test_a_retry_the_decider_would_now_refuse_replays_the_original(
    pool: Any, store: EventStore, moment: str
) -> None:
    dialogue = await _launched(store)
    rename = c.RenameDialogue(dialogue_id=dialogue, name="Raced")  # no If-Match
    original, retry = await _race(pool, store, rename, f"rename-{dialogue}", None, moment)
    _same_write(original, retry)  # not "the dialogue's name is unchanged"
    assert await store.stream_version(f"dialogue-{dialogue}") == 2


@MOMENTS
async def test_a_key_spent_meanwhile_on_another_request_is_still_refused(
    pool: Any, store: EventStore, moment: str
) -> None:
    dialogue = await _launched(store)
    key = f"spent-{dialogue}"

    async def other_request() -> Decision:
        rename = c.RenameDialogue(dialogue_id=dialogue, name="First")
        return await handle(store, rename, idempotency_key=key, fingerprint=_fingerprint("a"))

    racing = OriginalCommitsMeanwhile(pool, other_request, moment)
    with pytest.raises(IdempotencyKeyReused):
        await handle(
            racing,
            c.RenameDialogue(dialogue_id=dialogue, name="Second"),
            expected_version=1,
            idempotency_key=key,
            fingerprint=_fingerprint("b"),
        )
    assert await store.stream_version(f"dialogue-{dialogue}") == 2


async def test_racing_retries_from_two_clients_write_once(pool: Any) -> None:
    """Two stores (two service processes, as far as the database can tell), each with
    write combining, race many retries of one keyed update; every answer is the one write."""
    clients = [EventStore(pool), EventStore(pool)]
    for round_ in range(20):
        dialogue = await _launched(clients[0])
        rename = c.RenameDialogue(dialogue_id=dialogue, name=f"Raced {round_}")
        key = f"two-clients-{dialogue}"
        decisions = await asyncio.gather(
            *(
                handle(
                    clients[n % 2],
                    rename,
                    expected_version=1,
                    idempotency_key=key,
                    fingerprint=_fingerprint(key),
                )
                for n in range(6)
            )
        )
        originals = [d for d in decisions if not d.replayed]
        assert len(originals) == 1
        for decision in decisions:
            assert (decision.version, decision.positions) == (2, originals[0].positions)
        assert await clients[0].stream_version(f"dialogue-{dialogue}") == 2
    for client in clients:
        await client.settle()


async def test_one_combined_call_never_judges_two_requests_of_one_stream(pool: Any) -> None:
    """Two requests with one key and one body name one stream, and `append_batch` takes
    one request per stream: they can never be judged together on one stale head. One key
    for two streams in one call fails the whole call on the key (nothing written); the
    store then resends the requests one by one (test_write_combining covers that)."""
    key, fingerprint = "one-call", _fingerprint("one-call")

    def request(stream_id: str) -> list[Any]:
        event = NewEvent(type="Noted", data={})
        arguments = EventStore._append_one_arguments(stream_id, NO_STREAM, event, {})
        return [*arguments, key, fingerprint]

    def call(*requests: list[Any]) -> list[str]:
        return [combined_requests(list(requests))]

    same, other = f"one-call-{uuid.uuid4()}", f"one-call-{uuid.uuid4()}"
    with pytest.raises(asyncpg.InvalidParameterValueError, match="one per stream"):
        await pool.fetchrow(APPEND_BATCH_SQL, *call(request(same), request(same)))
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.fetchrow(APPEND_BATCH_SQL, *call(request(same), request(other)))
    written = await pool.fetchval(
        "SELECT count(*) FROM event_store.events WHERE stream_id = ANY($1)", [same, other]
    )
    assert written == 0

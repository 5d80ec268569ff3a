"""A synthetic but valid register: many dialogues with sessions, outcomes, progress, visits."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from domain import commands as c
from domain.facts import (
    Charter,
    Indicator,
    OutcomeTerms,
    Progress,
    SessionPlan,
    SessionRecord,
    VisitPlan,
)
from domain.streams import decider_for, stream_id_for
from domain.values import PartialDate, Person, Place
from service.handling import handle, to_new_event
from store.errors import WrongExpectedVersion
from store.event_store import EventStore

PARTNERS = ("US", "UZ", "KG", "TJ", "TM", "DE", "FR", "JP", "KR", "CN", "IN", "TR")


def _head(party: str, n: int) -> Person:
    return Person(name=f"Head {party} {n}", title="Minister", organization="MFA", party=party)


def dialogue_story(rng: random.Random, n: int) -> Iterator[c.Command]:
    """One dialogue's life: launched, sessions scheduled and held, outcomes followed up."""
    other = PARTNERS[n % len(PARTNERS)]
    d = uuid.UUID(int=rng.getrandbits(128))
    yield c.LaunchDialogue(
        dialogue_id=d,
        charter=Charter(
            name=f"Dialogue {n}",
            acronym=f"D{n}",
            format="bilateral",
            parties=("KZ", other),
            cadence="annual",
        ),
    )
    for year in range(2019, 2019 + rng.randint(1, 3)):
        s = uuid.UUID(int=rng.getrandbits(128))
        day = PartialDate.parse(f"{year}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}")
        place = Place(city="Astana", country="KZ")
        yield c.ScheduleSession(
            dialogue_id=d,
            session_id=s,
            plan=SessionPlan(planned=PartialDate.parse(str(year)), place=place, host="KZ"),
        )
        yield c.HoldSession(
            dialogue_id=d,
            session_id=s,
            record=SessionRecord(
                held_on=day,
                place=place,
                heads=(_head("KZ", n), _head(other, n)),
                topics=("trade", "security"),
            ),
        )
        for _ in range(rng.randint(1, 3)):
            o = uuid.UUID(int=rng.getrandbits(128))
            yield c.AdoptOutcome(
                dialogue_id=d,
                session_id=s,
                outcome_id=o,
                terms=OutcomeTerms(
                    kind="commitment",
                    text=f"Commitment {n}-{year}",
                    responsible=("KZ", other),
                    target=PartialDate.parse(str(year + 1)),
                ),
            )
            if rng.random() < 0.6:
                yield c.RecordProgress(
                    dialogue_id=d,
                    outcome_id=o,
                    progress_id=uuid.UUID(int=rng.getrandbits(128)),
                    progress=Progress(note="Working group met"),
                )
            if rng.random() < 0.4:
                yield c.ChangeOutcomeStatus(dialogue_id=d, outcome_id=o, status="fulfilled")
    yield c.RecordIndicator(
        parties=("KZ", other),
        indicator_id=uuid.UUID(int=rng.getrandbits(128)),
        indicator=Indicator(
            name=f"bilateral trade {n}",
            period=PartialDate.parse("2019"),
            value=Decimal(rng.randint(1, 900)),
            unit="USD million",
        ),
    )
    nxt = uuid.UUID(int=rng.getrandbits(128))
    yield c.ScheduleSession(
        dialogue_id=d,
        session_id=nxt,
        plan=SessionPlan(planned=PartialDate.parse("2027"), host=other),
    )
    yield c.PlanVisit(
        visit_id=uuid.UUID(int=rng.getrandbits(128)),
        plan=VisitPlan(
            visitor=_head("KZ", n),
            host=other,
            destination=Place(city="Capital", country=other),
            window=PartialDate.parse("first half of 2027"),
        ),
    )


class DecidedStreams:
    """Commands decided in memory against their streams' folded states, and appended
    later as whole chunks: builds a large log without the per-command round trips."""

    def __init__(self) -> None:
        self._folded: dict[str, Any] = {}
        self._written: dict[str, int] = {}
        self._pending: dict[str, list[Any]] = {}

    def decide(self, command: c.Command) -> None:
        """Decide one command on its stream's state as decided so far (not yet appended)."""
        decider = decider_for(command)
        stream_id = stream_id_for(command)
        state = self._folded.get(stream_id, decider.initial_state)
        decided = decider.decide(state, command)
        self._pending.setdefault(stream_id, []).extend(decided)
        self._folded[stream_id] = decider.fold(decided, state)

    async def append(self, store: EventStore, concurrency: int = 8) -> int:
        """Append everything decided since the last call, one stream per append; events
        written."""
        streams = list(self._pending.items())
        self._pending = {}
        written = 0

        async def worker(share: list[tuple[str, list[Any]]]) -> None:
            nonlocal written
            for stream_id, events in share:
                for start in range(0, len(events), 500):
                    chunk = [to_new_event(e) for e in events[start : start + 500]]
                    version = self._written.get(stream_id, 0)
                    await store.append(stream_id, chunk, version, {"actor": "workload"})
                    self._written[stream_id] = version + len(chunk)
                    written += len(chunk)

        await asyncio.gather(*(worker(streams[i::concurrency]) for i in range(concurrency)))
        return written


async def append_stories(
    store: EventStore, dialogues: int, seed: int = 7, concurrency: int = 8
) -> int:
    """The same stories, decided in memory and appended one stream per append: fast bulk data.

    Deciding in memory (domain.streams.replay) and appending whole streams skips the
    per-command round trips, so a benchmark can build hundreds of thousands of events.
    """
    rng = random.Random(seed)
    streams = DecidedStreams()
    for n in range(dialogues):
        for command in dialogue_story(rng, n):
            streams.decide(command)
    return await streams.append(store, concurrency)


async def _decide_until_accepted(store: EventStore, command: c.Command) -> int:
    """Stories share relationship streams, so a concurrent writer may win: decide again
    on the fresh state, as a well-behaved client does after a 409."""
    while True:
        try:
            decision = await handle(store, command, metadata={"actor": "workload"})
        except WrongExpectedVersion:
            continue
        return len(decision.positions)


async def load_workload(
    store: EventStore, dialogues: int, seed: int = 7, concurrency: int = 8
) -> int:
    """Run `dialogues` stories through the command path, several at once; events written."""
    rng = random.Random(seed)
    stories = [list(dialogue_story(rng, n)) for n in range(dialogues)]
    written = 0
    queue = asyncio.Queue[list[c.Command]]()
    for story in stories:
        queue.put_nowait(story)

    async def worker() -> None:
        nonlocal written
        while not queue.empty():
            for command in queue.get_nowait():
                accepted = await _decide_until_accepted(store, command)
                written += accepted  # read written only after the await

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return written

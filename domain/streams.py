"""Where a command is written and which decider judges it: the application service's map.

The service does: ``load(stream_id_for(cmd))`` → ``decider_for(cmd).fold`` →
``decider_for(cmd).decide`` → append. ``replay`` does the same in memory, for tests and demos.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from domain import commands as c
from domain import dialogue, relationship, visit
from domain.decider import Decider
from domain.events import Event, RelationshipEvent, VisitEvent


def stream_id_for(command: c.Command) -> str:
    """dialogue-<uuid>, visit-<uuid> or relationship-<A>-<B> with the codes sorted."""
    if isinstance(command, c._DialogueCommand):
        return f"dialogue-{command.dialogue_id}"
    if isinstance(command, c._VisitCommand):
        return f"visit-{command.visit_id}"
    return "relationship-{}-{}".format(*relationship.pair(command))


def stream_id_of(event: Event) -> str:
    """The stream an event belongs to, read from the event alone (for rebuilds and checks)."""
    if isinstance(event, VisitEvent):
        return f"visit-{event.visit_id}"
    if isinstance(event, RelationshipEvent):
        return "relationship-{}-{}".format(*event.parties)
    return f"dialogue-{event.dialogue_id}"


ENTITY_IDS: dict[str, tuple[str, str]] = {
    "SessionScheduled": ("session", "session_id"),
    "SessionHeld": ("session", "session_id"),
    "OutcomeAdopted": ("outcome", "outcome_id"),
    "IndicatorRecorded": ("indicator", "indicator_id"),
    "MilestoneRecorded": ("milestone", "milestone_id"),
}
"""The event types that bring an entity into a stream, with the entity's kind and the
field holding its id. A stream's decider keeps these ids unique within the stream only;
the register keeps them unique across streams (store/entity_ids.py). Progress notes are
not here: they are addressed under their outcome, whose id is unique."""


def entity_id_of(event_type: str, data: Mapping[str, object]) -> tuple[str, str] | None:
    """(kind, id) of the entity a stored or encoded event brings in, if it brings one."""
    named = ENTITY_IDS.get(event_type)
    if named is None:
        return None
    kind, field = named
    return kind, str(data[field])


def decider_for(command: c.Command) -> Decider[Any, Any, Any]:
    if isinstance(command, c._DialogueCommand):
        return dialogue.decider
    if isinstance(command, c._VisitCommand):
        return visit.decider
    return relationship.decider


def execute(history: Iterable[Event], command: c.Command) -> list[Event]:
    """Load → fold → decide for one stream's history; the events to append, if any."""
    decider = decider_for(command)
    return decider.decide(decider.fold(history), command)


def replay(commands: Iterable[c.Command]) -> dict[str, list[Event]]:
    """Run commands against in-memory streams, stopping at the first refusal."""
    streams: dict[str, list[Event]] = {}
    for command in commands:
        stream = streams.setdefault(stream_id_for(command), [])
        stream.extend(execute(stream, command))
    return streams

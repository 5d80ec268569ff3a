"""The stream kinds of the register, in one place: what a stream of each kind is.

A kind names its decider, how its stream ids are spelled, which parties a state of it is
between and where its resource lives over HTTP. Everything that dispatches on a stream —
the application service, the timeline, the API's Location headers — asks this registry.

The service does: ``load(stream_id_for(cmd))`` → ``decider_for(cmd).fold`` →
``decider_for(cmd).decide`` → append. ``replay`` does the same in memory, for tests and demos.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from domain import commands as c
from domain import dialogue, relationship, visit
from domain import events as e
from domain.decider import Decider
from domain.errors import DomainError
from domain.events import Event

S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E")

State = dialogue.Dialogue | visit.Visit | relationship.Relationship
"""The state of any stream: what a fold of a stream of a kind the registry names gives."""


@dataclass(frozen=True, eq=False)
class StreamKind(Generic[S, C, E]):
    """One kind of stream: its aggregate's decider and how the rest of the system names it.

    Kinds are singletons, compared and hashed by identity.
    """

    name: str
    """The stream ids' prefix without its dash, and the webhook filters' `stream_kind`."""
    decider: Decider[S, C, E]
    events: type
    """The base class of the kind's events (every event of the kind is an instance)."""
    commands: type
    """The base class of the kind's commands."""
    parties_of: Callable[[S], list[str]]
    """The parties a state is between, sorted; empty before the stream names them."""
    resource: str
    """The collection its streams are served under: /dialogues/{id}."""

    @property
    def prefix(self) -> str:
        """What every stream id of the kind starts with."""
        return f"{self.name}-"

    def stream_id(self, ident: object) -> str:
        """The stream id of the entity `ident` names (a uuid or a pair like KZ-US)."""
        return f"{self.prefix}{ident}"

    def location(self, stream_id: str) -> str:
        """The URL of the resource a stream of this kind holds."""
        return f"{self.resource}/{stream_id.removeprefix(self.prefix)}"


def _dialogue_parties(state: dialogue.Dialogue) -> list[str]:
    return sorted(state.charter.parties) if state.charter else []


def _visit_parties(state: visit.Visit) -> list[str]:
    return sorted({state.plan.visitor.party, state.plan.host}) if state.plan else []


def _relationship_parties(state: relationship.Relationship) -> list[str]:
    return sorted(state.parties) if state.parties else []


DIALOGUE: StreamKind[dialogue.Dialogue, c.DialogueCommand, e.DialogueEvent] = StreamKind(
    "dialogue",
    dialogue.decider,
    e._DialogueEvent,
    c._DialogueCommand,
    _dialogue_parties,
    "/dialogues",
)
VISIT: StreamKind[visit.Visit, c.VisitCommand, e.VisitEvent] = StreamKind(
    "visit", visit.decider, e._VisitEvent, c._VisitCommand, _visit_parties, "/visits"
)
RELATIONSHIP: StreamKind[relationship.Relationship, c.RelationshipCommand, e.RelationshipEvent] = (
    StreamKind(
        "relationship",
        relationship.decider,
        e._RelationshipEvent,
        c._RelationshipCommand,
        _relationship_parties,
        "/relationships",
    )
)

Kind = StreamKind[State, c.Command, Event]
"""A kind seen from code that serves every kind: its state is one of `State`."""

KINDS: tuple[Kind, ...] = tuple(
    # Each kind's decider only ever sees its own kind's commands, events and states: the
    # registry dispatches by command class, event class and stream prefix alike, so
    # widening the three type parameters to the unions is safe here, and only here.
    cast(Kind, kind)
    for kind in (DIALOGUE, VISIT, RELATIONSHIP)
)


def kind_of_stream(stream_id: str) -> Kind | None:
    """The kind a stream id belongs to; None for a stream no aggregate owns."""
    return next((k for k in KINDS if stream_id.startswith(k.prefix)), None)


def stream_id_for(command: c.Command) -> str:
    """dialogue-<uuid>, visit-<uuid> or relationship-<A>-<B> with the codes sorted."""
    if isinstance(command, c._DialogueCommand):
        return DIALOGUE.stream_id(command.dialogue_id)
    if isinstance(command, c._VisitCommand):
        return VISIT.stream_id(command.visit_id)
    return RELATIONSHIP.stream_id("-".join(relationship.pair(command)))


def stream_id_of(event: Event) -> str:
    """The stream an event belongs to, read from the event alone (for rebuilds and checks)."""
    if isinstance(event, e._VisitEvent):
        return VISIT.stream_id(event.visit_id)
    if isinstance(event, e._RelationshipEvent):
        return RELATIONSHIP.stream_id("-".join(event.parties))
    return DIALOGUE.stream_id(event.dialogue_id)


def location_for(stream_id: str) -> str:
    """The URL of the resource a stream holds (/streams/{id} for a stream of no kind)."""
    kind = kind_of_stream(stream_id)
    return kind.location(stream_id) if kind else f"/streams/{stream_id}"


def parties_of(stream_id: str, state: State) -> list[str]:
    """The parties a stream's state is between, sorted (empty for a stream of no kind)."""
    kind = kind_of_stream(stream_id)
    return kind.parties_of(state) if kind else []


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


def kind_for(command: c.Command) -> Kind:
    """The kind of stream a command is written to."""
    return next(k for k in KINDS if isinstance(command, k.commands))


def kind_of(event: Event) -> Kind:
    """The kind of stream an event belongs to."""
    return next(k for k in KINDS if isinstance(event, k.events))


def decider_for(command: c.Command) -> Decider[State, c.Command, Event]:
    """The decider that judges a command."""
    return kind_for(command).decider


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


def decide_all(commands: Iterable[c.Command]) -> dict[str, list[Event]]:
    """Run commands against in-memory streams, skipping those their deciders refuse."""
    folded: dict[str, tuple[State, list[Event]]] = {}
    for command in commands:
        decider = decider_for(command)
        stream_id = stream_id_for(command)
        state, events = folded.get(stream_id, (decider.initial_state, []))
        with suppress(DomainError):
            decided = decider.decide(state, command)
            events.extend(decided)
            folded[stream_id] = (decider.fold(decided, state), events)
    return {stream_id: events for stream_id, (_, events) in folded.items()}

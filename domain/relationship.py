"""The Relationship aggregate: facts about a pair of parties, one stream per pair.

Indicators (USD 2 billion of trade in 2019) and milestones (recognition on 25 Dec 1991)
belong to the pair, not to any one dialogue: several dialogues, or none, may speak of them.
Their only rules are about themselves, so a small stream per pair keeps writers of different
pairs from ever contending, and its name (relationship-KZ-US) is found without a lookup.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec
from msgspec.structs import replace

from domain import commands as c
from domain import events as e
from domain.decider import (
    EMPTY,
    Decider,
    decided,
    dispatch,
    entry,
    must_change,
    once,
    with_entry,
    without_entry,
)
from domain.facts import Indicator, Milestone
from domain.values import pair_of


class Relationship(msgspec.Struct, frozen=True, kw_only=True):
    parties: tuple[str, str] | None = None
    indicators: Mapping[uuid.UUID, Indicator] = EMPTY
    milestones: Mapping[uuid.UUID, Milestone] = EMPTY
    retracted_indicators: Mapping[uuid.UUID, Indicator] = EMPTY
    """Retracted, and so gone from `indicators`, but kept: recording one again (a retried
    create) is the no-op or refusal it would be before the retraction, never a return."""
    retracted_milestones: Mapping[uuid.UUID, Milestone] = EMPTY


initial_state = Relationship()


def pair(command: c.RelationshipCommand) -> tuple[str, str]:
    """The pair in canonical order (refused when both parties are the same)."""
    return pair_of(*command.parties)


def _record(field: str, kind: str, event: type[Any]) -> Callable[..., list[Any]]:
    """Indicators and milestones are recorded, corrected and retracted in the same way."""

    def decide_record(state: Relationship, cmd: Any) -> list[Any]:
        ident, fact = _ident_and_fact(cmd, kind)
        recorded = event(parties=pair(cmd), **{f"{kind}_id": ident, kind: fact})
        existing = getattr(state, field).get(ident) or getattr(state, f"retracted_{field}").get(
            ident
        )
        return once(existing, fact, kind, ident, [recorded])

    return decide_record


def _correct(field: str, kind: str, event: type[Any]) -> Callable[..., list[Any]]:
    def decide_correction(state: Relationship, cmd: Any) -> list[Any]:
        ident, fact = _ident_and_fact(cmd, kind)
        must_change(entry(getattr(state, field), ident, kind), fact, kind)
        fields = {f"{kind}_id": ident, kind: fact, "reason": cmd.reason}
        return [event(parties=pair(cmd), **fields)]

    return decide_correction


def _retract(field: str, kind: str, event: type[Any]) -> Callable[..., list[Any]]:
    def decide_retraction(state: Relationship, cmd: Any) -> list[Any]:
        ident = getattr(cmd, f"{kind}_id")
        entry(getattr(state, field), ident, kind)
        return [event(parties=pair(cmd), reason=cmd.reason, **{f"{kind}_id": ident})]

    return decide_retraction


def _ident_and_fact(cmd: Any, kind: str) -> tuple[uuid.UUID, Any]:
    return getattr(cmd, f"{kind}_id"), getattr(cmd, kind)


_DECISIONS: dict[type, Callable[[Relationship, Any], list[e.RelationshipEvent]]] = {
    c.RecordIndicator: _record("indicators", "indicator", e.IndicatorRecorded),
    c.CorrectIndicator: _correct("indicators", "indicator", e.IndicatorCorrected),
    c.RetractIndicator: _retract("indicators", "indicator", e.IndicatorRetracted),
    c.RecordMilestone: _record("milestones", "milestone", e.MilestoneRecorded),
    c.CorrectMilestone: _correct("milestones", "milestone", e.MilestoneCorrected),
    c.RetractMilestone: _retract("milestones", "milestone", e.MilestoneRetracted),
}


def decide(state: Relationship, command: c.RelationshipCommand) -> list[e.RelationshipEvent]:
    """The events a command causes, or a DomainError naming the rule it would break."""
    return decided(_DECISIONS, state, command)


def _set(field: str, kind: str) -> Callable[[Relationship, Any], Relationship]:
    def evolve_set(state: Relationship, ev: Any) -> Relationship:
        facts = with_entry(getattr(state, field), getattr(ev, f"{kind}_id"), getattr(ev, kind))
        return replace(state, parties=ev.parties, **{field: facts})

    return evolve_set


def _unset(field: str, kind: str) -> Callable[[Relationship, Any], Relationship]:
    def evolve_unset(state: Relationship, ev: Any) -> Relationship:
        ident = getattr(ev, f"{kind}_id")
        live, gone = getattr(state, field), getattr(state, f"retracted_{field}")
        retracted = with_entry(gone, ident, live[ident]) if ident in live else gone
        return replace(
            state, **{field: without_entry(live, ident), f"retracted_{field}": retracted}
        )

    return evolve_unset


_EVOLUTIONS: dict[type, Callable[[Relationship, Any], Relationship]] = {
    e.IndicatorRecorded: _set("indicators", "indicator"),
    e.IndicatorCorrected: _set("indicators", "indicator"),
    e.IndicatorRetracted: _unset("indicators", "indicator"),
    e.MilestoneRecorded: _set("milestones", "milestone"),
    e.MilestoneCorrected: _set("milestones", "milestone"),
    e.MilestoneRetracted: _unset("milestones", "milestone"),
}


def evolve(state: Relationship, event: e.RelationshipEvent) -> Relationship:
    return dispatch(_EVOLUTIONS, event)(state, event)  # type: ignore[no-any-return]


decider: Decider[Relationship, c.RelationshipCommand, e.RelationshipEvent] = Decider(
    "relationship", initial_state, decide, evolve
)


def fold(
    events: Iterable[e.RelationshipEvent], state: Relationship = initial_state
) -> Relationship:
    return decider.fold(events, state)

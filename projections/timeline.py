"""The relationship timeline: one row per recorded change between parties, log order.

A reporting tool filters it by `parties @> '{KZ,US}'` and reads each row as it stands:
when it happened in the world (occurred_*), when it was recorded, what, and who.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import dialogue, relationship, visit
from domain.decider import Decider
from domain.events import Event
from projections.projection import insert_rows, window
from projections.states import StreamStates
from projections.tables import timeline
from store.records import RecordedEvent

DECIDERS: dict[str, Decider[Any, Any, Any]] = {
    "dialogue-": dialogue.decider,
    "visit-": visit.decider,
    "relationship-": relationship.decider,
}


def parties_of(state: Any) -> list[str]:
    """The parties a stream's state is between, sorted."""
    if isinstance(state, dialogue.Dialogue) and state.charter:
        return sorted(state.charter.parties)
    if isinstance(state, visit.Visit) and state.plan:
        return sorted({state.plan.visitor.party, state.plan.host})
    if isinstance(state, relationship.Relationship) and state.parties:
        return sorted(state.parties)
    return []


def _words(tag: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r" \1", tag).lower().capitalize()


def describe(event: Event, state: Any) -> str:
    """A one-line summary a person can read in a spreadsheet."""
    detail = ""
    for attribute in ("charter", "terms", "plan", "record", "indicator", "milestone", "lead"):
        value = getattr(event, attribute, None)
        if value is not None:
            detail = (
                getattr(value, "name", None)
                or getattr(value, "text", None)
                or getattr(value, "description", None)
                or ""
            )
            if attribute == "record":
                detail = f"in {value.place.city}, {value.place.country}"
            break
    subject = ""
    if isinstance(state, dialogue.Dialogue) and state.charter:
        subject = state.charter.acronym or state.charter.name
    text = " — ".join(part for part in (subject, _words(type(event).__name__), detail) if part)
    reason = getattr(event, "reason", None)
    return f"{text} (reason: {reason})" if reason else text


class TimelineProjection:
    """relationship_timeline."""

    name = "timeline"
    tables: tuple[Table, ...] = (timeline,)
    stream_prefixes: tuple[str, ...] = tuple(DECIDERS)

    async def apply(
        self, tx: AsyncConnection, batch: Sequence[RecordedEvent], states: StreamStates
    ) -> None:
        """One row per event, from that event and its stream's state right after it.

        Never from the state at the end of the batch: a dialogue renamed later in the same
        batch must not rename the rows of its earlier events, or the rows would depend on
        how the log was cut into batches (live, after a restart, in a rebuild).
        """
        rows = []
        for change in await states.fold_batch(tx, batch, DECIDERS):
            for record, event, before, state in change.steps:
                rows.append(
                    {
                        "position": record.position,
                        "parties": parties_of(state) or parties_of(before),
                        "recorded_at": record.recorded_at,
                        **window("occurred", event.happened()),
                        "event_type": record.type,
                        "stream_id": change.stream_id,
                        "summary": describe(event, state),
                        "actor": record.metadata.get("actor"),
                    }
                )
        if rows:
            await insert_rows(tx, timeline, rows)

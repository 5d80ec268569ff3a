"""The relationship timeline: one row per recorded change between parties, log order.

A reporting tool filters it by `parties @> '{KZ,US}'` and reads each row as it stands:
when it happened in the world (occurred_*), when it was recorded, what, and who.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import dialogue
from domain.events import Event
from domain.streams import KINDS, State, parties_of
from projections.projection import insert_rows, window
from projections.states import StreamStates
from projections.tables import timeline
from store.records import RecordedEvent


def _words(tag: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r" \1", tag).lower().capitalize()


def describe(event: Event, state: State) -> str:
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
    stream_prefixes: tuple[str, ...] = tuple(kind.prefix for kind in KINDS)

    async def apply(
        self, tx: AsyncConnection, batch: Sequence[RecordedEvent], states: StreamStates
    ) -> None:
        """One row per event, from that event and its stream's state right after it.

        Never from the state at the end of the batch: a dialogue renamed later in the same
        batch must not rename the rows of its earlier events, or the rows would depend on
        how the log was cut into batches (live, after a restart, in a rebuild).
        """
        rows = []
        deciders = {kind.prefix: kind.decider for kind in KINDS}
        for change in await states.fold_batch(tx, batch, deciders):
            for record, event, before, state in change.steps:
                parties = parties_of(change.stream_id, state)
                rows.append(
                    {
                        "position": record.position,
                        "parties": parties or parties_of(change.stream_id, before),
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

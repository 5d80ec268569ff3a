"""The relationship timeline: one row per recorded change between parties, log order.

A reporting tool filters it by `parties @> '{KZ,US}'` and reads each row as it stands:
when it happened in the world (occurred_*), when it was recorded, what, and who.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import dialogue
from domain.events import Event
from domain.streams import KINDS, State, kind_of_stream
from projections.projection import dates, insert_records, window_columns
from projections.states import Change, StreamStates
from projections.tables import timeline
from store.records import RecordedEvent

_CAPITAL = re.compile(r"(?<!^)([A-Z])")


_DETAILED = ("charter", "terms", "plan", "record", "indicator", "milestone", "lead")
"""The parts of an event whose name or text details its summary, the first one set."""


@functools.cache
def _summary_of(event_type: type) -> tuple[str, tuple[str, ...], bool]:
    """An event type in words ("Session held"), which detailed parts it can carry, and
    whether it can give a reason: a handful of types, so worked out once each rather
    than per event."""
    words = _CAPITAL.sub(r" \1", event_type.__name__).lower().capitalize()
    parts = tuple(a for a in _DETAILED if hasattr(event_type, a))
    return words, parts, hasattr(event_type, "reason")


def _detail(event: Event, parts: tuple[str, ...]) -> str:
    for attribute in parts:
        value = getattr(event, attribute, None)
        if value is not None:
            if attribute == "record":
                return f"in {value.place.city}, {value.place.country}"
            return (
                getattr(value, "name", None)
                or getattr(value, "text", None)
                or getattr(value, "description", None)
                or ""
            )
    return ""


def describe(event: Event, state: State) -> str:
    """A one-line summary a person can read in a spreadsheet: the dialogue, what
    happened, its detail and its reason, the parts that are there."""
    text, parts, reasoned = _summary_of(type(event))
    if isinstance(state, dialogue.Dialogue) and state.charter:
        subject = state.charter.acronym or state.charter.name
        if subject:
            text = f"{subject} — {text}"
    detail = _detail(event, parts) if parts else ""
    if detail:
        text = f"{text} — {detail}"
    reason = getattr(event, "reason", None) if reasoned else None
    return f"{text} (reason: {reason})" if reason else text


def _nobody(state: State) -> list[str]:
    """The parties of a stream no aggregate owns (as `domain.streams.parties_of`)."""
    return []


COLUMNS = (
    "position",
    "parties",
    "recorded_at",
    *window_columns("occurred"),
    "event_type",
    "stream_id",
    "summary",
    "actor",
)
"""The columns of a row as `rows` gives its values."""


def rows(changes: Sequence[Change]) -> list[tuple[Any, ...]]:
    """One row per event (values in the order of `COLUMNS`), from that event and its
    stream's state right after it: built as a tuple, with no dict per event."""
    rows = []
    for change in changes:
        kind = kind_of_stream(change.stream_id)  # once per stream, not per event
        parties_of = kind.parties_of if kind else _nobody
        stream_id = change.stream_id
        for record, event, before, state in change.steps:
            rows.append(
                (
                    record.position,
                    parties_of(state) or parties_of(before),
                    record.recorded_at,
                    *dates(event.happened()),
                    record.type,
                    stream_id,
                    describe(event, state),
                    record.metadata.get("actor"),
                )
            )
    return rows


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
        deciders = {kind.prefix: kind.decider for kind in KINDS}
        await insert_records(
            tx, timeline, COLUMNS, rows(await states.fold_batch(tx, batch, deciders))
        )

"""Official visits as one row each, derived from the Visit state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import visit
from domain.streams import VISIT
from projections.projection import delete_rows, insert_rows, window
from projections.states import StreamStates
from projections.tables import visits
from store.records import RecordedEvent


def visit_row(state: visit.Visit) -> dict[str, Any]:
    """Who visits whom, where, when (planned window and actual dates), and why."""
    plan = state.plan
    assert plan is not None
    return {
        "visit_id": state.visit_id,
        "status": state.status,
        "is_open": visit.is_open(state.status),
        "visitor_name": plan.visitor.name,
        "visitor_title": plan.visitor.title,
        "visitor_party": plan.visitor.party,
        "host": plan.host,
        "destination_city": plan.destination.city,
        "destination_country": plan.destination.country,
        **window("window", plan.window),
        **window("dates", state.dates),
        "purpose": plan.purpose,
        "outcome_id": plan.outcome.outcome_id if plan.outcome else None,
        "dialogue_id": plan.dialogue_id,
        "session_id": plan.session_id,
    }


class VisitProjection:
    """visits."""

    name = "visits"
    tables: tuple[Table, ...] = (visits,)
    stream_prefixes: tuple[str, ...] = (VISIT.prefix,)

    async def apply(
        self, tx: AsyncConnection, batch: Sequence[RecordedEvent], states: StreamStates
    ) -> None:
        """Rewrite each touched visit's row; a retracted visit leaves the model.

        The row is the visit as it stands after its latest event: the same whatever the
        batches were.
        """
        touched = [
            c.after for c in await states.fold_batch(tx, batch, {VISIT.prefix: VISIT.decider})
        ]
        keys = [v.visit_id for v in touched]
        await delete_rows(tx, visits, "visit_id", keys)
        rows = [visit_row(v) for v in touched if v.plan is not None and v.status != "retracted"]
        if rows:
            await insert_rows(tx, visits, rows)

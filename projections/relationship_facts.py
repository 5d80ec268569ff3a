"""Indicators and milestones of each pair of parties, derived from the Relationship state."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, delete
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import relationship
from domain.facts import Indicator, Milestone
from domain.streams import RELATIONSHIP
from projections.projection import insert_rows, window
from projections.states import StreamStates
from projections.tables import indicators, milestones
from store.json_ready import to_builtins
from store.records import RecordedEvent


def indicator_row(parties: list[str], indicator_id: uuid.UUID, i: Indicator) -> dict[str, Any]:
    """One indicator as a row."""
    return {
        "indicator_id": indicator_id,
        "parties": parties,
        "name": i.name,
        **window("period", i.period),
        "value": i.value,
        "unit": i.unit,
        "approximation": i.approximation,
        "kind": i.kind,
        "subject": i.subject,
        "note": i.note,
        "source": to_builtins(i.source) if i.source else None,
    }


def milestone_row(parties: list[str], milestone_id: uuid.UUID, m: Milestone) -> dict[str, Any]:
    """One milestone as a row."""
    return {
        "milestone_id": milestone_id,
        "parties": parties,
        "kind": m.kind,
        "description": m.description,
        **window("on", m.on),
        "source": to_builtins(m.source) if m.source else None,
    }


def changed(before: Mapping[uuid.UUID, Any], after: Mapping[uuid.UUID, Any]) -> set[uuid.UUID]:
    """Ids recorded, corrected or retracted between two states of a pair."""
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


async def write_changes(
    tx: AsyncConnection, before: relationship.Relationship, after: relationship.Relationship
) -> None:
    """Rewrite only the facts that changed: a pair can hold thousands of indicators."""
    assert after.parties is not None
    parties = list(after.parties)
    for table, key, rows_of, row in (
        (indicators, "indicator_id", "indicators", indicator_row),
        (milestones, "milestone_id", "milestones", milestone_row),
    ):
        old, new = getattr(before, rows_of), getattr(after, rows_of)
        ids = changed(old, new)
        if not ids:
            continue
        # this pair's rows only: another pair may use the same id (migration 0012)
        await tx.execute(delete(table).where(table.c.parties == parties, table.c[key].in_(ids)))
        rows = [row(parties, k, new[k]) for k in ids if k in new]
        if rows:
            await insert_rows(tx, table, rows)


class RelationshipFactsProjection:
    """indicators, milestones."""

    name = "relationship_facts"
    tables: tuple[Table, ...] = (indicators, milestones)
    stream_prefixes: tuple[str, ...] = (RELATIONSHIP.prefix,)

    async def apply(
        self, tx: AsyncConnection, batch: Sequence[RecordedEvent], states: StreamStates
    ) -> None:
        """Fold each touched pair and rewrite the facts that changed.

        A fact's row is the fact as it stands after the pair's latest event (its newest
        correction), so comparing the states before and after the batch is enough.
        """
        changes = await states.fold_batch(tx, batch, {RELATIONSHIP.prefix: RELATIONSHIP.decider})
        for change in changes:
            await write_changes(tx, change.before, change.after)

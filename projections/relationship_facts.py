"""Indicators and milestones of each pair of parties, derived from the Relationship state."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, delete, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import relationship
from projections.projection import by_stream, window
from projections.states import StreamStates
from projections.tables import indicators, milestones
from store.builtins import to_builtins
from store.records import RecordedEvent


async def write_relationship(tx: AsyncConnection, state: relationship.Relationship) -> None:
    """Replace the pair's indicator and milestone rows."""
    assert state.parties is not None
    parties = list(state.parties)
    for table in (indicators, milestones):
        await tx.execute(delete(table).where(table.c.parties == parties))
    indicator_rows = [
        {
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
        for indicator_id, i in state.indicators.items()
    ]
    milestone_rows = [
        {
            "milestone_id": milestone_id,
            "parties": parties,
            "kind": m.kind,
            "description": m.description,
            **window("on", m.on),
            "source": to_builtins(m.source) if m.source else None,
        }
        for milestone_id, m in state.milestones.items()
    ]
    if indicator_rows:
        await tx.execute(insert(indicators), indicator_rows)
    if milestone_rows:
        await tx.execute(insert(milestones), milestone_rows)


class RelationshipFactsProjection:
    """indicators, milestones."""

    name = "relationship_facts"
    tables: tuple[Table, ...] = (indicators, milestones)
    stream_prefixes: tuple[str, ...] = ("relationship-",)

    async def apply(
        self, tx: AsyncConnection, batch: Sequence[RecordedEvent], states: StreamStates
    ) -> None:
        """Fold each touched pair and rewrite its facts."""
        groups = by_stream(batch)
        await states.prepare(tx, groups, relationship.decider)
        for stream_id, records in groups.items():
            state = await states.advance(stream_id, relationship.decider, records)
            await write_relationship(tx, state)

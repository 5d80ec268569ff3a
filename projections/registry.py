"""Every projection the worker runs, and the engine they write through."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from projections.dialogues import DialogueProjection
from projections.projection import Projection
from projections.relationship_facts import RelationshipFactsProjection
from projections.timeline import TimelineProjection
from projections.visits import VisitProjection
from store.database import SESSION_SETTINGS, sqlalchemy_url

PROJECTIONS: tuple[Projection, ...] = (
    DialogueProjection(),
    VisitProjection(),
    RelationshipFactsProjection(),
    TimelineProjection(),
)
NAMES = tuple(p.name for p in PROJECTIONS)


def create_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    """SQLAlchemy's async engine (asyncpg underneath) for read-model writes and queries."""
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        connect_args={"server_settings": dict(SESSION_SETTINGS)},
    )

"""The read models: plain relational tables in the `reporting` schema, for reporting tools.

SQLAlchemy Core describes them once, for queries and for the projections that fill them;
Alembic (migration 0003) creates them. Partial dates appear as three columns: the
half-open interval's start and end and the original wording, plus its precision where a
reader needs it. Session, outcome, progress, indicator and milestone rows are keyed by
their owner and their id (migration 0012): a log that uses one id in two streams (or a
progress id under two outcomes) still projects.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

SCHEMA = "reporting"
metadata = MetaData(schema=SCHEMA)


def _window(prefix: str) -> list[Column[object]]:
    """A partial date as columns a spreadsheet can filter on."""
    return [
        Column(f"{prefix}_from", Date),
        Column(f"{prefix}_to", Date),
        Column(f"{prefix}_wording", Text),
        Column(f"{prefix}_precision", Text),
    ]


dialogues = Table(
    "dialogues",
    metadata,
    Column("dialogue_id", Uuid, primary_key=True),
    Column("name", Text, nullable=False),
    Column("acronym", Text),
    Column("format", Text, nullable=False),
    Column("parties", ARRAY(Text), nullable=False),
    Column("cadence", Text),
    Column("status", Text, nullable=False),
    Column("leads", JSONB, nullable=False),
    Column("sessions_planned", Integer, nullable=False),
    Column("sessions_held", Integer, nullable=False),
    Column("outcomes_adopted", Integer, nullable=False),
    Column("last_session_from", Date),
    Column("next_session_from", Date),
    Column("launched_by_outcome_id", Uuid),
)

sessions = Table(
    "sessions",
    metadata,
    Column("session_id", Uuid, primary_key=True),
    Column("dialogue_id", Uuid, primary_key=True, index=True),  # ids are per dialogue
    Column("status", Text, nullable=False),
    *_window("planned"),
    *_window("held"),
    Column("place_city", Text),
    Column("place_country", Text),
    Column("host", Text),
    Column("format", Text),
    Column("heads", JSONB, nullable=False),
    Column("members", JSONB, nullable=False),
    Column("topics", ARRAY(Text), nullable=False),
    Column("statements", JSONB, nullable=False),
    Column("summary", Text),
    Column("sources", JSONB, nullable=False),
    Column("level", Text),  # migration 0015
    Column("first_at_level", Boolean, nullable=False, server_default="false"),
    Column("is_upcoming", Boolean, nullable=False, server_default="false"),  # migration 0014
)

outcomes = Table(
    "outcomes",
    metadata,
    Column("outcome_id", Uuid, primary_key=True),
    Column("dialogue_id", Uuid, primary_key=True, index=True),  # ids are per dialogue
    Column("session_id", Uuid, nullable=False),
    Column("kind", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("responsible", ARRAY(Text), nullable=False),
    *_window("target"),
    *_window("adopted"),
    Column("status", Text, nullable=False),
    Column("latest_progress", Text),
    Column("latest_progress_from", Date),
    Column("progress_count", Integer, nullable=False),
    Column("compliance", JSONB, nullable=False),
    Column("leads_to", JSONB, nullable=False),
    Column("frameworks", ARRAY(Text), nullable=False),
    Column("pledges", JSONB, nullable=False, server_default="[]"),
    Column("is_final", Boolean, nullable=False, server_default="false"),
)

outcome_progress = Table(
    "outcome_progress",
    metadata,
    Column("progress_id", Uuid, primary_key=True),
    Column("outcome_id", Uuid, primary_key=True, index=True),  # ids are per outcome
    Column("dialogue_id", Uuid, primary_key=True, index=True),
    Column("note", Text, nullable=False),
    *_window("on"),
    Column("evidence", JSONB, nullable=False),
)

visits = Table(
    "visits",
    metadata,
    Column("visit_id", Uuid, primary_key=True),
    Column("status", Text, nullable=False),
    Column("visitor_name", Text, nullable=False),
    Column("visitor_title", Text),
    Column("visitor_party", Text, nullable=False),
    Column("host", Text, nullable=False),
    Column("destination_city", Text),
    Column("destination_country", Text),
    *_window("window"),
    *_window("dates"),
    Column("purpose", Text),
    Column("outcome_id", Uuid),
    Column("dialogue_id", Uuid),  # migration 0015
    Column("session_id", Uuid),
    Column("is_open", Boolean, nullable=False, server_default="false"),  # migration 0014
)

indicators = Table(
    "indicators",
    metadata,
    Column("indicator_id", Uuid, primary_key=True),
    Column("parties", ARRAY(Text), primary_key=True, index=True),  # ids are per pair
    Column("name", Text, nullable=False),
    *_window("period"),
    Column("value", Numeric, nullable=False),
    Column("unit", Text, nullable=False),
    Column("approximation", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("subject", Text),
    Column("note", Text),
    Column("source", JSONB),
)

milestones = Table(
    "milestones",
    metadata,
    Column("milestone_id", Uuid, primary_key=True),
    Column("parties", ARRAY(Text), primary_key=True, index=True),  # ids are per pair
    Column("kind", Text, nullable=False),
    Column("description", Text, nullable=False),
    *_window("on"),
    Column("source", JSONB),
)

timeline = Table(
    "relationship_timeline",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("parties", ARRAY(Text), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    *_window("occurred"),
    Column("event_type", Text, nullable=False),
    Column("stream_id", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("actor", Text),
    Index("ix_timeline_stream_recorded", "stream_id", "recorded_at"),  # migration 0006
)

APPLY_INDEXES = frozenset(
    str(index.name)
    for table in metadata.tables.values()
    for index in table.indexes
    if [column.name for column in index.columns] == ["dialogue_id"]
)
"""The indexes the projections' own statements need (the dialogues projection replaces a
dialogue's rows by dialogue_id): a rebuild's shadow has them from the start, the others
only once it has caught up (projections.rebuild)."""

PROJECTION_STATE = "projection_state"
"""Bookkeeping lives outside `reporting`, so swapping a rebuilt model never moves it."""

stream_versions = Table(
    "stream_versions",
    metadata,
    Column("projection", Text, primary_key=True),
    Column("stream_id", Text, primary_key=True),
    Column("version", BigInteger, nullable=False),
    schema=PROJECTION_STATE,
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("projection", Text, primary_key=True),
    Column("transaction_id", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("events_applied", BigInteger, nullable=False),
    Column("last_event_recorded_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("state", Text, nullable=False),
    Column("rebuild_requested_at", DateTime(timezone=True)),
    Column("last_error", Text),
    schema=PROJECTION_STATE,
)

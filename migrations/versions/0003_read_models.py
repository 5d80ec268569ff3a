"""The reporting read models and the projections' bookkeeping.

Revision ID: 0003_read_models
Revises: 0002_api_keys
Create Date: 2026-11-29

Frozen DDL (generated once from projections/tables.py): a later change to the tables is a
new migration, never an edit here.
"""

from collections.abc import Sequence

from migrations.sql_script import run

revision: str = "0003_read_models"
down_revision: str | None = "0002_api_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE SCHEMA IF NOT EXISTS reporting;
CREATE SCHEMA IF NOT EXISTS projection_state;

CREATE TABLE projection_state.checkpoints (
    projection TEXT NOT NULL,
    transaction_id BIGINT NOT NULL,
    position BIGINT NOT NULL,
    events_applied BIGINT NOT NULL,
    last_event_recorded_at TIMESTAMP WITH TIME ZONE,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    state TEXT NOT NULL,
    rebuild_requested_at TIMESTAMP WITH TIME ZONE,
    last_error TEXT,
    PRIMARY KEY (projection)
);

CREATE TABLE projection_state.stream_versions (
    projection TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (projection, stream_id)
);

CREATE TABLE reporting.dialogues (
    dialogue_id UUID NOT NULL,
    name TEXT NOT NULL,
    acronym TEXT,
    format TEXT NOT NULL,
    parties TEXT[] NOT NULL,
    cadence TEXT,
    status TEXT NOT NULL,
    leads JSONB NOT NULL,
    sessions_planned INTEGER NOT NULL,
    sessions_held INTEGER NOT NULL,
    outcomes_adopted INTEGER NOT NULL,
    last_session_from DATE,
    next_session_from DATE,
    launched_by_outcome_id UUID,
    PRIMARY KEY (dialogue_id)
);

CREATE TABLE reporting.indicators (
    indicator_id UUID NOT NULL,
    parties TEXT[] NOT NULL,
    name TEXT NOT NULL,
    period_from DATE,
    period_to DATE,
    period_wording TEXT,
    period_precision TEXT,
    value NUMERIC NOT NULL,
    unit TEXT NOT NULL,
    approximation TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT,
    note TEXT,
    source JSONB,
    PRIMARY KEY (indicator_id)
);

CREATE TABLE reporting.milestones (
    milestone_id UUID NOT NULL,
    parties TEXT[] NOT NULL,
    kind TEXT NOT NULL,
    description TEXT NOT NULL,
    on_from DATE,
    on_to DATE,
    on_wording TEXT,
    on_precision TEXT,
    source JSONB,
    PRIMARY KEY (milestone_id)
);

CREATE TABLE reporting.outcome_progress (
    progress_id UUID NOT NULL,
    outcome_id UUID NOT NULL,
    dialogue_id UUID NOT NULL,
    note TEXT NOT NULL,
    on_from DATE,
    on_to DATE,
    on_wording TEXT,
    on_precision TEXT,
    evidence JSONB NOT NULL,
    PRIMARY KEY (progress_id)
);

CREATE INDEX ix_reporting_outcome_progress_outcome_id ON reporting.outcome_progress (outcome_id);

CREATE TABLE reporting.outcomes (
    outcome_id UUID NOT NULL,
    dialogue_id UUID NOT NULL,
    session_id UUID NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    responsible TEXT[] NOT NULL,
    target_from DATE,
    target_to DATE,
    target_wording TEXT,
    target_precision TEXT,
    adopted_from DATE,
    adopted_to DATE,
    adopted_wording TEXT,
    adopted_precision TEXT,
    status TEXT NOT NULL,
    latest_progress TEXT,
    latest_progress_from DATE,
    progress_count INTEGER NOT NULL,
    compliance JSONB NOT NULL,
    leads_to JSONB NOT NULL,
    frameworks TEXT[] NOT NULL,
    PRIMARY KEY (outcome_id)
);

CREATE INDEX ix_reporting_outcomes_dialogue_id ON reporting.outcomes (dialogue_id);

CREATE TABLE reporting.relationship_timeline (
    position BIGINT NOT NULL,
    parties TEXT[] NOT NULL,
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL,
    occurred_from DATE,
    occurred_to DATE,
    occurred_wording TEXT,
    occurred_precision TEXT,
    event_type TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    summary TEXT NOT NULL,
    actor TEXT,
    PRIMARY KEY (position)
);

CREATE TABLE reporting.sessions (
    session_id UUID NOT NULL,
    dialogue_id UUID NOT NULL,
    status TEXT NOT NULL,
    planned_from DATE,
    planned_to DATE,
    planned_wording TEXT,
    planned_precision TEXT,
    held_from DATE,
    held_to DATE,
    held_wording TEXT,
    held_precision TEXT,
    place_city TEXT,
    place_country TEXT,
    host TEXT,
    format TEXT,
    heads JSONB NOT NULL,
    members JSONB NOT NULL,
    topics TEXT[] NOT NULL,
    statements JSONB NOT NULL,
    summary TEXT,
    sources JSONB NOT NULL,
    PRIMARY KEY (session_id)
);

CREATE INDEX ix_reporting_sessions_dialogue_id ON reporting.sessions (dialogue_id);

CREATE TABLE reporting.visits (
    visit_id UUID NOT NULL,
    status TEXT NOT NULL,
    visitor_name TEXT NOT NULL,
    visitor_title TEXT,
    visitor_party TEXT NOT NULL,
    host TEXT NOT NULL,
    destination_city TEXT,
    destination_country TEXT,
    window_from DATE,
    window_to DATE,
    window_wording TEXT,
    window_precision TEXT,
    dates_from DATE,
    dates_to DATE,
    dates_wording TEXT,
    dates_precision TEXT,
    purpose TEXT,
    outcome_id UUID,
    PRIMARY KEY (visit_id)
);

CREATE INDEX ix_reporting_outcome_progress_dialogue_id ON reporting.outcome_progress (dialogue_id);

CREATE INDEX ix_reporting_indicators_parties ON reporting.indicators (parties);

CREATE INDEX ix_reporting_milestones_parties ON reporting.milestones (parties);

CREATE INDEX ix_timeline_parties ON reporting.relationship_timeline USING gin (parties);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'entente_app') THEN
        GRANT USAGE, CREATE ON SCHEMA reporting, projection_state TO entente_app;
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA reporting, projection_state
            TO entente_app;
    END IF;
END $$;
"""


def upgrade() -> None:
    """Create the read-model and bookkeeping schemas."""
    run(UPGRADE)


def downgrade() -> None:
    """Drop them; the events they were built from are untouched."""
    run("DROP SCHEMA IF EXISTS reporting_rebuild CASCADE")
    run("DROP SCHEMA IF EXISTS reporting_retired CASCADE")
    run("DROP SCHEMA reporting CASCADE")
    run("DROP SCHEMA projection_state CASCADE")

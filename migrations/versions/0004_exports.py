"""Export schedules and runs.

Revision ID: 0004_exports
Revises: 0003_read_models
Create Date: 2026-11-29

Runs are claimed with FOR UPDATE SKIP LOCKED and held by a lease (lease_until), not by an
open transaction: a long transaction would hold back the event log's read horizon.
"""

from collections.abc import Sequence

from migrations.sql_script import run

revision: str = "0004_exports"
down_revision: str | None = "0003_read_models"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE SCHEMA IF NOT EXISTS exports;

CREATE TABLE exports.schedules (
    schedule_id  uuid        PRIMARY KEY,
    name         text        NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    cron         text        NOT NULL,
    timezone     text        NOT NULL,
    report       text        NOT NULL,
    parameters   jsonb       NOT NULL DEFAULT '{}',
    format       text        NOT NULL,
    destination  text        NOT NULL CHECK (destination ~ '^[A-Za-z0-9_.-]{1,64}$'),
    retention    integer     NOT NULL CHECK (retention BETWEEN 1 AND 1000),
    paused       boolean     NOT NULL DEFAULT false,
    next_run_at  timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE exports.runs (
    run_id          uuid        PRIMARY KEY,
    schedule_id     uuid        REFERENCES exports.schedules ON DELETE SET NULL,
    report          text        NOT NULL,
    parameters      jsonb       NOT NULL,
    format          text        NOT NULL,
    destination     text        NOT NULL,
    due_at          timestamptz NOT NULL,
    status          text        NOT NULL CHECK (status IN
                        ('due', 'running', 'retrying', 'succeeded', 'failed', 'expired')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    lease_until     timestamptz,
    claimed_by      text,
    started_at      timestamptz,
    finished_at     timestamptz,
    position        text,
    row_count       integer,
    sha256          text,
    file_name       text,
    manifest        jsonb,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT runs_once_per_due_time UNIQUE (schedule_id, due_at)
);
CREATE INDEX runs_claimable ON exports.runs (next_attempt_at)
    WHERE status IN ('due', 'retrying', 'running');

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'entente_app') THEN
        GRANT USAGE ON SCHEMA exports TO entente_app;
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA exports TO entente_app;
    END IF;
END $$;
"""


def upgrade() -> None:
    """Create the export schedules and runs."""
    run(UPGRADE)


def downgrade() -> None:
    """Drop them (files already written stay where they are)."""
    run("DROP SCHEMA exports CASCADE")

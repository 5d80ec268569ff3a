"""Calendar feed tokens: read-only capabilities for one feed, stored hashed.

Revision ID: 0008_calendar_tokens
Revises: 0006_timeline_by_stream
Create Date: 2026-12-02

A calendar client can only put a secret in the URL it polls, and URLs end up in logs,
browser histories and shared calendars. So the feed takes its own tokens, never an API
key: each opens only `/calendar.ics` (optionally narrowed to one party), is listed and
revoked on its own, and is stored as a SHA-256 hash like an API key. Like keys, tokens
are access records, not facts about diplomacy, so the application role may revoke them
(update revoked_at).
"""

from collections.abc import Sequence

from migrations.sql_script import run

revision: str = "0008_calendar_tokens"
down_revision: str | None = "0007_least_privilege"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE TABLE access.calendar_tokens (
    token_id    text        PRIMARY KEY,
    secret_hash bytea       NOT NULL,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    owner       text        NOT NULL,
    party       text        CHECK (party ~ '^[A-Z]{2}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX ix_calendar_tokens_owner ON access.calendar_tokens (owner, created_at);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'entente_app') THEN
        GRANT USAGE ON SCHEMA access TO entente_app;
        GRANT SELECT, INSERT, UPDATE (revoked_at) ON access.calendar_tokens TO entente_app;
    END IF;
END $$;
"""


def upgrade() -> None:
    """Create the token table (and grant the application role what it needs)."""
    run(UPGRADE)


def downgrade() -> None:
    """Drop it."""
    run("DROP TABLE access.calendar_tokens")

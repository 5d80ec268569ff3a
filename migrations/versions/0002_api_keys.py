"""API keys: a name, roles, and only a hash of the secret.

Revision ID: 0002_api_keys
Revises: 0001_event_store
Create Date: 2026-11-29

Keys are not events: revoking one is an administrative act on access, not a fact about
diplomacy, so this table may be updated (revoked_at) by the application role.
"""

from collections.abc import Sequence

from migrations.sql_script import run

revision: str = "0002_api_keys"
down_revision: str | None = "0001_event_store"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE SCHEMA IF NOT EXISTS access;
CREATE TABLE access.api_keys (
    name        text        PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    key_id      text        NOT NULL UNIQUE,
    secret_hash bytea       NOT NULL,
    roles       text[]      NOT NULL CHECK (roles <@ ARRAY['reader', 'writer', 'auditor', 'admin']
                                            AND cardinality(roles) > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'entente_app') THEN
        GRANT USAGE ON SCHEMA access TO entente_app;
        GRANT SELECT, INSERT, UPDATE (revoked_at) ON access.api_keys TO entente_app;
    END IF;
END $$;
"""


def upgrade() -> None:
    """Create the key table."""
    run(UPGRADE)


def downgrade() -> None:
    """Drop it."""
    run("DROP SCHEMA access CASCADE")

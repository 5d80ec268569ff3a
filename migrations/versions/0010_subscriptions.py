"""Webhook subscriptions: where to push events, from which position, and every attempt.

Revision ID: 0010_subscriptions
Revises: 0009_transparency_log
Create Date: 2026-12-02

A subscription is a server-side cursor (like a projection's checkpoint) plus a target
URL, filters and a signing secret. The secret is kept as issued: Standard Webhooks signs
with an HMAC, so the worker needs the secret itself, not a hash of it (docs/INTEGRATION.md
says what that means for whoever can read the table). The delivery log keeps each
attempt (status, latency, error) for GET /subscriptions/{id}/deliveries.

Both tables live in their own schema `webhooks`; the application role reads and writes
them (they are integration settings and a log, not facts of the register).
"""

from collections.abc import Sequence

from migrations.sql_script import run

revision: str = "0010_subscriptions"
down_revision: str | None = "0009_transparency_log"
"""Chained after main's latest migration when main was merged in; rechain it after
whatever main's head is when this branch is merged (its number says nothing of order)."""
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE SCHEMA IF NOT EXISTS webhooks;
CREATE TABLE webhooks.subscriptions (
    subscription_id       uuid        PRIMARY KEY,
    owner                 text        NOT NULL,
    target_url            text        NOT NULL CHECK (length(target_url) BETWEEN 1 AND 2000),
    secret                text        NOT NULL,
    stream_prefix         text,
    event_types           text[],
    parties               text[],
    cursor_transaction_id bigint      NOT NULL,
    cursor_position       bigint      NOT NULL,
    state                 text        NOT NULL DEFAULT 'active'
                                      CHECK (state IN ('active', 'paused', 'failing')),
    failures              integer     NOT NULL DEFAULT 0,
    last_error            text,
    next_attempt_at       timestamptz,
    last_delivered_at     timestamptz,
    created_by            text        NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_subscriptions_owner ON webhooks.subscriptions (owner, created_at);
CREATE TABLE webhooks.deliveries (
    attempt_id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id uuid        NOT NULL
                                REFERENCES webhooks.subscriptions ON DELETE CASCADE,
    webhook_id      text        NOT NULL,
    attempted_at    timestamptz NOT NULL DEFAULT now(),
    event_count     integer     NOT NULL,
    first_position  bigint      NOT NULL,
    last_position   bigint      NOT NULL,
    status_code     integer,
    latency_ms      double precision NOT NULL,
    error           text,
    delivered       boolean     NOT NULL
);
CREATE INDEX ix_deliveries_subscription ON webhooks.deliveries (subscription_id, attempt_id);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'entente_app') THEN
        GRANT USAGE ON SCHEMA webhooks TO entente_app;
        GRANT SELECT, INSERT, UPDATE, DELETE ON webhooks.subscriptions, webhooks.deliveries
            TO entente_app;
    END IF;
END $$;
"""


def upgrade() -> None:
    """Create the webhooks schema (and grant the application role what it needs)."""
    run(UPGRADE)


def downgrade() -> None:
    """Drop it."""
    run("DROP SCHEMA webhooks CASCADE")

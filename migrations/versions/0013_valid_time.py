"""Pledges and the domain's final-status decision on the outcomes read model (issue 12).

Revision ID: 0013_valid_time
Revises: 0009_transparency_log (main's head when merged; 0012 before it)
Create Date: 2026-12-02

Outcome terms may now carry pledges (decimal amount, ISO 4217 currency, programme,
pledging party); the outcomes read model keeps them as a JSONB list so the `pledges`
report can total them (outcomes recorded before have none). `is_final` stores what the
domain decides (`domain.facts.is_final`), so listings and reports filter on it instead of
restating the final statuses in SQL; rows projected before this revision are filled once
here. Both columns are added in `reporting` and in a rebuild under way (its tables were
made LIKE the live ones and replace them at the swap); the tables stay entente_app's.
"""

from collections.abc import Sequence

from migrations.sql_script import each_read_model_table, run

revision: str = "0013_valid_time"
down_revision: str | None = "0010_subscriptions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINAL_AS_OF_THIS_REVISION = (
    "''fulfilled'', ''partially fulfilled'', ''lapsed'', ''superseded'', ''withdrawn''"
)


def _each_outcomes_table(statement: str) -> str:
    """`statement` (with %1$s for the table) for every outcomes table of the read models."""
    return each_read_model_table("outcomes", statement)


def upgrade() -> None:
    run(
        _each_outcomes_table(
            "ALTER TABLE %1$s ADD COLUMN IF NOT EXISTS pledges jsonb NOT NULL DEFAULT ''[]'',"
            " ADD COLUMN IF NOT EXISTS is_final boolean NOT NULL DEFAULT false"
        )
    )
    run(_each_outcomes_table(f"UPDATE %1$s SET is_final = status IN ({FINAL_AS_OF_THIS_REVISION})"))


def downgrade() -> None:
    run(
        _each_outcomes_table(
            "ALTER TABLE %1$s DROP COLUMN IF EXISTS is_final, DROP COLUMN IF EXISTS pledges"
        )
    )

"""Pledges on outcomes: money as structured amounts (issue 12).

Revision ID: 0013_valid_time
Revises: 0012_entity_keys
Create Date: 2026-12-02

Outcome terms may now carry pledges (decimal amount, ISO 4217 currency, programme,
pledging party). The outcomes read model keeps them as a JSONB list so the `pledges`
report can total them; outcomes recorded before have none, hence the empty default.
The column is added in `reporting` and in a rebuild under way (its tables were made
LIKE the live ones and replace them at the swap); the tables stay entente_app's.
"""

from collections.abc import Sequence

from migrations.sql_script import run

revision: str = "0013_valid_time"
down_revision: str | None = "0012_entity_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _each_outcomes_table(action: str) -> str:
    return f"""
DO $$
DECLARE
    item record;
BEGIN
    FOR item IN
        SELECT c.oid::regclass AS relation FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = 'outcomes' AND c.relkind = 'r'
          AND n.nspname IN ('reporting', 'reporting_rebuild')
    LOOP
        EXECUTE format('ALTER TABLE %s {action}', item.relation);
    END LOOP;
END $$;
"""


def upgrade() -> None:
    run(_each_outcomes_table("ADD COLUMN IF NOT EXISTS pledges jsonb NOT NULL DEFAULT ''[]''"))


def downgrade() -> None:
    run(_each_outcomes_table("DROP COLUMN IF EXISTS pledges"))

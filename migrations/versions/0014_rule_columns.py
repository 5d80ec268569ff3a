"""The domain's "upcoming session" and "open visit" decisions on the read models (issue 12).

Revision ID: 0014_rule_columns
Revises: 0013_valid_time
Create Date: 2026-12-02

`sessions.is_upcoming` (`domain.dialogue.is_upcoming`) and `visits.is_open`
(`domain.visit.is_open`) store what the domain decides, as `outcomes.is_final` does
(0013), so the calendar filters on them instead of restating the statuses in SQL. The
projections fill them from now on (and on any rebuild); rows projected before this
revision are filled once here with the rule as it stands at this revision. The columns
are added in `reporting` and in a rebuild under way (its tables were made LIKE the live
ones and replace them at the swap); the tables stay entente_app's.
"""

from collections.abc import Sequence

from migrations.sql_script import each_read_model_table, run

revision: str = "0014_rule_columns"
down_revision: str | None = "0015_register_depth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RULES = {
    "sessions": ("is_upcoming", "''scheduled'', ''postponed''"),
    "visits": ("is_open", "''planned'', ''confirmed'', ''postponed''"),
}
"""Each table's column and the statuses it means as of this revision (quoted for format)."""


def upgrade() -> None:
    for table, (column, statuses) in RULES.items():
        run(
            each_read_model_table(
                table,
                f"ALTER TABLE %1$s ADD COLUMN IF NOT EXISTS {column} boolean NOT NULL"
                " DEFAULT false",
            )
        )
        run(each_read_model_table(table, f"UPDATE %1$s SET {column} = status IN ({statuses})"))


def downgrade() -> None:
    for table, (column, _) in RULES.items():
        run(each_read_model_table(table, f"ALTER TABLE %1$s DROP COLUMN IF EXISTS {column}"))

"""Session levels and visits that belong to a dialogue and a session, on the read models.

Revision ID: 0015_register_depth
Revises: 0013_valid_time
Create Date: 2026-12-02

A session may now say its level (expert, working, senior officials, ministerial,
leaders); `sessions.level` keeps it and `sessions.first_at_level` what the domain decides
(`domain.dialogue.Session.first_at_level`: the dialogue's earliest held session at that
level), so "the first ministerial meeting" is a filter on a column, never a rule restated
in SQL. A visit may name the dialogue and session it belongs to (`visits.dialogue_id`,
`visits.session_id`). Rows projected before this revision came from events that could not
say any of this, so the defaults (null, false) are what a rebuild gives them too.
"""

from collections.abc import Sequence

from migrations.sql_script import each_read_model_table, run

revision: str = "0015_register_depth"
down_revision: str | None = "0013_valid_time"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run(
        each_read_model_table(
            "sessions",
            "ALTER TABLE %1$s ADD COLUMN IF NOT EXISTS level text,"
            " ADD COLUMN IF NOT EXISTS first_at_level boolean NOT NULL DEFAULT false",
        )
    )
    run(
        each_read_model_table(
            "visits",
            "ALTER TABLE %1$s ADD COLUMN IF NOT EXISTS dialogue_id uuid,"
            " ADD COLUMN IF NOT EXISTS session_id uuid",
        )
    )


def downgrade() -> None:
    run(
        each_read_model_table(
            "visits",
            "ALTER TABLE %1$s DROP COLUMN IF EXISTS session_id, DROP COLUMN IF EXISTS dialogue_id",
        )
    )
    run(
        each_read_model_table(
            "sessions",
            "ALTER TABLE %1$s DROP COLUMN IF EXISTS first_at_level, DROP COLUMN IF EXISTS level",
        )
    )

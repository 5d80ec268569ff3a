"""Index the relationship timeline by stream and recorded time.

Revision ID: 0006_timeline_by_stream
Revises: 0005_set_based_appends
Create Date: 2026-11-29

The calendar feed stamps each session and visit with the last time its stream changed
(`max(recorded_at) ... WHERE stream_id = ...`), one lookup per entry: without this index
each was a scan of the whole timeline. Rebuilt and snapshot tables copy it (LIKE ...
INCLUDING ALL).
"""

from collections.abc import Sequence

from migrations.sql_script import run

revision: str = "0006_timeline_by_stream"
down_revision: str | None = "0005_set_based_appends"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the index (a table as large as the log takes a while; see OPERATIONS.md)."""
    run(
        "CREATE INDEX IF NOT EXISTS ix_timeline_stream_recorded"
        " ON reporting.relationship_timeline (stream_id, recorded_at)"
    )


def downgrade() -> None:
    """Drop it."""
    run("DROP INDEX IF EXISTS reporting.ix_timeline_stream_recorded")

"""On-demand export runs expire; each records the API key that asked for it.

Revision ID: 0020_on_demand_export_retention
Revises: 0019_one_statement_batches
Create Date: 2026-12-04

Scheduled runs keep their schedule's newest `retention` files (0004); on-demand runs (API,
`schedule_id` NULL) kept theirs forever, so any reader could fill the disk. Now:

- `expires_at`: when an on-demand run's file goes (set when it succeeds, from
  ENTENTE_EXPORT_KEEP_HOURS; NULL for scheduled runs). The export worker's sweep finds the
  runs due with `runs_expiring`, marks them 'expired' and removes their files; the row
  stays, as a schedule's expired runs do (the record of what was exported, at which
  position, with which checksum). Runs already on disk expire 24 hours after they finished.
- `requested_by`: the name of the API key that asked (key names are never reused:
  revoked keys keep their row). `runs_in_progress_by_key` counts a key's queued and
  running exports, which the API caps (ENTENTE_EXPORT_JOBS_PER_KEY).
- `runs_kept_files`: whether another run still holds a file. File names are
  deterministic (report, format, position, parameters), so two runs at one position share
  one file: a file is removed only when no succeeded run names it.

The service's role already has SELECT, INSERT, UPDATE on exports.runs (0004, 0007), which
covers new columns; runs are never deleted.
"""

from collections.abc import Sequence

from migrations.sql_script import run

revision: str = "0020_on_demand_export_retention"
down_revision: str | None = "0019_one_statement_batches"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
ALTER TABLE exports.runs
    ADD COLUMN IF NOT EXISTS expires_at   timestamptz,
    ADD COLUMN IF NOT EXISTS requested_by text;

UPDATE exports.runs SET expires_at = coalesce(finished_at, created_at) + interval '24 hours'
WHERE schedule_id IS NULL AND destination = 'on-demand' AND status = 'succeeded'
  AND expires_at IS NULL;

CREATE INDEX IF NOT EXISTS runs_expiring ON exports.runs (expires_at)
    WHERE status = 'succeeded' AND expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_in_progress_by_key ON exports.runs (requested_by)
    WHERE status IN ('due', 'retrying', 'running') AND requested_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_kept_files ON exports.runs (destination, file_name)
    WHERE status = 'succeeded';
"""

DOWNGRADE = """
DROP INDEX IF EXISTS exports.runs_kept_files;
DROP INDEX IF EXISTS exports.runs_in_progress_by_key;
DROP INDEX IF EXISTS exports.runs_expiring;
ALTER TABLE exports.runs DROP COLUMN IF EXISTS requested_by, DROP COLUMN IF EXISTS expires_at;
"""


def upgrade() -> None:
    """Add expiry and requester to export runs, with the indexes the sweep and cap use."""
    run(UPGRADE)


def downgrade() -> None:
    """Drop them (expired runs stay 'expired'; their files are gone already)."""
    run(DOWNGRADE)

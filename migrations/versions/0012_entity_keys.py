"""Entity ids unique across the register; read-model keys that include the owning stream.

Revision ID: 0012_entity_keys
Revises: 0008_calendar_tokens
Create Date: 2026-12-02

Session and outcome ids are unique within a dialogue only, progress ids within an
outcome only, indicator and milestone ids within a pair only (each stream's decider sees
its own stream). The read models keyed them by the id alone, so one id used in two
streams (or a progress id under two outcomes) made a projection batch fail on the
primary key forever, and an indicator of one pair could delete another's.

- Read models: the primary keys now include the owner, (dialogue_id, id),
  (dialogue_id, outcome_id, progress_id) or (parties, id), so any log, including one
  that already reuses ids, projects.
- Commands: `event_store.entity_ids` holds which stream claimed each session, outcome,
  indicator and milestone id first, filled
  here from the log (first use in the global order wins) and by
  `event_store.claim_entity_ids` before a command bringing in a new id is appended
  (store/entity_ids.py); another stream's claim is a 409.
"""

from collections.abc import Sequence

from migrations.sql_script import run

revision: str = "0012_entity_keys"
down_revision: str | None = "0008_calendar_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = {
    "sessions": ("dialogue_id", "session_id"),
    "outcomes": ("dialogue_id", "outcome_id"),
    "outcome_progress": ("dialogue_id, outcome_id", "progress_id"),
    "indicators": ("parties", "indicator_id"),
    "milestones": ("parties", "milestone_id"),
}


def _rekey(composite: bool) -> str:
    """Re-key the read-model tables in `reporting` and in a rebuild under way (its tables
    were made LIKE the live ones and replace them at the swap)."""
    statements = []
    for table, (owner, ident) in KEYS.items():
        columns = f"{owner}, {ident}" if composite else ident
        statements.append(
            f"""
    FOR item IN
        SELECT c.conrelid::regclass AS relation, c.conname FROM pg_constraint c
        JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE c.contype = 'p' AND t.relname = '{table}'
          AND n.nspname IN ('reporting', 'reporting_rebuild')
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I, ADD PRIMARY KEY ({columns})',
                       item.relation, item.conname);
    END LOOP;"""
        )
    return "DO $$\nDECLARE\n    item record;\nBEGIN" + "".join(statements) + "\nEND $$;\n"


UPGRADE = r"""
CREATE TABLE event_store.entity_ids (
    kind      text NOT NULL,
    entity_id uuid NOT NULL,
    stream_id text NOT NULL,
    PRIMARY KEY (kind, entity_id)
);

INSERT INTO event_store.entity_ids (kind, entity_id, stream_id)
SELECT DISTINCT ON (c.kind, c.entity_id) c.kind, c.entity_id, c.stream_id
FROM (
    SELECT t.kind, (e.data ->> t.field)::uuid AS entity_id, e.stream_id, e.transaction_id,
           e.position
    FROM event_store.events e
    JOIN (VALUES ('SessionScheduled', 'session', 'session_id'),
                 ('SessionHeld', 'session', 'session_id'),
                 ('OutcomeAdopted', 'outcome', 'outcome_id'),
                 ('IndicatorRecorded', 'indicator', 'indicator_id'),
                 ('MilestoneRecorded', 'milestone', 'milestone_id'))
         AS t(type, kind, field) ON t.type = e.type
) c
ORDER BY c.kind, c.entity_id, c.transaction_id, c.position;

-- Claims every (kind, id) not yet claimed for p_stream_id and returns the ones another
-- stream claimed first. Each statement of a plpgsql function sees what committed before
-- it began, so the SELECT sees a rival claim that the INSERT waited for and skipped.
CREATE FUNCTION event_store.claim_entity_ids(p_stream_id text, p_kinds text[], p_ids uuid[])
RETURNS TABLE (kind text, entity_id uuid, stream_id text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    INSERT INTO event_store.entity_ids AS c (kind, entity_id, stream_id)
    SELECT w.kind, w.entity_id, p_stream_id
    FROM unnest(p_kinds, p_ids) AS w(kind, entity_id)
    ORDER BY 1, 2  -- two claimers of the same ids meet in one order
    ON CONFLICT DO NOTHING;
    RETURN QUERY
    SELECT c.kind, c.entity_id, c.stream_id
    FROM event_store.entity_ids c
    JOIN unnest(p_kinds, p_ids) AS w(kind, entity_id)
      ON (c.kind, c.entity_id) = (w.kind, w.entity_id)
    WHERE c.stream_id <> p_stream_id
    ORDER BY 1, 2;
END $$;
REVOKE ALL ON FUNCTION event_store.claim_entity_ids(text, text[], uuid[]) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'entente_app') THEN
        GRANT SELECT ON event_store.entity_ids TO entente_app;
        GRANT EXECUTE ON FUNCTION event_store.claim_entity_ids(text, text[], uuid[])
            TO entente_app;
    END IF;
END $$;
"""


def upgrade() -> None:
    """Create the claims (from the log) and re-key the read models by stream and id."""
    run(UPGRADE)
    run(_rekey(composite=True))


def downgrade() -> None:
    """Back to keys by id alone (fails, changing nothing, if a read model holds one id
    for two streams: rebuild it from a log without such reuse first)."""
    run(_rekey(composite=False))
    run("DROP FUNCTION event_store.claim_entity_ids(text, text[], uuid[])")
    run("DROP TABLE event_store.entity_ids")

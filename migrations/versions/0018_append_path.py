"""Append calls that carry their rows as ONE jsonb parameter (issue 15).

Revision ID: 0018_append_path
Revises: 0014_rule_columns
Create Date: 2026-12-02

`append_batch` (write combining) and `append` (several events for one stream) take ten
or twelve array arguments. asyncpg encodes every element of every array in Python, with
`isinstance` checks against the collections ABCs for each one (~1,200 per combined call,
a tenth of the client's CPU in a profile of 100-event batches). The two functions here
take the rows as one jsonb array the client encodes in a single call, unpack it
server-side into exactly the arrays the existing functions take, and call them: the
checks, the refusals (EE001 with the head version as detail, EE002), idempotency keys, the
hash chain, locking order and positions are those of `append_batch` and `append`
themselves, not a copy of them. Entity ids keep their own call (0012), and NOTIFY stays
with the client (store/event_store.py), so neither changes.

Row layout (JSON arrays, not objects, so the text stays short and the client builds
them without dicts); bytea values are base64, as the client's JSON encoder spells bytes:
- `append_batch_json(p_requests)`: one row per request, [stream_id, expected_version,
  event_id, type, schema_version, data, metadata, valid_from, valid_to, payload_hash,
  idempotency_key, fingerprint];
- `append_json(p_stream_id, p_expected_version, p_events, p_metadata, p_idempotency_key,
  p_fingerprint)`: one row per event, [event_id, type, schema_version, data, valid_from,
  valid_to, payload_hash]; the metadata, the same for every event of an append, is sent
  once.
"""

from collections.abc import Sequence

from migrations.sql_script import run

revision: str = "0018_append_path"
down_revision: str | None = "0014_rule_columns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
CREATE FUNCTION event_store.append_batch_json(
    p_requests jsonb,
    OUT out_positions bigint[], OUT out_versions bigint[], OUT out_transaction_ids bigint[],
    OUT out_replayed boolean[], OUT out_sqlstates text[], OUT out_messages text[],
    OUT out_details text[], OUT out_constraints text[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    a record;
BEGIN
    SELECT coalesce(array_agg(r->>0 ORDER BY r.i), '{}') AS streams,
           array_agg((r->>1)::bigint ORDER BY r.i) AS expected,
           array_agg((r->>2)::uuid ORDER BY r.i) AS ids,
           array_agg(r->>3 ORDER BY r.i) AS types,
           array_agg((r->>4)::integer ORDER BY r.i) AS schemas,
           array_agg(r->5 ORDER BY r.i) AS data,
           array_agg(r->6 ORDER BY r.i) AS metadata,
           array_agg((r->>7)::date ORDER BY r.i) AS valid_from,
           array_agg((r->>8)::date ORDER BY r.i) AS valid_to,
           array_agg(decode(r->>9, 'base64') ORDER BY r.i) AS hashes,
           array_agg(r->>10 ORDER BY r.i) AS keys,
           array_agg(decode(r->>11, 'base64') ORDER BY r.i) AS fingerprints
    INTO a
    FROM jsonb_array_elements(p_requests) WITH ORDINALITY AS r(r, i);
    SELECT b.out_positions, b.out_versions, b.out_transaction_ids, b.out_replayed,
           b.out_sqlstates, b.out_messages, b.out_details, b.out_constraints
    INTO out_positions, out_versions, out_transaction_ids, out_replayed, out_sqlstates,
         out_messages, out_details, out_constraints
    FROM event_store.append_batch(a.streams, a.expected, a.ids, a.types, a.schemas, a.data,
        a.metadata, a.valid_from, a.valid_to, a.hashes, a.keys, a.fingerprints) AS b;
END $$;
REVOKE ALL ON FUNCTION event_store.append_batch_json(jsonb) FROM PUBLIC;

CREATE FUNCTION event_store.append_json(
    p_stream_id text, p_expected_version bigint, p_events jsonb, p_metadata jsonb,
    p_idempotency_key text, p_fingerprint bytea,
    OUT out_positions bigint[], OUT out_version bigint, OUT out_transaction_id bigint,
    OUT out_replayed boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    a record;
BEGIN
    SELECT array_agg((r->>0)::uuid ORDER BY r.i) AS ids,
           array_agg(r->>1 ORDER BY r.i) AS types,
           array_agg((r->>2)::integer ORDER BY r.i) AS schemas,
           array_agg(r->3 ORDER BY r.i) AS data,
           array_agg(p_metadata ORDER BY r.i) AS metadata,
           array_agg((r->>4)::date ORDER BY r.i) AS valid_from,
           array_agg((r->>5)::date ORDER BY r.i) AS valid_to,
           array_agg(decode(r->>6, 'base64') ORDER BY r.i) AS hashes
    INTO a
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS r(r, i);
    SELECT b.out_positions, b.out_version, b.out_transaction_id, b.out_replayed
    INTO out_positions, out_version, out_transaction_id, out_replayed
    FROM event_store.append(p_stream_id, p_expected_version, a.ids, a.types, a.schemas,
        a.data, a.metadata, a.valid_from, a.valid_to, a.hashes, p_idempotency_key,
        p_fingerprint) AS b;
END $$;
REVOKE ALL ON FUNCTION event_store.append_json(text, bigint, jsonb, jsonb, text, bytea)
    FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'entente_app') THEN
        GRANT EXECUTE ON FUNCTION event_store.append_batch_json(jsonb),
            event_store.append_json(text, bigint, jsonb, jsonb, text, bytea) TO entente_app;
    END IF;
END $$;
"""


def upgrade() -> None:
    """Add the one-parameter append calls beside the array ones (which stay: an older
    client, or append_one, keeps working across the upgrade)."""
    run(UPGRADE)


def downgrade() -> None:
    """Drop the one-parameter calls; clients fall back to nothing, so downgrade the code
    first."""
    run("DROP FUNCTION event_store.append_json(text, bigint, jsonb, jsonb, text, bytea)")
    run("DROP FUNCTION event_store.append_batch_json(jsonb)")

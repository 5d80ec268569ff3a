"""Appends that write set by set: append_batch without subtransactions, append in one INSERT.

Revision ID: 0005_set_based_appends
Revises: 0004_exports
Create Date: 2026-11-29

0001's append_batch ran every request in its own subtransaction and issued four
statements per request. This one issues five statements per call, whatever the number of
requests: take the stream locks, read every head and idempotency key at once, decide each
request in plain variables (stale expected version, reused key, replay), insert every
accepted event in one INSERT and every new key in another. Refusals the rules name (EE001,
EE002) are returned per request as before. Anything else the server refuses (a unique,
check or data violation, a key raced by another client) now fails the whole call, which
rolls back entirely; the client then resends those requests one by one through
append_one, so each error still reaches its own caller only (store/event_store.py).

0001's append (several events for one stream) inserted its events one statement each;
this one computes the chain in plain variables and inserts them all in one statement.
"""

import importlib
from collections.abc import Sequence

from migrations.sql_script import run

revision: str = "0005_set_based_appends"
down_revision: str | None = "0004_exports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
-- Same signature and outputs as 0001's version. Stream locks are taken first, in
-- hashtext order, so combined calls of different clients cannot deadlock, and every read after
-- them sees what earlier holders of those locks committed (read committed, one snapshot
-- per statement). Stream ids are distinct within a call, so an inserted row finds its
-- request by stream id. Positions follow the request order, and all events share the
-- transaction id. The hash is the chain documented in ARCHITECTURE.md, as in append_one().
-- Generic plans: with array parameters PostgreSQL would otherwise keep choosing custom
-- plans and plan the head and key lookups anew in every call (a third of its CPU). Each
-- lookup is a LATERAL subquery with LIMIT, which the planner does not flatten into a
-- join: whatever the table sizes were when a session planned it, it stays one index probe
-- per request (a join planned on an empty key table would scan it in every later call).
CREATE OR REPLACE FUNCTION event_store.append_batch(
    p_stream_ids text[], p_expected_versions bigint[], p_event_ids uuid[], p_types text[],
    p_schema_versions integer[], p_data jsonb[], p_metadata jsonb[], p_valid_from date[],
    p_valid_to date[], p_payload_hashes bytea[], p_idempotency_keys text[],
    p_fingerprints bytea[],
    OUT out_positions bigint[], OUT out_versions bigint[], OUT out_transaction_ids bigint[],
    OUT out_replayed boolean[], OUT out_sqlstates text[], OUT out_messages text[],
    OUT out_details text[], OUT out_constraints text[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    n integer := coalesce(cardinality(p_stream_ids), 0);
    stamp text := to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    heads bigint[];
    head_hashes bytea[];
    prior_fingerprints bytea[];
    prior_streams text[];
    prior_counts integer[];
    prior_versions bigint[];
    prior_positions bigint[];
    prior_xids bigint[];
    accepted integer[] := '{}';
    keyed boolean := false;
    head bigint;
    written record;
    i integer;
BEGIN
    IF n > 32 OR (SELECT count(DISTINCT s) FROM unnest(p_stream_ids) AS s) <> n THEN
        RAISE EXCEPTION 'append_batch takes at most 32 requests, one per stream'
            USING ERRCODE = '22023';
    END IF;
    out_positions := array_fill(NULL::bigint, ARRAY[n]);
    out_versions := array_fill(NULL::bigint, ARRAY[n]);
    out_transaction_ids := array_fill(NULL::bigint, ARRAY[n]);
    out_replayed := array_fill(NULL::boolean, ARRAY[n]);
    out_sqlstates := array_fill(NULL::text, ARRAY[n]);
    out_messages := array_fill(NULL::text, ARRAY[n]);
    out_details := array_fill(NULL::text, ARRAY[n]);
    out_constraints := array_fill(NULL::text, ARRAY[n]);

    PERFORM pg_advisory_xact_lock(1, l.h)
    FROM (SELECT DISTINCT hashtext(s) AS h FROM unnest(p_stream_ids) AS s ORDER BY 1) AS l;

    SELECT array_agg(h.version ORDER BY t.i), array_agg(h.hash ORDER BY t.i),
           array_agg(k.fingerprint ORDER BY t.i), array_agg(k.stream_id ORDER BY t.i),
           array_agg(cardinality(k.positions) ORDER BY t.i),
           array_agg(k.stream_version ORDER BY t.i), array_agg(o.position ORDER BY t.i),
           array_agg(o.transaction_id::text::bigint ORDER BY t.i)
    INTO heads, head_hashes, prior_fingerprints, prior_streams, prior_counts,
         prior_versions, prior_positions, prior_xids
    FROM unnest(p_stream_ids, p_idempotency_keys) WITH ORDINALITY AS t(s, key, i)
    LEFT JOIN LATERAL (
        SELECT k.fingerprint, k.stream_id, k.positions, k.versions, k.stream_version
        FROM event_store.idempotency_keys k WHERE k.key = t.key LIMIT 1
    ) k ON true
    LEFT JOIN LATERAL (
        SELECT o.position, o.transaction_id FROM event_store.events o
        WHERE o.stream_id = k.stream_id AND o.version = k.versions[1] LIMIT 1
    ) o ON true
    LEFT JOIN LATERAL (
        SELECT e.version, e.hash FROM event_store.events e
        WHERE e.stream_id = t.s ORDER BY e.version DESC LIMIT 1
    ) h ON true;

    FOR i IN 1 .. n LOOP
        IF prior_fingerprints[i] IS NOT NULL THEN
            IF prior_fingerprints[i] <> p_fingerprints[i]
               OR prior_streams[i] <> p_stream_ids[i] OR prior_counts[i] <> 1 THEN
                out_sqlstates[i] := 'EE002';
                out_messages[i] := format('idempotency key %s was used for another request',
                                          p_idempotency_keys[i]);
            ELSE
                out_positions[i] := prior_positions[i];
                out_versions[i] := prior_versions[i];
                out_transaction_ids[i] := prior_xids[i];
                out_replayed[i] := true;
            END IF;
            CONTINUE;
        END IF;
        head := coalesce(heads[i], 0);
        IF (p_expected_versions[i] >= 0 AND p_expected_versions[i] <> head)
           OR (p_expected_versions[i] = -2 AND head = 0) THEN
            out_sqlstates[i] := 'EE001';
            out_messages[i] := format('stream %s is at version %s, expected %s',
                                      p_stream_ids[i], head, p_expected_versions[i]);
            out_details[i] := head::text;
            CONTINUE;
        END IF;
        out_versions[i] := head + 1;
        out_replayed[i] := false;
        accepted := accepted || i;
        keyed := keyed OR p_idempotency_keys[i] IS NOT NULL;
    END LOOP;

    FOR written IN
        INSERT INTO event_store.events AS e (transaction_id, stream_id, version, event_id,
            type, schema_version, data, metadata, valid_from, valid_to, recorded_at,
            prev_hash, hash)
        SELECT pg_current_xact_id(), p_stream_ids[a.i], out_versions[a.i], p_event_ids[a.i],
            p_types[a.i], p_schema_versions[a.i], p_data[a.i], p_metadata[a.i],
            p_valid_from[a.i], p_valid_to[a.i], now(), head_hashes[a.i],
            sha256(coalesce(head_hashes[a.i], ''::bytea)
                   || convert_to(p_stream_ids[a.i] || E'\n' || out_versions[a.i] || E'\n'
                                 || stamp || E'\n', 'UTF8')
                   || p_payload_hashes[a.i])
        FROM unnest(accepted) WITH ORDINALITY AS a(i, o)
        ORDER BY a.o
        RETURNING e.stream_id, e.position, e.transaction_id::text::bigint AS xid
    LOOP
        i := array_position(p_stream_ids, written.stream_id);
        out_positions[i] := written.position;
        out_transaction_ids[i] := written.xid;
    END LOOP;

    IF keyed THEN
        INSERT INTO event_store.idempotency_keys (key, fingerprint, stream_id, positions,
                                                  versions, stream_version)
        SELECT p_idempotency_keys[a.i], p_fingerprints[a.i], p_stream_ids[a.i],
               ARRAY[out_positions[a.i]], ARRAY[out_versions[a.i]], out_versions[a.i]
        FROM unnest(accepted) AS a(i)
        WHERE p_idempotency_keys[a.i] IS NOT NULL
        ORDER BY p_idempotency_keys[a.i];  -- two calls racing for the same keys meet in one order
    END IF;
END $$;

-- Same signature, checks and outputs as 0001's version. The chain is computed in plain
-- variables (no statement per event), then one INSERT writes every event, positions in
-- version order.
CREATE OR REPLACE FUNCTION event_store.append(
    p_stream_id text, p_expected_version bigint, p_event_ids uuid[], p_types text[],
    p_schema_versions integer[], p_data jsonb[], p_metadata jsonb[], p_valid_from date[],
    p_valid_to date[], p_payload_hashes bytea[], p_idempotency_key text, p_fingerprint bytea,
    OUT out_positions bigint[], OUT out_version bigint, OUT out_transaction_id bigint,
    OUT out_replayed boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    n integer := coalesce(cardinality(p_event_ids), 0);
    head_version bigint;
    head_hash bytea;
    hashes bytea[];
    prior record;
    line_tail text;
BEGIN
    PERFORM pg_advisory_xact_lock(1, hashtext(p_stream_id));

    IF p_idempotency_key IS NOT NULL THEN
        SELECT k.fingerprint, k.stream_id, k.positions, k.stream_version INTO prior
        FROM event_store.idempotency_keys k WHERE k.key = p_idempotency_key;
        IF FOUND THEN
            IF prior.fingerprint <> p_fingerprint OR prior.stream_id <> p_stream_id THEN
                RAISE EXCEPTION 'idempotency key % was used for another request',
                    p_idempotency_key USING ERRCODE = 'EE002';
            END IF;
            out_positions := prior.positions;
            out_version := prior.stream_version;
            out_replayed := true;
            IF cardinality(prior.positions) > 0 THEN
                SELECT e.transaction_id::text::bigint INTO out_transaction_id
                FROM event_store.events e
                WHERE e.position = prior.positions[cardinality(prior.positions)];
            END IF;
            RETURN;
        END IF;
    END IF;

    SELECT e.version, e.hash INTO head_version, head_hash
    FROM event_store.events e WHERE e.stream_id = p_stream_id
    ORDER BY e.version DESC LIMIT 1;
    head_version := coalesce(head_version, 0);

    IF (p_expected_version >= 0 AND p_expected_version <> head_version)
       OR (p_expected_version = -2 AND head_version = 0) THEN
        RAISE EXCEPTION 'stream % is at version %, expected %',
            p_stream_id, head_version, p_expected_version
            USING ERRCODE = 'EE001', DETAIL = head_version::text;
    END IF;

    out_positions := '{}';
    out_version := head_version + n;
    out_replayed := false;
    IF n > 0 THEN
        line_tail := E'\n' || to_char(now() AT TIME ZONE 'UTC',
                                      'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || E'\n';
        hashes := ARRAY[head_hash];
        FOR i IN 1 .. n LOOP
            hashes := hashes || sha256(coalesce(hashes[i], ''::bytea)
                || convert_to(p_stream_id || E'\n' || (head_version + i) || line_tail, 'UTF8')
                || p_payload_hashes[i]);
        END LOOP;
        WITH written AS (
            INSERT INTO event_store.events AS e (transaction_id, stream_id, version, event_id,
                type, schema_version, data, metadata, valid_from, valid_to, recorded_at,
                prev_hash, hash)
            SELECT pg_current_xact_id(), p_stream_id, head_version + a.i, p_event_ids[a.i],
                p_types[a.i], p_schema_versions[a.i], p_data[a.i], p_metadata[a.i],
                p_valid_from[a.i], p_valid_to[a.i], now(), hashes[a.i], hashes[a.i + 1]
            FROM generate_series(1, n) AS a(i)
            ORDER BY a.i
            RETURNING e.position, e.version, e.transaction_id::text::bigint AS xid
        )
        SELECT array_agg(w.position ORDER BY w.version), max(w.xid)
        INTO out_positions, out_transaction_id
        FROM written w;
    END IF;

    IF p_idempotency_key IS NOT NULL THEN
        INSERT INTO event_store.idempotency_keys (key, fingerprint, stream_id, positions,
                                                  versions, stream_version)
        VALUES (p_idempotency_key, p_fingerprint, p_stream_id, out_positions,
                ARRAY(SELECT generate_series(head_version + 1, out_version)), out_version);
    END IF;
END $$;
"""


def _as_created_by_0001(function: str) -> str:
    """0001's definition of `function`, as CREATE OR REPLACE (what downgrade restores)."""
    script: str = importlib.import_module("migrations.versions.0001_event_store").UPGRADE
    start = script.index(f"CREATE FUNCTION event_store.{function}(")
    end = script.index(f"REVOKE ALL ON FUNCTION event_store.{function} ")
    return script[start:end].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    """Replace append_batch and append (grants and ownership stay with the functions)."""
    run(UPGRADE)


def downgrade() -> None:
    """Bring back 0001's statement-per-request append_batch and statement-per-event append."""
    run(_as_created_by_0001("append_batch"))
    run(_as_created_by_0001("append"))

"""The append-only event store: events, idempotency keys, guards, the append function.

Revision ID: 0001_event_store
Revises:
Create Date: 2026-11-29

The canonical form hashed here is documented in docs/ARCHITECTURE.md ("Tamper evidence")
and recomputed independently by store/verification.py.
"""

from collections.abc import Sequence

from migrations.sql_script import run

revision: str = "0001_event_store"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "entente_app"

UPGRADE = r"""
CREATE SCHEMA IF NOT EXISTS event_store;

CREATE TABLE event_store.events (
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id  xid8        NOT NULL,
    stream_id       text        NOT NULL CHECK (length(stream_id) BETWEEN 1 AND 200),
    version         bigint      NOT NULL CHECK (version > 0),
    event_id        uuid        NOT NULL UNIQUE,
    type            text        NOT NULL CHECK (length(type) BETWEEN 1 AND 200),
    schema_version  integer     NOT NULL CHECK (schema_version > 0),
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    valid_from      date,
    valid_to        date,
    recorded_at     timestamptz NOT NULL,
    prev_hash       bytea,
    hash            bytea       NOT NULL,
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version),
    CONSTRAINT events_valid_time_in_order CHECK (valid_to IS NULL OR valid_from IS NULL
                                                 OR valid_from < valid_to)
);
COMMENT ON TABLE event_store.events IS
    'Append-only log. Global order is (transaction_id, position) below the snapshot xmin.';
CREATE INDEX events_global_order ON event_store.events (transaction_id, position);

CREATE TABLE event_store.idempotency_keys (
    key             text        PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 300),
    fingerprint     bytea       NOT NULL,
    stream_id       text        NOT NULL,
    positions       bigint[]    NOT NULL,
    versions        bigint[]    NOT NULL,
    stream_version  bigint      NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION event_store.reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event store is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'EE003';
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON event_store.events
    FOR EACH ROW EXECUTE FUNCTION event_store.reject_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON event_store.events
    FOR EACH STATEMENT EXECUTE FUNCTION event_store.reject_change();
CREATE TRIGGER idempotency_append_only BEFORE UPDATE ON event_store.idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION event_store.reject_change();

-- One round trip per append: expected-version check, idempotency, hash chain.
-- SECURITY DEFINER: the application role may not INSERT into the tables itself, so the
-- recorded time, transaction id and chain are always the database's own.
-- hash = sha256(prev_hash || utf8(stream_id LF version LF recorded_at LF) || payload_hash)
-- p_expected_version: n >= 0 exact (0 = no stream yet), -1 any, -2 the stream must exist.
-- One result row (no RETURN NEXT, no per-event output rows): the positions written in
-- version order, the stream's version after the append, the transaction id of the last
-- event written (NULL when none) and whether an idempotency key replayed an earlier append.
CREATE FUNCTION event_store.append(
    p_stream_id text, p_expected_version bigint, p_event_ids uuid[], p_types text[],
    p_schema_versions integer[], p_data jsonb[], p_metadata jsonb[], p_valid_from date[],
    p_valid_to date[], p_payload_hashes bytea[], p_idempotency_key text, p_fingerprint bytea,
    OUT out_positions bigint[], OUT out_version bigint, OUT out_transaction_id bigint,
    OUT out_replayed boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer := coalesce(cardinality(p_event_ids), 0);
    head_version bigint;
    head_hash bytea;
    prior record;
    at timestamptz;
    line_tail text;
    xid xid8;
    written bigint;
BEGIN
    -- Appenders to one stream queue here instead of failing on the unique key; lock class 1
    -- is the store's (projections use others).
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
        at := now();
        line_tail := E'\n' || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                     || E'\n';
        xid := pg_current_xact_id();
        out_transaction_id := xid::text::bigint;
        FOR i IN 1 .. n LOOP
            INSERT INTO event_store.events AS e (transaction_id, stream_id, version, event_id,
                type, schema_version, data, metadata, valid_from, valid_to, recorded_at,
                prev_hash, hash)
            VALUES (xid, p_stream_id, head_version + i, p_event_ids[i], p_types[i],
                p_schema_versions[i], p_data[i], p_metadata[i], p_valid_from[i], p_valid_to[i],
                at, head_hash,
                sha256(coalesce(head_hash, ''::bytea)
                       || convert_to(p_stream_id || E'\n' || (head_version + i) || line_tail,
                                     'UTF8')
                       || p_payload_hashes[i]))
            RETURNING e.position, e.hash INTO written, head_hash;
            out_positions := out_positions || written;
        END LOOP;
    END IF;

    IF p_idempotency_key IS NOT NULL THEN
        INSERT INTO event_store.idempotency_keys (key, fingerprint, stream_id, positions,
                                                  versions, stream_version)
        VALUES (p_idempotency_key, p_fingerprint, p_stream_id, out_positions,
                ARRAY(SELECT generate_series(head_version + 1, out_version)), out_version);
    END IF;
END $$;
REVOKE ALL ON FUNCTION event_store.append FROM PUBLIC;

-- The single-event path, with the same checks, chain and idempotency as append() above but
-- scalar arguments and no loop: most appends carry one event, and every array, loop and
-- plpgsql expression costs CPU in each transaction. Both must stay in step (the tests
-- exercise both through EventStore.append).
CREATE FUNCTION event_store.append_one(
    p_stream_id text, p_expected_version bigint, p_event_id uuid, p_type text,
    p_schema_version integer, p_data jsonb, p_metadata jsonb, p_valid_from date,
    p_valid_to date, p_payload_hash bytea, p_idempotency_key text, p_fingerprint bytea,
    OUT out_position bigint, OUT out_version bigint, OUT out_transaction_id bigint,
    OUT out_replayed boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    head_hash bytea;
    prior record;
BEGIN
    PERFORM pg_advisory_xact_lock(1, hashtext(p_stream_id));

    IF p_idempotency_key IS NOT NULL THEN
        SELECT k.fingerprint, k.stream_id, k.positions, k.stream_version INTO prior
        FROM event_store.idempotency_keys k WHERE k.key = p_idempotency_key;
        IF FOUND THEN
            IF prior.fingerprint <> p_fingerprint OR prior.stream_id <> p_stream_id
               OR cardinality(prior.positions) <> 1 THEN
                RAISE EXCEPTION 'idempotency key % was used for another request',
                    p_idempotency_key USING ERRCODE = 'EE002';
            END IF;
            SELECT e.position, prior.stream_version, e.transaction_id::text::bigint, true
            INTO out_position, out_version, out_transaction_id, out_replayed
            FROM event_store.events e WHERE e.position = prior.positions[1];
            RETURN;
        END IF;
    END IF;

    SELECT e.version, e.hash INTO out_version, head_hash
    FROM event_store.events e WHERE e.stream_id = p_stream_id
    ORDER BY e.version DESC LIMIT 1;
    out_version := coalesce(out_version, 0);
    IF (p_expected_version >= 0 AND p_expected_version <> out_version)
       OR (p_expected_version = -2 AND out_version = 0) THEN
        RAISE EXCEPTION 'stream % is at version %, expected %',
            p_stream_id, out_version, p_expected_version
            USING ERRCODE = 'EE001', DETAIL = out_version::text;
    END IF;

    out_version := out_version + 1;
    out_replayed := false;
    INSERT INTO event_store.events AS e (transaction_id, stream_id, version, event_id, type,
        schema_version, data, metadata, valid_from, valid_to, recorded_at, prev_hash, hash)
    VALUES (pg_current_xact_id(), p_stream_id, out_version, p_event_id, p_type,
        p_schema_version, p_data, p_metadata, p_valid_from, p_valid_to, now(), head_hash,
        sha256(coalesce(head_hash, ''::bytea)
               || convert_to(p_stream_id || E'\n' || out_version || E'\n'
                             || to_char(now() AT TIME ZONE 'UTC',
                                        'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                             || E'\n', 'UTF8')
               || p_payload_hash))
    RETURNING e.position, e.transaction_id::text::bigint INTO out_position, out_transaction_id;

    IF p_idempotency_key IS NOT NULL THEN
        INSERT INTO event_store.idempotency_keys (key, fingerprint, stream_id, positions,
                                                  versions, stream_version)
        VALUES (p_idempotency_key, p_fingerprint, p_stream_id, ARRAY[out_position],
                ARRAY[out_version], out_version);
    END IF;
END $$;
REVOKE ALL ON FUNCTION event_store.append_one FROM PUBLIC;
-- Write combining (group commit): up to 32 single-event requests of one client, each for a
-- different stream, in ONE call and ONE transaction. Element i of every array is request i.
-- each runs with the same checks, chain and idempotency as append_one() above, in its own
-- subtransaction (BEGIN ... EXCEPTION), so one request's failure rolls back that request
-- only and is returned as its SQLSTATE, message, detail and constraint instead of raised.
-- The requests are applied (and their stream locks taken) in (hashtext(stream_id),
-- stream_id) order, so two combined calls from different clients cannot deadlock on the
-- stream locks. Positions increase in that order, all written events share the
-- transaction id. At most 32 requests: 32 subtransactions stay inside PostgreSQL's
-- 64-entry subtransaction cache. Output arrays are indexed like the inputs.
CREATE FUNCTION event_store.append_batch(
    p_stream_ids text[], p_expected_versions bigint[], p_event_ids uuid[], p_types text[],
    p_schema_versions integer[], p_data jsonb[], p_metadata jsonb[], p_valid_from date[],
    p_valid_to date[], p_payload_hashes bytea[], p_idempotency_keys text[],
    p_fingerprints bytea[],
    OUT out_positions bigint[], OUT out_versions bigint[], OUT out_transaction_ids bigint[],
    OUT out_replayed boolean[], OUT out_sqlstates text[], OUT out_messages text[],
    OUT out_details text[], OUT out_constraints text[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer := coalesce(cardinality(p_stream_ids), 0);
    streams integer;
    ord integer[];
    i integer;
    sid text;
    head_version bigint;
    head_hash bytea;
    prior record;
    written bigint;
    xid bigint;
    replayed boolean;
    failed_state text;
    failed_message text;
    failed_detail text;
    failed_constraint text;
BEGIN
    SELECT array_agg(t.i ORDER BY hashtext(t.s), t.s), count(DISTINCT t.s)
    INTO ord, streams
    FROM unnest(p_stream_ids) WITH ORDINALITY AS t(s, i);
    IF n > 32 OR streams <> n THEN
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
    FOREACH i IN ARRAY coalesce(ord, '{}') LOOP
        sid := p_stream_ids[i];
        BEGIN
            -- Variables are not transactional: the outputs are set only once the request
            -- has fully succeeded.
            PERFORM pg_advisory_xact_lock(1, hashtext(sid));
            replayed := false;
            IF p_idempotency_keys[i] IS NOT NULL THEN
                SELECT k.fingerprint, k.stream_id, k.positions, k.stream_version INTO prior
                FROM event_store.idempotency_keys k WHERE k.key = p_idempotency_keys[i];
                IF FOUND THEN
                    IF prior.fingerprint <> p_fingerprints[i] OR prior.stream_id <> sid
                       OR cardinality(prior.positions) <> 1 THEN
                        RAISE EXCEPTION 'idempotency key % was used for another request',
                            p_idempotency_keys[i] USING ERRCODE = 'EE002';
                    END IF;
                    SELECT e.position, prior.stream_version, e.transaction_id::text::bigint
                    INTO written, head_version, xid
                    FROM event_store.events e WHERE e.position = prior.positions[1];
                    replayed := true;
                END IF;
            END IF;

            IF NOT replayed THEN
                head_hash := NULL;
                SELECT e.version, e.hash INTO head_version, head_hash
                FROM event_store.events e WHERE e.stream_id = sid
                ORDER BY e.version DESC LIMIT 1;
                head_version := coalesce(head_version, 0);
                IF (p_expected_versions[i] >= 0 AND p_expected_versions[i] <> head_version)
                   OR (p_expected_versions[i] = -2 AND head_version = 0) THEN
                    RAISE EXCEPTION 'stream % is at version %, expected %',
                        sid, head_version, p_expected_versions[i]
                        USING ERRCODE = 'EE001', DETAIL = head_version::text;
                END IF;

                head_version := head_version + 1;
                INSERT INTO event_store.events AS e (transaction_id, stream_id, version,
                    event_id, type, schema_version, data, metadata, valid_from, valid_to,
                    recorded_at, prev_hash, hash)
                VALUES (pg_current_xact_id(), sid, head_version, p_event_ids[i], p_types[i],
                    p_schema_versions[i], p_data[i], p_metadata[i], p_valid_from[i],
                    p_valid_to[i], now(), head_hash,
                    sha256(coalesce(head_hash, ''::bytea)
                           || convert_to(sid || E'\n' || head_version || E'\n'
                                         || to_char(now() AT TIME ZONE 'UTC',
                                                    'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                                         || E'\n', 'UTF8')
                           || p_payload_hashes[i]))
                RETURNING e.position, e.transaction_id::text::bigint INTO written, xid;

                IF p_idempotency_keys[i] IS NOT NULL THEN
                    INSERT INTO event_store.idempotency_keys (key, fingerprint, stream_id,
                        positions, versions, stream_version)
                    VALUES (p_idempotency_keys[i], p_fingerprints[i], sid, ARRAY[written],
                            ARRAY[head_version], head_version);
                END IF;
            END IF;

            out_positions[i] := written;
            out_versions[i] := head_version;
            out_transaction_ids[i] := xid;
            out_replayed[i] := replayed;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS failed_state = RETURNED_SQLSTATE,
                failed_message = MESSAGE_TEXT, failed_detail = PG_EXCEPTION_DETAIL,
                failed_constraint = CONSTRAINT_NAME;
            out_sqlstates[i] := failed_state;
            out_messages[i] := failed_message;
            out_details[i] := nullif(failed_detail, '');
            out_constraints[i] := nullif(failed_constraint, '');
        END;
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION event_store.append_batch FROM PUBLIC;
"""

GRANTS = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        IF (SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            CREATE ROLE {APP_ROLE} NOLOGIN;
        ELSE
            RAISE NOTICE 'cannot create role {APP_ROLE}: run scripts/app_role.sql as a superuser';
            RETURN;
        END IF;
    END IF;
    GRANT USAGE ON SCHEMA event_store TO {APP_ROLE};
    GRANT SELECT ON event_store.events, event_store.idempotency_keys TO {APP_ROLE};
    GRANT EXECUTE ON FUNCTION event_store.append, event_store.append_one,
        event_store.append_batch TO {APP_ROLE};
END $$;
"""

DOWNGRADE = """
DROP SCHEMA event_store CASCADE;
"""


def upgrade() -> None:
    """Create the event store and grant the application role its two verbs."""
    run(UPGRADE)
    run(GRANTS)


def downgrade() -> None:
    """Drop the event store (only ever used to test the migrations themselves)."""
    run(DOWNGRADE)

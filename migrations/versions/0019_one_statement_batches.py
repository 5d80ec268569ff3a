"""A combined call decided and written by one statement, straight from its jsonb rows.

Revision ID: 0019_one_statement_batches
Revises: 0018_append_path
Create Date: 2026-12-03

0018's `append_batch_json` unpacked its rows into twelve arrays and handed them to
`append_batch` (0005): a second SECURITY DEFINER call with its own settings, eight
`array_fill`s, a plpgsql loop deciding each request in variables, an INSERT whose
RETURNING rows a second loop matched back to their requests with `array_position`, then
the keys. All of that is server CPU per combined call, on the same cores as the clients.
Same signature and outputs, replaced in place (grants stay with the function): take the
stream locks (one statement, hashtext order, as before), then ONE statement reads every
head and idempotency key, decides each request, inserts the accepted events and
aggregates the outputs in request order; only a call that has keys to record runs one
more, which records them. The decisions are 0005's, request for
request: a key already spent replays its first result (EE002 when its fingerprint,
stream or event count differ), otherwise a stale expected version is refused (EE001, the
head version as detail); positions follow the request order; all events share the
transaction id; the chain is the one documented in ARCHITECTURE.md. Anything else the
server refuses fails the whole call, which the client resends request by request.

The lock statement comes first and on its own (it also counts the streams, so a stream
named twice is refused, 22023, as before): read committed takes a snapshot per
statement, so the heads read after it include whatever an earlier holder of a stream's
lock committed.
"""

import importlib
from collections.abc import Sequence

from migrations.sql_script import run

revision: str = "0019_one_statement_batches"
down_revision: str | None = "0018_append_path"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_APPEND_PATH = importlib.import_module("migrations.versions.0018_append_path")
_CREATED = _APPEND_PATH.UPGRADE.index("CREATE FUNCTION event_store.append_batch_json(")
SIGNATURE = _APPEND_PATH.UPGRADE[_CREATED : _APPEND_PATH.UPGRADE.index("DECLARE", _CREATED)]
"""0018's signature, outputs and settings of append_batch_json, word for word (a
replacement may change neither)."""

UPGRADE = (
    SIGNATURE.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    + r"""DECLARE
    n integer := jsonb_array_length(p_requests);
    streams integer := 0;
    keyed boolean;
    stamp text := to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
BEGIN
    -- One lock per stream, in (hashtext, stream id) order; counting them finds a stream
    -- named twice (a volatile output column is neither pulled up nor dropped).
    IF n <= 32 THEN
        SELECT count(*) INTO streams
        FROM (SELECT pg_advisory_xact_lock(1, l.h)
              FROM (SELECT DISTINCT hashtext(r->>0) AS h, r->>0 AS s
                    FROM jsonb_array_elements(p_requests) AS r ORDER BY 1, 2) AS l) AS locked;
    END IF;
    IF streams <> n THEN
        RAISE EXCEPTION 'append_batch takes at most 32 requests, one per stream'
            USING ERRCODE = '22023';
    END IF;

    WITH request AS (
        SELECT t.i, t.r->>0 AS stream_id, (t.r->>1)::bigint AS expected,
               (t.r->>2)::uuid AS event_id, t.r->>3 AS type,
               (t.r->>4)::integer AS schema_version, t.r->5 AS data, t.r->6 AS metadata,
               (t.r->>7)::date AS valid_from, (t.r->>8)::date AS valid_to,
               decode(t.r->>9, 'base64') AS payload_hash, t.r->>10 AS key,
               decode(t.r->>11, 'base64') AS fingerprint
        FROM jsonb_array_elements(p_requests) WITH ORDINALITY AS t(r, i)
    ), decided AS (
        SELECT q.*, h.version AS head, h.hash AS head_hash, k.positions[1] AS prior_position,
               o.transaction_id AS prior_xid, k.stream_version AS prior_version,
               CASE
                   WHEN k.fingerprint IS NOT NULL THEN
                       CASE WHEN k.fingerprint <> q.fingerprint OR k.stream_id <> q.stream_id
                                 OR cardinality(k.positions) <> 1
                            THEN 'EE002' ELSE 'replayed' END
                   WHEN (q.expected >= 0 AND q.expected <> coalesce(h.version, 0))
                        OR (q.expected = -2 AND h.version IS NULL) THEN 'EE001'
                   ELSE 'accepted'
               END AS decision
        FROM request q
        -- each lookup one index probe per request (LIMIT: never flattened into a join)
        LEFT JOIN LATERAL (  -- the key's first use
            SELECT k.fingerprint, k.stream_id, k.positions, k.stream_version
            FROM event_store.idempotency_keys k WHERE k.key = q.key LIMIT 1
        ) k ON true
        LEFT JOIN LATERAL (  -- the event it wrote
            SELECT o.transaction_id FROM event_store.events o
            WHERE o.position = k.positions[1] LIMIT 1
        ) o ON true
        LEFT JOIN LATERAL (  -- the stream's head
            SELECT e.version, e.hash FROM event_store.events e
            WHERE e.stream_id = q.stream_id ORDER BY e.version DESC LIMIT 1
        ) h ON true
    ), written AS (
        INSERT INTO event_store.events AS e (transaction_id, stream_id, version, event_id,
            type, schema_version, data, metadata, valid_from, valid_to, recorded_at,
            prev_hash, hash)
        SELECT pg_current_xact_id(), d.stream_id, coalesce(d.head, 0) + 1, d.event_id,
            d.type, d.schema_version, d.data, d.metadata, d.valid_from, d.valid_to, now(),
            d.head_hash,
            sha256(coalesce(d.head_hash, ''::bytea)
                   || convert_to(d.stream_id || E'\n' || (coalesce(d.head, 0) + 1) || E'\n'
                                 || stamp || E'\n', 'UTF8')
                   || d.payload_hash)
        FROM decided d WHERE d.decision = 'accepted'
        ORDER BY d.i
        RETURNING e.stream_id, e.position, e.version, e.transaction_id
    )
    SELECT array_agg(CASE d.decision WHEN 'accepted' THEN w.position
                                     WHEN 'replayed' THEN d.prior_position END ORDER BY d.i),
           array_agg(CASE d.decision WHEN 'accepted' THEN w.version
                                     WHEN 'replayed' THEN d.prior_version END ORDER BY d.i),
           array_agg(CASE d.decision WHEN 'accepted' THEN w.transaction_id
                                     WHEN 'replayed' THEN d.prior_xid END::text::bigint
                     ORDER BY d.i),
           array_agg(CASE d.decision WHEN 'accepted' THEN false
                                     WHEN 'replayed' THEN true END ORDER BY d.i),
           array_agg(CASE WHEN d.decision LIKE 'EE%' THEN d.decision END ORDER BY d.i),
           array_agg(CASE d.decision
                         WHEN 'EE002' THEN format('idempotency key %s was used for another '
                                                  'request', d.key)
                         WHEN 'EE001' THEN format('stream %s is at version %s, expected %s',
                                                  d.stream_id, coalesce(d.head, 0),
                                                  d.expected)
                     END ORDER BY d.i),
           array_agg(CASE d.decision WHEN 'EE001' THEN coalesce(d.head, 0)::text END
                     ORDER BY d.i),
           array_agg(NULL::text ORDER BY d.i),
           coalesce(bool_or(d.key IS NOT NULL AND d.decision = 'accepted'), false)
    INTO out_positions, out_versions, out_transaction_ids, out_replayed, out_sqlstates,
         out_messages, out_details, out_constraints, keyed
    FROM decided d LEFT JOIN written w ON w.stream_id = d.stream_id;

    -- A statement of its own, run only when there are keys to record: most calls carry
    -- none, and an INSERT in the statement above would open its table in every call.
    IF keyed THEN
        INSERT INTO event_store.idempotency_keys (key, fingerprint, stream_id, positions,
                                                  versions, stream_version)
        SELECT t.r->>10, decode(t.r->>11, 'base64'), t.r->>0, ARRAY[out_positions[t.i]],
               ARRAY[out_versions[t.i]], out_versions[t.i]
        FROM jsonb_array_elements(p_requests) WITH ORDINALITY AS t(r, i)
        WHERE t.r->>10 IS NOT NULL AND NOT out_replayed[t.i]
        ORDER BY 1;  -- two calls racing for the same keys meet in one order
    END IF;
END $$;
"""
)


def upgrade() -> None:
    """Replace append_batch_json in place (grants and ownership stay with the function)."""
    run(UPGRADE)


def downgrade() -> None:
    """Bring back 0018's append_batch_json, which hands its rows to append_batch: undo
    0018 and do it again (its grants included)."""
    _APPEND_PATH.downgrade()
    _APPEND_PATH.upgrade()

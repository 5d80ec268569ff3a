"""Everything the service does, it can do as the least-privilege role entente_app.

Revision ID: 0007_least_privilege
Revises: 0006_timeline_by_stream
Create Date: 2026-12-02

The service connects as a login role that is a member of entente_app and whose session
runs as entente_app (store/roles.py), never as the owner. What that role needs beyond
the grants of 0001-0004:

- The read models are rebuilt beside the live tables and swapped in by renaming
  (ALTER TABLE ... SET SCHEMA, DROP TABLE), which only a table's owner may do: the
  reporting tables belong to entente_app, and so do the work schemas reporting_rebuild
  and reporting_retired, created here.
- Exports replay the log into a private schema `snapshot_<12 hex>`. Creating a schema
  needs CREATE on the database, which a cloned or restored database does not carry (its
  ACL is not copied); instead projection_state.create_work_schema(name), a SECURITY
  DEFINER function owned by the migrating owner, creates only such names, owned by
  entente_app (which may then drop them).
- API keys: the role may read them but no longer insert or update them. Keys are made and
  revoked only by access.create_key / access.revoke_key (SECURITY DEFINER, search_path
  pinned), which record who did it (created_by, revoked_by).
"""

from collections.abc import Sequence

from migrations.sql_script import run

revision: str = "0007_least_privilege"
down_revision: str | None = "0006_timeline_by_stream"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'entente_app') THEN
        IF (SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            CREATE ROLE entente_app NOLOGIN;
        ELSE
            RAISE EXCEPTION 'role entente_app does not exist and % may not create it', current_user
                USING HINT = 'run scripts/app_role.sql as a superuser, then entente migrate again';
        END IF;
    END IF;
END $$;

-- The migrating owner hands tables to entente_app: it must be able to act as it.
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'entente_app', 'MEMBER') THEN
        GRANT entente_app TO CURRENT_USER;
    END IF;
END $$;

CREATE SCHEMA IF NOT EXISTS reporting_rebuild;
CREATE SCHEMA IF NOT EXISTS reporting_retired;
ALTER SCHEMA reporting_rebuild OWNER TO entente_app;
ALTER SCHEMA reporting_retired OWNER TO entente_app;

-- Tables (their sequences and indexes follow) in the read-model schemas, and snapshot
-- schemas a superuser-run service may have left behind.
DO $$
DECLARE
    item record;
BEGIN
    FOR item IN
        SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p')
          AND (n.nspname IN ('reporting', 'reporting_rebuild', 'reporting_retired')
               OR n.nspname ~ '^snapshot_[0-9a-f]{12}$')
    LOOP
        EXECUTE format('ALTER TABLE %I.%I OWNER TO entente_app', item.nspname, item.relname);
    END LOOP;
    FOR item IN SELECT nspname FROM pg_namespace WHERE nspname ~ '^snapshot_[0-9a-f]{12}$' LOOP
        EXECUTE format('ALTER SCHEMA %I OWNER TO entente_app', item.nspname);
    END LOOP;
END $$;

GRANT USAGE, CREATE ON SCHEMA reporting, projection_state TO entente_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA projection_state, exports
    TO entente_app;
GRANT USAGE ON SCHEMA event_store, access, exports TO entente_app;
GRANT SELECT ON event_store.events, event_store.idempotency_keys TO entente_app;

CREATE OR REPLACE FUNCTION projection_state.create_work_schema(p_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_name IS NULL OR p_name !~ '^(reporting_rebuild|reporting_retired|snapshot_[0-9a-f]{12})$'
    THEN
        RAISE EXCEPTION 'not a work schema of the projections: %', p_name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION entente_app', p_name);
END $$;
REVOKE ALL ON FUNCTION projection_state.create_work_schema(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION projection_state.create_work_schema(text) TO entente_app;

ALTER TABLE access.api_keys ADD COLUMN IF NOT EXISTS created_by text;
ALTER TABLE access.api_keys ADD COLUMN IF NOT EXISTS revoked_by text;
REVOKE INSERT, UPDATE ON access.api_keys FROM entente_app;
REVOKE UPDATE (revoked_at) ON access.api_keys FROM entente_app;
GRANT SELECT ON access.api_keys TO entente_app;

-- p_actor: who asked (the admin key's name, or cli:<user>), NULL for the session's role.
CREATE OR REPLACE FUNCTION access.create_key(p_name text, p_key_id text, p_secret_hash bytea,
                                  p_roles text[], p_actor text)
RETURNS TABLE (name text, key_id text, roles text[], created_at timestamptz,
               revoked_at timestamptz)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO access.api_keys AS k (name, key_id, secret_hash, roles, created_by)
    VALUES (p_name, p_key_id, p_secret_hash, p_roles,
            coalesce(p_actor, 'db:' || session_user))
    RETURNING k.name, k.key_id, k.roles, k.created_at, k.revoked_at
$$;
REVOKE ALL ON FUNCTION access.create_key(text, text, bytea, text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION access.create_key(text, text, bytea, text[], text) TO entente_app;

CREATE OR REPLACE FUNCTION access.revoke_key(p_name text, p_actor text) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH revoked AS (
        UPDATE access.api_keys SET revoked_at = now(),
                                   revoked_by = coalesce(p_actor, 'db:' || session_user)
        WHERE name = p_name AND revoked_at IS NULL
        RETURNING 1
    )
    SELECT count(*) > 0 FROM revoked
$$;
REVOKE ALL ON FUNCTION access.revoke_key(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION access.revoke_key(text, text) TO entente_app;
"""

DOWNGRADE = r"""
DROP FUNCTION IF EXISTS access.revoke_key(text, text);
DROP FUNCTION IF EXISTS access.create_key(text, text, bytea, text[], text);
ALTER TABLE access.api_keys DROP COLUMN IF EXISTS revoked_by;
ALTER TABLE access.api_keys DROP COLUMN IF EXISTS created_by;
GRANT SELECT, INSERT, UPDATE (revoked_at) ON access.api_keys TO entente_app;
DROP FUNCTION IF EXISTS projection_state.create_work_schema(text);
DO $$
DECLARE
    item record;
BEGIN
    FOR item IN
        SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p')
          AND (n.nspname IN ('reporting', 'reporting_rebuild', 'reporting_retired')
               OR n.nspname ~ '^snapshot_[0-9a-f]{12}$')
    LOOP
        EXECUTE format('ALTER TABLE %I.%I OWNER TO CURRENT_USER', item.nspname, item.relname);
    END LOOP;
    FOR item IN
        SELECT nspname FROM pg_namespace
        WHERE nspname ~ '^(reporting_rebuild|reporting_retired|snapshot_[0-9a-f]{12})$'
    LOOP
        EXECUTE format('ALTER SCHEMA %I OWNER TO CURRENT_USER', item.nspname);
    END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA reporting TO entente_app;
"""


def upgrade() -> None:
    """Give entente_app what serving needs; key management only through functions."""
    run(UPGRADE)


def downgrade() -> None:
    """Back to 0006's grants: tables and work schemas return to the migrating owner."""
    run(DOWNGRADE)

-- Create the least-privilege application role by hand, when the migrating user may not.
-- Run as a superuser in the Entente database, with psql:
--   psql -v owner=<the migrating role> -f scripts/app_role.sql <database>
-- then `entente migrate` (0007_least_privilege needs the role and hands it the read-model
-- tables, so the owner must be a member). Create the serving login too (docs/OPERATIONS.md).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'entente_app') THEN
        CREATE ROLE entente_app NOLOGIN;
    END IF;
END $$;
GRANT entente_app TO :"owner";
GRANT USAGE ON SCHEMA event_store, access TO entente_app;
GRANT SELECT ON event_store.events, event_store.idempotency_keys TO entente_app;
GRANT EXECUTE ON FUNCTION event_store.append, event_store.append_one, event_store.append_batch
    TO entente_app;
-- Keys: read only; 0007 adds access.create_key / access.revoke_key for writing.
GRANT SELECT ON access.api_keys TO entente_app;
GRANT USAGE, CREATE ON SCHEMA reporting, projection_state TO entente_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA reporting, projection_state
    TO entente_app;
GRANT USAGE ON SCHEMA exports TO entente_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA exports TO entente_app;
GRANT SELECT, INSERT, UPDATE (revoked_at) ON access.calendar_tokens TO entente_app;
GRANT USAGE ON SCHEMA transparency TO entente_app;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA transparency TO entente_app;

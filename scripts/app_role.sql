-- Create the least-privilege application role by hand, when the migrating user may not.
-- Run as a superuser in the Entente database after `entente migrate`.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'entente_app') THEN
        CREATE ROLE entente_app NOLOGIN;
    END IF;
END $$;
GRANT USAGE ON SCHEMA event_store, access TO entente_app;
GRANT SELECT ON event_store.events, event_store.idempotency_keys TO entente_app;
GRANT EXECUTE ON FUNCTION event_store.append, event_store.append_one, event_store.append_batch
    TO entente_app;
GRANT SELECT, INSERT, UPDATE (revoked_at) ON access.api_keys TO entente_app;
GRANT SELECT, INSERT, UPDATE (revoked_at) ON access.calendar_tokens TO entente_app;

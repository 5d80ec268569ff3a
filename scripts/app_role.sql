-- Create the least-privilege application role by hand, when the migrating user may not.
-- Run as a superuser in the Entente database, with psql, before the first migration:
--   psql -v owner=<the migrating role> -f scripts/app_role.sql <database>
-- then `entente migrate`: each migration grants the role what its own objects need when the
-- role exists (0007_least_privilege also hands it the read-model tables, so the owner must
-- be a member). Create the serving login too (docs/OPERATIONS.md).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'entente_app') THEN
        CREATE ROLE entente_app NOLOGIN;
    END IF;
END $$;
GRANT entente_app TO :"owner";

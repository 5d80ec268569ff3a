"""The transparency log: a Merkle tree over the log, and signed checkpoints of it.

Revision ID: 0009_transparency_log
Revises: 0012_entity_keys (main chained 0012 after 0008 while this was written)
Create Date: 2026-12-02

The checkpointer (store/transparency.py) appends one leaf per event in the global order,
after the fact and below the read horizon, and each complete interior node at levels 4,
8, 12, … once (others fold from at most 8 of those); a proof for any leaf reads a few
dozen of these rows, however long the log. Checkpoints are signed outside the database
(the private key never reaches it); the table keeps them for the API, and the verifier
key they were signed with. Everything here is append-only: the application role may only
read and insert, and triggers refuse changes as they do on the events.
"""

from collections.abc import Sequence

from migrations.sql_script import run

revision: str = "0009_transparency_log"
down_revision: str | None = "0012_entity_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE SCHEMA transparency;
CREATE TABLE transparency.leaves (
    leaf_index bigint PRIMARY KEY CHECK (leaf_index >= 0),
    position   bigint NOT NULL UNIQUE,
    hash       bytea  NOT NULL CHECK (length(hash) = 32)
);
COMMENT ON TABLE transparency.leaves IS
    'Leaf i: the hash of event i in global order (entente_verify/events.py).';
CREATE TABLE transparency.nodes (
    level smallint NOT NULL CHECK (level BETWEEN 1 AND 63),
    index bigint   NOT NULL CHECK (index >= 0),
    hash  bytea    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, index)
);
COMMENT ON TABLE transparency.nodes IS
    'Complete subtrees at levels 4, 8, ...: (level, i) covers leaves i * 2^level ...';
CREATE TABLE transparency.checkpoints (
    tree_size bigint      PRIMARY KEY CHECK (tree_size > 0),
    root_hash bytea       NOT NULL CHECK (length(root_hash) = 32),
    issued_at timestamptz NOT NULL,
    key       text        NOT NULL,
    note      text        NOT NULL
);
CREATE TABLE transparency.keys (
    key           text        PRIMARY KEY,
    first_used_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE transparency.keys IS
    'Verifier keys checkpoints were signed with (public, the private key stays outside).';
CREATE TRIGGER leaves_append_only BEFORE UPDATE OR DELETE ON transparency.leaves
    FOR EACH ROW EXECUTE FUNCTION event_store.reject_change();
CREATE TRIGGER nodes_append_only BEFORE UPDATE OR DELETE ON transparency.nodes
    FOR EACH ROW EXECUTE FUNCTION event_store.reject_change();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON transparency.checkpoints
    FOR EACH ROW EXECUTE FUNCTION event_store.reject_change();
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'entente_app') THEN
        GRANT USAGE ON SCHEMA transparency TO entente_app;
        GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA transparency TO entente_app;
    END IF;
END $$;
"""


def upgrade() -> None:
    """Create the tree, checkpoint and key tables (read and append for the application)."""
    run(UPGRADE)


def downgrade() -> None:
    """Drop them."""
    run("DROP SCHEMA transparency CASCADE")

"""Running multi-statement SQL from a migration.

asyncpg sends each statement as a prepared statement, which cannot hold several
commands, so a script is split on semicolons that sit outside dollar-quoted bodies.
"""

from __future__ import annotations

import re

from alembic import op

_TOKEN = re.compile(r"\$\w*\$|;")


def statements(script: str) -> list[str]:
    """The script's statements, in order, without empty ones."""
    found: list[str] = []
    start = 0
    open_quote: str | None = None
    for match in _TOKEN.finditer(script):
        token = match.group()
        if token == ";" and open_quote is None:  # noqa: S105
            found.append(script[start : match.start()])
            start = match.end()
        elif token != ";":  # noqa: S105
            open_quote = None if open_quote == token else (open_quote or token)
    found.append(script[start:])
    return [s.strip() for s in found if _has_code(s)]


def _has_code(statement: str) -> bool:
    lines = [line.strip() for line in statement.splitlines()]
    return any(line and not line.startswith("--") for line in lines)


def run(script: str) -> None:
    """Execute each statement of `script` in the migration's transaction."""
    for statement in statements(script):
        op.execute(statement)


def each_read_model_table(table: str, statement: str) -> str:
    """`statement` (with %1$s for the table, quotes doubled for format()) for `table` in
    the live read models and in a rebuild under way, whose tables were made LIKE the live
    ones and replace them at the swap."""
    return f"""
DO $$
DECLARE
    item record;
BEGIN
    FOR item IN
        SELECT c.oid::regclass AS relation FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = '{table}' AND c.relkind = 'r'
          AND n.nspname IN ('reporting', 'reporting_rebuild')
    LOOP
        EXECUTE format('{statement}', item.relation);
    END LOOP;
END $$;
"""

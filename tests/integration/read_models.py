"""Read models as plain data, for tests that compare two builds of them row for row."""

from __future__ import annotations

from typing import Any

Snapshot = dict[str, list[tuple[str, ...]]]


async def reporting_tables(pool: Any) -> list[str]:
    """Every table in schema `reporting`, found in the catalogue: a read model added later
    is compared too, without anyone remembering to list it here."""
    rows = await pool.fetch(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'reporting' AND table_type = 'BASE TABLE' ORDER BY table_name"
    )
    return [r["table_name"] for r in rows]


async def snapshot(pool: Any) -> Snapshot:
    """Every read-model row, order-independent."""
    found = {}
    for table in await reporting_tables(pool):
        rows = await pool.fetch(f"SELECT * FROM reporting.{table}")
        found[table] = sorted(tuple(str(v) for v in r.values()) for r in rows)
    return found


def assert_same(found: Snapshot, expected: Snapshot) -> None:
    """Row-for-row equality, reporting the first rows that differ per table."""
    assert set(found) == set(expected), "the read models are different tables"
    for table in expected:
        extra = sorted(set(found[table]) - set(expected[table]))[:2]
        missing = sorted(set(expected[table]) - set(found[table]))[:2]
        assert not extra and not missing, f"{table}: unexpected {extra}, missing {missing}"
        assert len(found[table]) == len(expected[table]), f"{table}: duplicate rows"

"""Must-show: two exports of one report at different positions have identical Arrow
schemas (fixed decimal scales), and the catalogue lists exactly those columns and types."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.demo import load_demo
from projections.registry import create_engine
from reporting.catalogue import CATALOGUE, ReportParameters
from reporting.exporting import produce
from reporting.snapshot import current_position
from store import EventStore
from store.api_keys import create_key


def _schema(content: bytes) -> pa.Schema:
    return pq.read_schema(io.BytesIO(content))


async def test_exports_at_two_positions_have_identical_arrow_schemas(database_url, pool, tmp_path):
    store = EventStore(pool)
    empty = await current_position(store)  # nothing recorded yet: every column is empty
    await load_demo(pool)
    full = await current_position(store)
    engine = create_engine(database_url)
    try:
        for name, report in CATALOGUE.items():
            files = [
                await produce(engine, store, database_url, name, ReportParameters(), "parquet", at)
                for at in (empty, full)
            ]
            before, after = (_schema(f.content) for f in files)
            assert before.equals(after, check_metadata=True), (name, before, after)
            assert after.names == [c.name for c in report.columns]
            for column, field in zip(report.columns, after, strict=True):
                if column.type == "decimal":
                    assert field.type == pa.decimal128(38, column.scale), (name, field)
            if name == "fulfilment":  # the report whose scale used to follow its rows
                assert files[1].manifest.row_count > 0
                rates = pq.read_table(io.BytesIO(files[1].content)).column("fulfilment_rate")
                assert rates.null_count < len(rates)
    finally:
        await engine.dispose()

    _, reader = await create_key(pool, "schema-reader", ["reader"])
    async with AsyncTestClient(create_app(database_url, export_root=tmp_path)) as client:
        listed = await client.get(
            "/reports/catalogue", headers={"Authorization": f"Bearer {reader}"}
        )
    assert listed.status_code == 200
    by_name: dict[str, Any] = {r["name"]: r for r in listed.json()}
    assert set(by_name) == set(CATALOGUE)
    for name, report in CATALOGUE.items():
        assert by_name[name]["columns"] == [
            {"name": c.name, "type": c.type, "scale": c.scale} for c in report.columns
        ]
    fulfilment = {c["name"]: c for c in by_name["fulfilment"]["columns"]}
    assert fulfilment["fulfilment_rate"] == {
        "name": "fulfilment_rate",
        "type": "decimal",
        "scale": 4,
    }
    frameworks = {c["name"]: c["type"] for c in by_name["frameworks"]["columns"]}
    assert frameworks["parties"] == "text_list"

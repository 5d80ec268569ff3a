"""The transparency log against the real database: tree, checkpoints, proofs, tampering.

Must-show 1 and 2 play a superuser who rewrites the log so that every hash chain still
holds; only the tree and the checkpoints the auditor kept give it away.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from api import cli
from entente_verify.__main__ import main as verifier_main
from entente_verify.bundle import check_checkpoints, open_kept, split_notes, verify_bundle
from entente_verify.merkle import verify_consistency, verify_inclusion
from entente_verify.note import Signer, open_checkpoint
from reporting.snapshot import LAST_EVENT_BEFORE
from store import NO_STREAM, EventStore, NewEvent, verify
from store.database import create_pool
from store.roles import derived_app_url
from store.transparency import (
    KEY_ENV,
    KEY_FILE_ENV,
    NEXT_EVENTS_SQL,
    WITNESS_DIR_ENV,
    Checkpointer,
    bundle,
    consistency_proof,
    inclusion_proof,
    latest_checkpoint,
    load_signer,
    verify_tree,
)
from store.verification import recompute_link
from tests.conftest import clone_database, drop_database

SIGNER = Signer.generate("test.entente/log")


class Log:
    """A fresh database of one test's own, as the service and as a superuser."""

    def __init__(self, url: str, pool: Any, owner: Any) -> None:
        self.url, self.pool, self.owner = url, pool, owner
        self.store = EventStore(pool)

    def checkpointer(self, **options: Any) -> Checkpointer:
        return Checkpointer(self.pool, self.url, SIGNER, interval=0, **options)

    async def stream(self, events: int, prefix: str = "audit") -> str:
        sid = f"{prefix}-{uuid.uuid4()}"
        await self.store.append(
            sid, [NewEvent(type="Noted", data={"n": n}) for n in range(events)], NO_STREAM
        )
        return sid


@pytest_asyncio.fixture(loop_scope="session")
async def log(postgres_url: str, template_database: str) -> AsyncIterator[Log]:
    owner_url = await clone_database(postgres_url, template_database)
    url = derived_app_url(owner_url)
    pool = await create_pool(url, max_size=4)
    owner = await create_pool(owner_url, max_size=2)
    try:
        yield Log(url, pool, owner)
    finally:
        await pool.close()
        await owner.close()
        await drop_database(postgres_url, owner_url)


async def _build(log: Log, **options: Any) -> str:
    """Extend the tree over every event appended so far, sign, return the latest note.

    The read horizon is the whole server's: a transaction open in another database (other
    tests) holds it back for a moment, so this waits until the tree has caught up."""
    checkpointer = log.checkpointer(**options)
    events = await log.pool.fetchval("SELECT count(*) FROM event_store.events")
    try:
        async with asyncio.timeout(60):
            while True:
                await checkpointer.catch_up()
                if checkpointer.size >= events:
                    break
                await asyncio.sleep(0.05)
    finally:
        await checkpointer.release()
    async with log.pool.acquire() as connection:
        latest = await latest_checkpoint(connection)
    assert latest is not None
    return latest.note


async def _stream_bundle(log: Log, *stream_ids: str, known: tuple[int, ...] = ()) -> bytes:
    async def events() -> list[Any]:
        return [e for sid in stream_ids for e in await log.store.read_stream(sid)]

    return await bundle(log.pool, "test", events, known)


async def test_the_checkpointer_builds_the_tree_signs_and_proves(log: Log, tmp_path):
    streams = [await log.stream(n) for n in (3, 5, 1)]
    first_note = await _build(log, batch=4, witness_dir=tmp_path)
    first = open_checkpoint(first_note, SIGNER.verifier)
    assert first.size == 9
    for _ in range(2):
        await log.stream(2, prefix="more")
    second_note = await _build(log, batch=4, witness_dir=tmp_path)
    second = open_checkpoint(second_note, SIGNER.verifier)
    assert second.size == 13

    report = await verify(log.pool)
    assert report.intact and report.tree is not None
    assert (report.tree.tree_size, report.tree.checkpoint_size) == (13, 13)
    assert report.tree.checkpoint_root_matches is True

    async with log.pool.acquire() as connection:
        for event in await log.store.read_stream(streams[1]):
            proof = await inclusion_proof(connection, tree_size_=13, event_id=event.event_id)
            assert proof.position == event.position
            assert verify_inclusion(
                proof.leaf_index,
                13,
                bytes.fromhex(proof.leaf_hash),
                [bytes.fromhex(h) for h in proof.proof],
                second.root,
            )
        consistency = await consistency_proof(connection, 9, 13)
    path = [bytes.fromhex(h) for h in consistency.proof]
    assert verify_consistency(9, 13, first.root, second.root, path)
    # The witness file holds both notes, one after the other; `checkpoint` the latest.
    witness = (tmp_path / "checkpoints").read_text()
    opened, problems = open_kept(split_notes(witness), SIGNER.verifier)
    assert not problems and [c.size for _, c in opened] == [4, 8, 9, 13]  # interval 0
    assert (tmp_path / "checkpoint").read_text() == second_note
    assert first_note in witness and second_note in witness


def _plan_nodes(plan: dict[str, Any]) -> list[str]:
    return [plan["Node Type"], *(n for p in plan.get("Plans", []) for n in _plan_nodes(p))]


@pytest.mark.parametrize(
    ("query", "arguments"),
    [
        (NEXT_EVENTS_SQL, ("0", 0, 100)),
        (str(LAST_EVENT_BEFORE).replace(":horizon", "$1::bigint"), (2**40,)),
    ],
    ids=["checkpointer-batch", "export-head"],
)
async def test_reads_in_global_order_walk_the_index_instead_of_sorting_the_log(
    log: Log, query: str, arguments: tuple[Any, ...]
):
    """Sorting is forbidden to the planner here, so a query whose ORDER BY names a
    computed column (the bigint alias of transaction_id) still shows a Sort node: that
    mistake made every checkpointer batch sort the rest of a 1M-event log."""
    await log.stream(5)
    async with log.pool.acquire() as connection, connection.transaction():
        await connection.execute("SET LOCAL enable_sort = off")
        plan = await connection.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *arguments)
    nodes = _plan_nodes(json.loads(plan)[0]["Plan"])
    assert "Sort" not in nodes and "Incremental Sort" not in nodes, nodes


async def test_only_one_checkpointer_owns_the_log_and_the_app_may_only_append(log: Log):
    await log.stream(2)
    first, second = log.checkpointer(), log.checkpointer()
    try:
        assert await first.try_own()
        assert not await second.try_own()
        assert await second.step() == 0
        added = 0
        async with asyncio.timeout(60):
            while added < 2:  # once both events are below the (server-wide) read horizon
                added += await first.step()
        assert second.size == 0
    finally:
        await first.release()
        await second.release()
    for statement in (
        "UPDATE transparency.leaves SET hash = hash",
        "DELETE FROM transparency.nodes",
        "DELETE FROM transparency.checkpoints",
        "TRUNCATE transparency.leaves",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await log.pool.execute(statement)


async def _rewrite(owner: Any, position: int, data: dict[str, Any]) -> None:
    """A superuser edits one event and recomputes its stream's whole chain."""
    async with owner.acquire() as connection, connection.transaction():
        await connection.execute("SET LOCAL session_replication_role = replica")  # no triggers
        sid = await connection.fetchval(
            "SELECT stream_id FROM event_store.events WHERE position = $1", position
        )
        await connection.execute(
            "UPDATE event_store.events SET data = $2::jsonb WHERE position = $1",
            position,
            json.dumps(data),
        )
        previous: bytes | None = None
        for row in await connection.fetch(
            "SELECT position, stream_id, version, event_id, type, schema_version,"
            " data::text AS data, metadata::text AS metadata, valid_from, valid_to, recorded_at"
            " FROM event_store.events WHERE stream_id = $1 ORDER BY version",
            sid,
        ):
            link = recompute_link(row, previous)
            await connection.execute(
                "UPDATE event_store.events SET prev_hash = $2, hash = $3 WHERE position = $1",
                row["position"],
                previous,
                link,
            )
            previous = link


async def test_must_show_1_a_rewrite_with_a_recomputed_chain_is_named(log: Log):
    """The chains all hold after the rewrite; the tree and the kept checkpoint do not."""
    intact = await log.stream(3)
    sid = await log.stream(5)
    kept = await _build(log)
    victim = (await log.store.read_stream(sid))[1]
    await _rewrite(log.owner, victim.position, {"n": 1000})

    report = await verify(log.pool)
    assert report.broken == []  # the chains were recomputed consistently
    assert not report.intact and report.tree is not None
    named = [(p.event_id, p.stream_id, p.version) for p in report.tree.problems if p.event_id]
    assert named == [(str(victim.event_id), sid, 2)]
    assert any("do not give back the root" in p.reason for p in report.tree.problems)

    # Offline: the server's bundle now, checked against the checkpoint kept before.
    content = await _stream_bundle(log, intact, sid)
    result = verify_bundle(content, SIGNER.verifier, [kept])
    assert not result.ok
    failed = result.failed_events()
    assert failed[0].event_id == str(victim.event_id)
    assert "not in the signed tree" in (failed[0].failure or "")
    assert {f.stream_id for f in failed} == {sid}  # the untouched stream verifies
    assert all(e.ok for e in result.events if e.stream_id == intact)


async def test_must_show_2_a_consistent_tail_cut_fails_the_kept_checkpoint(log: Log):
    """The newest event of every stream deleted, the tree rebuilt and re-signed: every
    chain and the server's own tree agree; the consistency proof to the kept one cannot."""
    streams = [await log.stream(n) for n in (4, 3, 5)]
    kept = await _build(log)
    size = open_checkpoint(kept, SIGNER.verifier).size
    async with log.owner.acquire() as connection, connection.transaction():
        await connection.execute("SET LOCAL session_replication_role = replica")
        await connection.execute(
            "DELETE FROM event_store.events e WHERE version = (SELECT max(version)"
            " FROM event_store.events WHERE stream_id = e.stream_id)"
        )
    lazy = await verify(log.pool)  # a cut that leaves the tree alone is seen at once
    assert lazy.broken == [] and lazy.tree is not None
    assert sum("gone from the log" in p.reason for p in lazy.tree.problems) == len(streams)

    async with log.owner.acquire() as connection, connection.transaction():
        await connection.execute("SET LOCAL session_replication_role = replica")
        await connection.execute(
            "TRUNCATE transparency.leaves, transparency.nodes, transparency.checkpoints"
        )
    await log.stream(4, prefix="later")  # the log grows past the kept size again
    latest = await _build(log)
    assert open_checkpoint(latest, SIGNER.verifier).size >= size
    assert (await verify(log.pool)).intact  # the server alone cannot tell

    async with log.pool.acquire() as connection:
        proof = await consistency_proof(
            connection, size, open_checkpoint(latest, SIGNER.verifier).size
        )
    opened, problems = open_kept([kept, latest], SIGNER.verifier)
    assert not problems
    proofs = {(proof.first, proof.second): [bytes.fromhex(h) for h in proof.proof]}
    found = check_checkpoints(opened, proofs)
    assert len(found) == 1 and found[0].startswith("inconsistent: the log of")
    # The bundle with the kept size carries the same proof and fails the same way.
    content = await _stream_bundle(log, streams[0], known=(size,))
    result = verify_bundle(content, SIGNER.verifier, [kept])
    assert any(p.startswith("inconsistent") for p in result.problems)


async def test_verify_tree_names_events_the_tree_never_saw(log: Log):
    await log.stream(2)
    await _build(log)
    report = await verify_tree(log.pool)
    assert report.intact and report.leaves_checked == 2


def test_the_command_line_makes_a_key_a_bundle_and_verifies(
    owner_database_url: str, database_url: str, tmp_path, capsys
):
    key_file = tmp_path / "log-key"
    cli.main(["log-key", "create", "--out", str(key_file), "--origin", "cli.test/log"])
    verifier_key = capsys.readouterr().out.strip()
    assert verifier_key.startswith("cli.test/log+") and "PRIVATE" in key_file.read_text()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(SystemExit):
        cli.main(["log-key", "create", "--out", str(key_file)])  # never overwritten

    async def signed_stream() -> str:
        pool = await create_pool(database_url, max_size=2)
        try:
            log = Log(database_url, pool, None)
            sid = await log.stream(3)
            checkpointer = Checkpointer(pool, database_url, Signer.parse(key_file.read_text()))
            async with asyncio.timeout(60):
                while await pool.fetchval(
                    "SELECT count(*) FROM event_store.events e WHERE NOT EXISTS"
                    " (SELECT 1 FROM transparency.leaves l WHERE l.position = e.position)"
                ):
                    await checkpointer.catch_up()
            await checkpointer.release()
            return sid
        finally:
            await pool.close()

    sid = asyncio.run(signed_stream())
    urls = ["--database-url", owner_database_url, "--app-database-url", database_url]
    bundle_file = tmp_path / "bundle.ndjson"
    cli.main([*urls, "audit-bundle", "--stream", sid, "--out", str(bundle_file)])
    assert capsys.readouterr().out.startswith("3 events ->")
    assert verifier_main(["--key", verifier_key, str(bundle_file)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("VERIFIED: 3 events")
    with pytest.raises(SystemExit) as verified:
        cli.main([*urls, "verify"])
    assert verified.value.code == 0
    assert "root matches" in capsys.readouterr().out


def test_make_run_signs_with_a_local_key_made_once(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "LOCAL_LOG_KEY_FILE", tmp_path / "log-key")
    monkeypatch.setattr(cli, "LOCAL_WITNESS_DIR", tmp_path / "witness")
    for name in (KEY_ENV, KEY_FILE_ENV, WITNESS_DIR_ENV):
        monkeypatch.delenv(name, raising=False)
    cli._ensure_log_key()
    made = (tmp_path / "log-key").read_text()
    assert os.environ[KEY_FILE_ENV] == str(tmp_path / "log-key")
    assert os.environ[WITNESS_DIR_ENV] == str(tmp_path / "witness")
    signer = load_signer()
    assert signer is not None and signer.name == "entente.local/register"
    monkeypatch.delenv(KEY_FILE_ENV)
    cli._ensure_log_key()  # the next run signs with the same key
    assert (tmp_path / "log-key").read_text() == made

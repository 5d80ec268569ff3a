"""The transparency log: the Merkle tree over the log, checkpoints, proofs and bundles.

The tree is built after the fact, never inside an append: the checkpointer reads events
below the read horizon in the global order (which no longer changes there), appends one
leaf per event and every interior node that becomes complete, all in one transaction,
and signs a checkpoint (entente_verify/note.py) with a key that never enters the
database. Proofs fold a handful of stored nodes (entente_verify/merkle.py), so their cost
does not grow with the log. docs/AUDIT.md says what each check proves.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import math
import os
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from entente_verify.bundle import FORMAT
from entente_verify.events import leaf_bytes
from entente_verify.merkle import (
    STRIDE,
    Frontier,
    Node,
    Range,
    complete_hash,
    consistency_ranges,
    fold,
    inclusion_ranges,
    leaf_hash,
    stored_parts,
    subtrees,
)
from entente_verify.note import Checkpoint, NoteError, Signer, Verifier, open_checkpoint
from store.database import asyncpg_dsn
from store.hashing import canonical_time
from store.records import RecordedEvent

log = logging.getLogger("entente.transparency")

KEY_FILE_ENV = "ENTENTE_LOG_KEY_FILE"
KEY_ENV = "ENTENTE_LOG_KEY"
WITNESS_DIR_ENV = "ENTENTE_WITNESS_DIR"
DEFAULT_ORIGIN = "entente.local/register"
LOCK_CLASS = 3
"""Session advisory lock class of the checkpointer (the projections use class 2)."""
BATCH = 20_000
CHECKPOINT_INTERVAL = 2.0
"""At most this many seconds between a new leaf and a checkpoint that covers it, unless
ENTENTE_CHECKPOINT_INTERVAL says otherwise."""
INTERVAL_ENV = "ENTENTE_CHECKPOINT_INTERVAL"
IDLE_WAIT = 0.5
PROBLEM_LIMIT = 100

RECORDED_TEXT = """to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
"""recorded_at as the chain spells it (store.hashing.canonical_time), by the database: the
checkpointer's hottest line of Python otherwise."""

NEXT_EVENTS_SQL = f"""SELECT e.transaction_id::text::bigint AS transaction_id, e.position,
    e.stream_id, e.version, {RECORDED_TEXT} AS recorded, e.hash
FROM event_store.events e
WHERE (e.transaction_id, e.position) > ($1::text::xid8, $2::bigint)
  AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY e.transaction_id, e.position
LIMIT $3"""
"""Qualified on purpose: a bare `ORDER BY transaction_id` would name the bigint output
column, which no index orders, and every batch would sort the rest of the log."""

SIZE_SQL = "SELECT coalesce(max(leaf_index) + 1, 0) FROM transparency.leaves"

LAST_LEAF_SQL = """SELECT e.transaction_id::text::bigint AS transaction_id, e.position
FROM transparency.leaves l JOIN event_store.events e ON e.position = l.position
WHERE l.leaf_index = $1"""

NODES_SQL = """SELECT 0::smallint AS level, leaf_index AS index, hash FROM transparency.leaves
WHERE leaf_index = ANY($1::bigint[])
UNION ALL
SELECT n.level, n.index, n.hash
FROM transparency.nodes n JOIN unnest($2::smallint[], $3::bigint[]) AS w(level, index)
  ON n.level = w.level AND n.index = w.index"""

CHECKPOINT_COLUMNS = "tree_size, root_hash, issued_at, key, note"
LATEST_SQL = (
    f"SELECT {CHECKPOINT_COLUMNS} FROM transparency.checkpoints ORDER BY tree_size DESC LIMIT 1"
)
AT_LEAST_SQL = f"""SELECT {CHECKPOINT_COLUMNS} FROM transparency.checkpoints
WHERE tree_size >= $1 ORDER BY tree_size LIMIT 1"""

LEAF_SQL = """SELECT l.leaf_index, l.position FROM transparency.leaves l
WHERE l.position = coalesce($1::bigint,
    (SELECT position FROM event_store.events WHERE event_id = $2::uuid))"""

LEAVES_OF_SQL = """SELECT position, leaf_index FROM transparency.leaves
WHERE position = ANY($1::bigint[])"""

TREE_ROWS_SQL = f"""SELECT l.leaf_index, l.position, l.hash AS leaf, e.event_id, e.stream_id,
    e.version, {RECORDED_TEXT} AS recorded, e.hash
FROM transparency.leaves l LEFT JOIN event_store.events e ON e.position = l.position
WHERE l.leaf_index < $1
ORDER BY l.leaf_index"""

UNTREED_SQL = """SELECT count(*) FROM event_store.events
WHERE (transaction_id, position) <= ($1::text::xid8, $2::bigint)"""


class TreeUnavailable(Exception):
    """A proof or checkpoint asked of a tree that does not (yet) hold it."""


class CheckpointView(msgspec.Struct, frozen=True, kw_only=True):
    """A signed checkpoint as the API shows it; `note` is the C2SP signed-note text."""

    tree_size: int
    root_hash: str
    issued_at: dt.datetime
    key: str
    note: str


class InclusionProof(msgspec.Struct, frozen=True, kw_only=True):
    """Leaf `leaf_index` (the event at `position`) is in the tree of `tree_size`."""

    leaf_index: int
    position: int
    tree_size: int
    leaf_hash: str
    proof: list[str]


class ConsistencyProof(msgspec.Struct, frozen=True, kw_only=True):
    """The tree of `second` leaves extends the tree of `first` leaves."""

    first: int
    second: int
    proof: list[str]


class TreeProblem(msgspec.Struct, frozen=True, kw_only=True):
    """A leaf the stored events no longer reproduce, or a checkpoint they contradict."""

    leaf_index: int | None
    position: int | None
    event_id: str | None
    stream_id: str | None
    version: int | None
    reason: str


class TreeReport(msgspec.Struct, frozen=True, kw_only=True):
    """The tree recomputed from the events, against its leaves and the latest checkpoint."""

    tree_size: int
    leaves_checked: int
    checkpoint_size: int | None
    checkpoint_root_matches: bool | None
    problems: list[TreeProblem]

    @property
    def intact(self) -> bool:
        """True when every leaf and the latest checkpoint match the stored events."""
        return not self.problems


def _view(row: Any) -> CheckpointView:
    return CheckpointView(
        tree_size=row["tree_size"],
        root_hash=row["root_hash"].hex(),
        issued_at=row["issued_at"],
        key=row["key"],
        note=row["note"],
    )


def event_leaf(position: int, stream_id: str, version: int, recorded: str, link: bytes) -> bytes:
    """The leaf hash of one stored event (`recorded`: canonical_time of its recorded_at)."""
    return leaf_hash(leaf_bytes(position, stream_id, version, recorded, link))


def checkpoint_interval(environ: Mapping[str, str] | None = None) -> float:
    """Seconds between checkpoints while the log grows: ENTENTE_CHECKPOINT_INTERVAL, else
    CHECKPOINT_INTERVAL. A shorter interval makes new events provable sooner and signs
    (and stores) more checkpoints; refuses anything but a positive number of seconds."""
    text = (os.environ if environ is None else environ).get(INTERVAL_ENV, "").strip()
    if not text:
        return CHECKPOINT_INTERVAL
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise ValueError(f"{INTERVAL_ENV} must be a positive number of seconds, not {text!r}")
    return seconds


# -- keys -----------------------------------------------------------------------------------


def load_signer(environ: dict[str, str] | None = None) -> Signer | None:
    """The checkpoint key from ENTENTE_LOG_KEY (the key text) or ENTENTE_LOG_KEY_FILE."""
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV):
        return Signer.parse(env[KEY_ENV])
    if env.get(KEY_FILE_ENV):
        return Signer.parse(Path(env[KEY_FILE_ENV]).read_text())
    return None


def create_key_file(path: Path, origin: str = DEFAULT_ORIGIN) -> Signer:
    """A new signing key in `path` (readable by its owner only); refuses to overwrite."""
    signer = Signer.generate(origin)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x") as handle:
        path.chmod(0o600)
        handle.write(signer.text() + "\n")
    return signer


# -- reading the tree -----------------------------------------------------------------------


async def tree_size(connection: Any) -> int:
    """How many leaves the stored tree has."""
    return int(await connection.fetchval(SIZE_SQL))


async def node_hashes(connection: Any, nodes: Iterable[Node]) -> dict[Node, bytes]:
    """The hashes of complete subtrees, from the stored ones (merkle.STRIDE) in one query;
    TreeUnavailable if the tree does not hold one yet."""
    parts = {node: stored_parts(*node) for node in set(nodes)}
    wanted = {part for found in parts.values() for part in found}
    leaves = [index for level, index in wanted if level == 0]
    inner = [(level, index) for level, index in wanted if level > 0]
    rows = await connection.fetch(
        NODES_SQL, leaves, [level for level, _ in inner], [index for _, index in inner]
    )
    stored = {(row["level"], row["index"]): row["hash"] for row in rows}
    if len(stored) != len(wanted):
        raise TreeUnavailable("the tree does not hold every node this proof needs")
    return {node: complete_hash([stored[p] for p in found]) for node, found in parts.items()}


async def range_hashes(connection: Any, ranges: Sequence[Range]) -> list[bytes]:
    """MTH of each range, folded from the complete subtrees that make it up."""
    pieces = [subtrees(start, end) for start, end in ranges]
    found = await node_hashes(connection, (node for piece in pieces for node in piece))
    return [fold([found[node] for node in piece]) for piece in pieces]


async def _checked_size(connection: Any, size: int) -> None:
    built = await tree_size(connection)
    if not 0 < size <= built:
        raise TreeUnavailable(f"the tree has {built} leaves; no tree of {size} to prove against")


async def inclusion_proof(
    connection: Any,
    *,
    tree_size_: int,
    position: int | None = None,
    event_id: uuid.UUID | None = None,
) -> InclusionProof:
    """The proof that an event (by position or id) is a leaf of the tree of `tree_size_`.

    Two queries: the leaf, then every stored subtree the audit path folds (a size beyond
    the built tree lacks some of them, and is refused for that)."""
    row = await connection.fetchrow(LEAF_SQL, position, event_id)
    if row is None:
        raise TreeUnavailable("no such event in the tree (yet)")
    index = row["leaf_index"]
    if index >= tree_size_:
        raise TreeUnavailable(f"leaf {index} is not in the tree of {tree_size_}")
    pieces = [subtrees(start, end) for start, end in inclusion_ranges(index, tree_size_)]
    found = await node_hashes(connection, [(0, index), *(n for piece in pieces for n in piece)])
    return InclusionProof(
        leaf_index=index,
        position=row["position"],
        tree_size=tree_size_,
        leaf_hash=found[(0, index)].hex(),
        proof=[fold([found[node] for node in piece]).hex() for piece in pieces],
    )


async def consistency_proof(connection: Any, first: int, second: int) -> ConsistencyProof:
    """The proof that the tree of `second` extends the tree of `first`."""
    if not 0 < first <= second:
        raise TreeUnavailable("a consistency proof goes from a smaller tree size to a larger one")
    await _checked_size(connection, second)
    path = await range_hashes(connection, consistency_ranges(first, second))
    return ConsistencyProof(
        first=first, second=second, proof=[h.hex() for h in path] if first < second else []
    )


async def latest_checkpoint(connection: Any) -> CheckpointView | None:
    """The newest signed checkpoint, if any was issued."""
    row = await connection.fetchrow(LATEST_SQL)
    return None if row is None else _view(row)


async def checkpoint_at_least(connection: Any, size: int) -> CheckpointView | None:
    """The first checkpoint whose tree holds at least `size` leaves."""
    row = await connection.fetchrow(AT_LEAST_SQL, size)
    return None if row is None else _view(row)


async def checkpoint_covering(connection: Any, position: int) -> CheckpointView | None:
    """The first checkpoint whose tree holds the event at `position`."""
    row = await connection.fetchrow(LEAF_SQL, position, None)
    return None if row is None else await checkpoint_at_least(connection, row["leaf_index"] + 1)


async def signing_keys(connection: Any) -> list[str]:
    """Every verifier key checkpoints were signed with, oldest first."""
    rows = await connection.fetch("SELECT key FROM transparency.keys ORDER BY first_used_at, key")
    return [row["key"] for row in rows]


# -- building it ----------------------------------------------------------------------------


class Checkpointer:
    """Extends the tree below the read horizon and signs checkpoints; one owner at a time.

    `step()` does one round (take the lock if free, extend, sign when due); `run()` loops
    it until stopped. Whoever holds the session advisory lock (class 3) is the only
    writer, so two workers never race; the tables' keys would refuse a double write anyway.
    """

    def __init__(
        self,
        pool: Any,
        url: str,
        signer: Signer | None,
        *,
        interval: float | None = None,
        batch: int = BATCH,
        witness_dir: Path | None = None,
    ) -> None:
        self._pool = pool
        self._url = url
        self.signer = signer
        self._interval = checkpoint_interval() if interval is None else interval
        self._batch = batch
        self._witness_dir = witness_dir
        self._lock: Any | None = None
        self._frontier: Frontier | None = None
        self._cursor = (0, 0)
        self._signed_size = 0
        self._signed_at = 0.0
        self._ahead: tuple[tuple[int, int], asyncio.Task[list[Any]]] | None = None

    async def try_own(self) -> bool:
        """Take the checkpointer's lock if no other process holds it; after the lock's
        connection was lost, another process may already own it: ask again."""
        if self._lock is not None and self._lock.is_closed():
            log.warning("checkpointer: lost the lock connection; owning again")
            await self.release()
        if self._lock is None:
            self._lock = await asyncpg.connect(asyncpg_dsn(self._url))
            if not await self._lock.fetchval("SELECT pg_try_advisory_lock($1, 0)", LOCK_CLASS):
                await self.release()
                return False
            log.info("checkpointer: owning the transparency log")
        return True

    async def release(self) -> None:
        """Give the lock up (and forget the cached tree edge)."""
        self._frontier = None
        await self._forget_ahead()
        if self._lock is not None:
            with contextlib.suppress(Exception):  # unlock first: a close ends the session later
                await self._lock.execute("SELECT pg_advisory_unlock_all()")
                await self._lock.close()
            self._lock = None

    async def _load(self, connection: Any) -> Frontier:
        size = await tree_size(connection)
        hashes = await node_hashes(connection, subtrees(0, size))
        frontier = Frontier(size, [hashes[node] for node in subtrees(0, size)])
        self._cursor = (0, 0)
        if size:
            last = await connection.fetchrow(LAST_LEAF_SQL, size - 1)
            if last is None:
                raise TreeUnavailable(f"the event of leaf {size - 1} is gone from the log")
            self._cursor = (last["transaction_id"], last["position"])
        latest = await connection.fetchval("SELECT max(tree_size) FROM transparency.checkpoints")
        self._signed_size = latest or 0
        return frontier

    async def _read(self, connection: Any, cursor: tuple[int, int]) -> list[Any]:
        rows: list[Any] = await connection.fetch(
            NEXT_EVENTS_SQL, str(cursor[0]), cursor[1], self._batch
        )
        return rows

    async def _read_pooled(self, cursor: tuple[int, int]) -> list[Any]:
        async with self._pool.acquire() as connection:
            return await self._read(connection, cursor)

    async def _next_rows(self, connection: Any) -> list[Any]:
        """The batch after the cursor: read ahead while the previous one was being hashed
        and written, when there was a backlog; else read now."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            cursor, task = ahead
            if cursor == self._cursor:
                return await task
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        return await self._read(connection, self._cursor)

    async def _forget_ahead(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead[1].cancel()
            with contextlib.suppress(BaseException):
                await ahead[1]

    async def extend(self) -> int:
        """Append the next batch of events below the horizon as leaves; how many."""
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                frontier = self._frontier or await self._load(connection)
                self._frontier = None  # until this batch commits
                rows = await self._next_rows(connection)
                if len(rows) == self._batch:  # a backlog: read the next batch meanwhile
                    after = (rows[-1]["transaction_id"], rows[-1]["position"])
                    self._ahead = (after, asyncio.create_task(self._read_pooled(after)))
                leaves: list[tuple[int, int, bytes]] = []
                nodes: list[tuple[int, int, bytes]] = []
                for _, position, stream_id, version, recorded, link in rows:
                    leaf = event_leaf(position, stream_id, version, recorded, link)
                    leaves.append((frontier.size, position, leaf))
                    nodes.extend(n for n in frontier.append(leaf) if n[0] % STRIDE == 0)
                for table, records, columns in (
                    ("leaves", leaves, ["leaf_index", "position", "hash"]),
                    ("nodes", nodes, ["level", "index", "hash"]),
                ):
                    if records:
                        await connection.copy_records_to_table(
                            table, schema_name="transparency", records=records, columns=columns
                        )
            if rows:
                self._cursor = (rows[-1]["transaction_id"], rows[-1]["position"])
            self._frontier = frontier
            return len(rows)
        except BaseException:
            self._frontier = None
            await self._forget_ahead()
            raise

    @property
    def size(self) -> int:
        """The tree's size as this checkpointer last built it."""
        return self._frontier.size if self._frontier else 0

    async def issue(self, now: dt.datetime | None = None) -> Checkpoint | None:
        """Sign and store a checkpoint of the tree as built, if it grew since the last one."""
        frontier = self._frontier
        if self.signer is None or frontier is None or frontier.size <= self._signed_size:
            return None
        moment = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        checkpoint = Checkpoint(self.signer.name, frontier.size, frontier.root(), moment)
        note = self.signer.sign(checkpoint.text())
        key = self.signer.verifier.text()
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO transparency.keys (key) VALUES ($1) ON CONFLICT DO NOTHING", key
            )
            await connection.execute(
                "INSERT INTO transparency.checkpoints (tree_size, root_hash, issued_at, key, note)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tree_size) DO NOTHING",
                checkpoint.size,
                checkpoint.root,
                moment,
                key,
                note,
            )
        self._signed_size = checkpoint.size
        self._signed_at = asyncio.get_running_loop().time()
        if self._witness_dir is not None:
            write_witness_file(self._witness_dir, note)
        return checkpoint

    async def step(self, *, sign_now: bool = False) -> int:
        """One round: extend by up to a batch, sign when a checkpoint is due; leaves added."""
        if not await self.try_own():
            return 0
        added = await self.extend()
        due = asyncio.get_running_loop().time() - self._signed_at >= self._interval
        if sign_now or due or added < self._batch:
            await self.issue()
        return added

    async def catch_up(self) -> int:
        """Extend to the horizon and sign (tests, `entente transparency catch-up`)."""
        total = 0
        while added := await self.step():
            total += added
        await self.step(sign_now=True)
        return total

    async def run(self, stop: asyncio.Event, progressed: Callable[[], None] | None = None) -> None:
        """Work until `stop` is set (store/supervision.py restarts it after an error, and
        `progressed` tells it each round went through); polls, a NOTIFY only hints."""
        try:
            while not stop.is_set():
                added = await self.step()
                if progressed is not None:
                    progressed()
                if added < self._batch:
                    await _wait(stop, IDLE_WAIT)
        finally:
            await self.release()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def write_witness_file(directory: Path, note: str) -> None:
    """Append the note to `checkpoints` (a witness mirrors that) and replace `checkpoint`."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "checkpoints").open("a") as handle:
        handle.write(note + "\n")
    latest = directory / "checkpoint.tmp"
    latest.write_text(note)
    latest.replace(directory / "checkpoint")


# -- verifying it against the events --------------------------------------------------------


async def verify_tree(pool: Any) -> TreeReport:
    """Recompute every leaf from the stored events, and the root the latest checkpoint signs.

    Names the first leaf per stream that the events no longer reproduce (an event changed
    after it entered the tree), every leaf whose event is gone, events in the tree's range
    that have no leaf, and a checkpoint whose root the events do not give back.
    """
    problems: list[TreeProblem] = []
    async with (
        pool.acquire() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        size = await tree_size(connection)
        checkpoint = await connection.fetchrow(LATEST_SQL)
        signed: Checkpoint | None = None
        if checkpoint is not None:
            try:
                signed = open_checkpoint(checkpoint["note"], Verifier.parse(checkpoint["key"]))
            except NoteError as error:
                problems.append(_problem(None, f"the latest checkpoint does not verify: {error}"))
            if signed is not None and (
                signed.size != checkpoint["tree_size"] or signed.root != checkpoint["root_hash"]
            ):
                problems.append(_problem(None, "the latest checkpoint's row differs from its note"))
        frontier = Frontier()
        root_matches: bool | None = None
        failed_streams: set[str] = set()
        last = (0, 0)
        async for row in connection.cursor(TREE_ROWS_SQL, size, prefetch=5000):
            if row["event_id"] is None:
                leaf = row["leaf"]
                problems.append(_problem(row, "the event of this leaf is gone from the log"))
            else:
                leaf = event_leaf(
                    row["position"],
                    row["stream_id"],
                    row["version"],
                    row["recorded"],
                    row["hash"],
                )
                if leaf != row["leaf"] and row["stream_id"] not in failed_streams:
                    failed_streams.add(row["stream_id"])
                    problems.append(
                        _problem(
                            row,
                            "the event no longer matches its leaf: it (or its chain)"
                            " was rewritten after it entered the tree",
                        )
                    )
                last = (row["leaf_index"], row["position"])
            frontier.append(leaf)
            if signed is not None and frontier.size == signed.size:
                root_matches = frontier.root() == signed.root
        if signed is not None and root_matches is not True:
            problems.append(
                _problem(
                    None, f"the events do not give back the root signed for tree size {signed.size}"
                )
            )
        if size and last[1]:
            cursor = await connection.fetchrow(
                "SELECT transaction_id::text AS xid FROM event_store.events WHERE position = $1",
                last[1],
            )
            counted = await connection.fetchval(UNTREED_SQL, cursor["xid"], last[1])
            if counted > last[0] + 1:
                problems.append(
                    _problem(
                        None, f"{counted - last[0] - 1} events within the tree's range have no leaf"
                    )
                )
    return TreeReport(
        tree_size=size,
        leaves_checked=frontier.size,
        checkpoint_size=signed.size if signed else None,
        checkpoint_root_matches=root_matches,
        problems=problems[:PROBLEM_LIMIT],
    )


def _problem(row: Any | None, reason: str) -> TreeProblem:
    found = dict(row) if row is not None else {}
    event_id = found.get("event_id")
    return TreeProblem(
        leaf_index=found.get("leaf_index"),
        position=found.get("position"),
        event_id=str(event_id) if event_id else None,
        stream_id=found.get("stream_id"),
        version=found.get("version"),
        reason=reason,
    )


# -- audit bundles --------------------------------------------------------------------------


def _event_line(event: RecordedEvent, leaf_index: int, proof: list[bytes]) -> bytes:
    line = {
        "leaf_index": leaf_index,
        "position": event.position,
        "stream_id": event.stream_id,
        "version": event.version,
        "event_id": str(event.event_id),
        "type": event.type,
        "schema_version": event.schema_version,
        "data": event.data,
        "metadata": event.metadata,
        "valid_from": event.valid_from.isoformat() if event.valid_from else None,
        "valid_to": event.valid_to.isoformat() if event.valid_to else None,
        "recorded_at": canonical_time(event.recorded_at),
        "prev_hash": event.prev_hash.hex() if event.prev_hash else None,
        "hash": event.hash.hex(),
        "proof": [h.hex() for h in proof],
    }
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode()


async def bundle(
    pool: Any,
    subject: str,
    events: Callable[[], Awaitable[list[RecordedEvent]]],
    known_sizes: Sequence[int] = (),
) -> bytes:
    """An audit bundle: the latest checkpoint, then each event it covers with its proof.

    `known_sizes` are tree sizes of checkpoints the auditor kept: the header carries a
    consistency proof between each and the bundle's checkpoint.
    """
    async with pool.acquire() as connection:
        checkpoint = await latest_checkpoint(connection)
        if checkpoint is None:
            raise TreeUnavailable("no checkpoint has been signed yet")
        size = checkpoint.tree_size
        chosen = await events()
        rows = await connection.fetch(LEAVES_OF_SQL, [e.position for e in chosen])
        leaf_of = {row["position"]: row["leaf_index"] for row in rows}
        covered = [(e, leaf_of[e.position]) for e in chosen if leaf_of.get(e.position, size) < size]
        if not covered:
            raise TreeUnavailable(f"none of {subject}'s events is in the signed tree yet")
        paths = [inclusion_ranges(index, size) for _, index in covered]
        flat = [r for path in paths for r in path]
        hashes = iter(await range_hashes(connection, flat))
        proofs = [[next(hashes) for _ in path] for path in paths]
        consistency = []
        for known in sorted(set(known_sizes)):
            first, second = sorted((known, size))
            if 0 < first < second:
                proof = await consistency_proof(connection, first, second)
                consistency.append(msgspec.to_builtins(proof))
    header = {
        "format": FORMAT,
        "subject": subject,
        "origin": checkpoint.note.split("\n", 1)[0],
        "tree_size": size,
        "key": checkpoint.key,
        "checkpoint": checkpoint.note,
        "consistency": consistency,
        "events": len(covered),
    }
    lines = [json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()]
    lines += [
        _event_line(event, index, proof)
        for (event, index), proof in zip(covered, proofs, strict=True)
    ]
    return b"\n".join(lines) + b"\n"

"""A batch writes only the rows of the entities it changed.

Rewriting every row of a touched dialogue made each batch cost that dialogue's whole
history (a dialogue with a thousand progress notes rewrote a thousand rows per note) and
left the outcome tables bloated for every later report. Rows that stay keep the `xmin`
of the transaction that wrote them, which is what these tests look at; the tables must
still equal a rebuild from zero.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from benchmarks.workload import dialogue_story
from domain import commands as c
from domain.facts import Progress
from service.handling import to_new_event
from tests.integration.read_models import assert_same, snapshot
from tests.integration.test_projection_determinism import (
    Register,
    decided,
    fresh_register,
    readable,
    rebuild_all,
)

WRITTEN = {
    table: f"SELECT {key}::text AS id, xmin::text FROM reporting.{table}"
    for table, key in (
        ("outcome_progress", "progress_id"),
        ("outcomes", "outcome_id"),
        ("sessions", "session_id"),
    )
}


async def _written(register: Register) -> dict[str, dict[str, str]]:
    """Which transaction wrote each row, by table and entity id."""
    return {
        table: {r["id"]: r["xmin"] for r in await register.pool.fetch(query)}
        for table, query in WRITTEN.items()
    }


async def _append(register: Register, entries: list[tuple[str, int, list[Any]]]) -> None:
    for stream_id, version, events in entries:
        new = [to_new_event(event) for event in events]
        await register.store.append(stream_id, new, version, {"actor": "test"})
    await readable(register)


def _note(outcome: c.AdoptOutcome, text: str) -> c.RecordProgress:
    return c.RecordProgress(
        dialogue_id=outcome.dialogue_id,
        outcome_id=outcome.outcome_id,
        progress_id=uuid.uuid4(),
        progress=Progress(note=text),
    )


async def test_a_progress_note_rewrites_its_outcome_row_and_its_own_row_only(
    postgres_url: str, template_database: str
):
    story = [cmd for n in range(2) for cmd in dialogue_story(random.Random(n), n)]
    adopted = [cmd for cmd in story if isinstance(cmd, c.AdoptOutcome)]
    noted = adopted[0]
    earlier = [_note(noted, f"step {k}") for k in range(3)]
    later = _note(noted, "step 3")
    entries = decided([*story, *earlier, later])
    async with fresh_register(postgres_url, template_database) as register:
        await _append(register, entries[:-1])
        runner = register.runner(batch_size=7)
        await runner.ensure_checkpoints()
        await runner.catch_up()
        before = await _written(register)

        await _append(register, entries[-1:])
        await runner.catch_up()
        after = await _written(register)
        await runner.release()

        new_note = str(later.progress_id)
        assert set(after["outcome_progress"]) == {*before["outcome_progress"], new_note}
        assert {k: after["outcome_progress"][k] for k in before["outcome_progress"]} == before[
            "outcome_progress"
        ], "the notes already written stay as they were"
        changed = {k for k, xmin in after["outcomes"].items() if before["outcomes"].get(k) != xmin}
        assert changed == {str(noted.outcome_id)}, "only the noted outcome's row is rewritten"
        assert after["sessions"] == before["sessions"]

        live = await snapshot(register.pool)
        await rebuild_all(register, batch_size=100)
        assert_same(live, await snapshot(register.pool))


COUNTS = """SELECT (SELECT count(*) FROM reporting.dialogues WHERE dialogue_id = $1) AS dialogues,
    (SELECT count(*) FROM reporting.sessions WHERE dialogue_id = $1) AS sessions,
    (SELECT count(*) FROM reporting.outcomes WHERE dialogue_id = $1) AS outcomes,
    (SELECT count(*) FROM reporting.outcome_progress WHERE dialogue_id = $1) AS progress"""


async def test_a_retracted_dialogue_leaves_every_table_in_a_later_batch_or_the_same_one(
    postgres_url: str, template_database: str
):
    """A dialogue live before a batch loses all its rows when the batch retracts it; one
    launched and retracted within one batch never has any (and nothing is deleted for it)."""
    stories = [list(dialogue_story(random.Random(n), n)) for n in range(2)]
    ids = [story[0].dialogue_id for story in stories if isinstance(story[0], c.LaunchDialogue)]
    retract = [c.RetractDialogue(dialogue_id=d, reason="recorded in error") for d in ids]
    first = decided([*stories[0], *stories[1]])
    async with fresh_register(postgres_url, template_database) as register:
        await _append(register, first)
        runner = register.runner(batch_size=500)
        await runner.ensure_checkpoints()
        await runner.catch_up()
        live = dict(await register.pool.fetchrow(COUNTS, ids[0]))
        assert live["dialogues"] == 1 and live["sessions"] and live["outcomes"]

        await _append(register, decided([*stories[0], *stories[1], *retract])[len(first) :])
        await runner.catch_up()
        await runner.release()
        for dialogue_id in ids:
            assert set(dict(await register.pool.fetchrow(COUNTS, dialogue_id)).values()) == {0}

        live_tables = await snapshot(register.pool)
        await rebuild_all(register, batch_size=1000)  # launched and retracted in one batch
        assert_same(live_tables, await snapshot(register.pool))

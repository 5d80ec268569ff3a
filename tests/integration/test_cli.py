"""Must-show: the CLI explains itself. A user's mistake is one line, no traceback, a
non-zero exit; `demo load` and `projections rebuild --wait` show progress (plain lines
off a terminal) and the rebuild returns only once the rebuilt tables are swapped in;
a normal run prints no warning."""

from __future__ import annotations

import argparse
import subprocess
from typing import Any

import pytest

from projections.status import projection_status
from tests.api.serving import ENTENTE, ROOT


def _entente(owner_url: str, app_url: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ENTENTE, "--database-url", owner_url, "--app-database-url", app_url, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("export", "no-such-report", "--out", "/tmp/never.csv"), "no report 'no-such-report'"),
        (
            ("schedules", "create", "weekly", "--cron", "every monday"),
            "not a five-field cron expression",
        ),
        (("schedules", "create", "tz", "--timezone", "Mars/Olympus"), "not an IANA time zone"),
        (("projections", "rebuild", "no-such-projection"), "rebuild which projection?"),
        (("keys", "revoke", "no-such-key"), "no live key named 'no-such-key'"),
    ],
)
def test_a_mistake_is_one_line_without_a_traceback(owner_database_url, database_url, argv, says):
    done = _entente(owner_database_url, database_url, *argv)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert says in lines[0] and "Traceback" not in done.stderr
    assert lines[0].startswith("entente: ") or says.startswith("no live key")


def test_an_unreachable_database_is_one_line(tmp_path):
    gone = "postgresql://nobody:secret-pw@127.0.0.1:1/none"
    done = _entente(gone, gone, "projections", "status")
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "secret-pw" not in done.stderr and "Traceback" not in done.stderr


def test_every_subcommand_has_help():
    from api.cli import parser

    top = parser()
    commands: Any = top._subparsers._group_actions[0]  # type: ignore[union-attr]
    choices: dict[str, argparse.ArgumentParser] = commands.choices
    listed = {a.dest for a in commands._choices_actions}
    assert listed == set(choices), set(choices) - listed  # each has a help line
    for name, sub in choices.items():
        assert sub.description, name
        for action in sub._actions:
            if action.dest not in ("help", "action"):
                assert action.help, (name, action.dest)


async def test_demo_load_and_rebuild_wait_show_progress_and_return_when_done(
    owner_database_url, database_url, pool
):
    loaded = _entente(owner_database_url, database_url, "demo", "load")
    assert loaded.returncode == 0, loaded.stderr
    assert "demo load: " in loaded.stderr and " commands" in loaded.stderr
    assert "Warning" not in loaded.stderr, loaded.stderr  # no platformdirs or other warning
    assert "new events" in loaded.stdout

    rebuilt = _entente(
        owner_database_url, database_url, "projections", "rebuild", "dialogues", "--wait"
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    progress = [
        line for line in rebuilt.stderr.splitlines() if line.startswith("rebuild dialogues: ")
    ]
    assert progress and progress[-1].endswith(" events"), rebuilt.stderr
    done, total = progress[-1].removeprefix("rebuild dialogues: ").split()[0].split("/")
    assert done == total and int(total) > 0
    assert "rebuilt dialogues and swapped it in" in rebuilt.stdout
    assert "Traceback" not in rebuilt.stderr and "Warning" not in rebuilt.stderr
    # returned when done: no shadow left, nothing requested, the rows are back
    statuses = {s.projection: s for s in await projection_status(pool)}
    assert set(statuses) >= {"dialogues"} and not any("shadow" in n for n in statuses), statuses
    assert statuses["dialogues"].rebuild_requested_at is None
    assert statuses["dialogues"].lag_events == 0
    assert await pool.fetchval("SELECT count(*) FROM reporting.dialogues") >= 2


async def test_make_run_prints_a_key_that_opens_this_database(pool, tmp_path, monkeypatch):
    """The kept local key is reused only while it is a live all-roles key here: revoked,
    or made for another database, a new one is made and kept instead."""
    from api import cli
    from store.api_keys import authenticate, create_key, revoke_key

    monkeypatch.setattr(cli, "LOCAL_KEY_FILE", tmp_path / "local-admin-key")
    first = await cli._ensure_local_key(pool)
    assert await cli._ensure_local_key(pool) == first
    key = await authenticate(pool, first)
    assert key is not None
    await create_key(pool, "another-admin", ["admin"])  # the last admin key cannot go
    await revoke_key(pool, key.name, actor="test")
    fresh = await cli._ensure_local_key(pool)
    assert fresh != first and await authenticate(pool, fresh) is not None
    (tmp_path / "local-admin-key").write_text("ent_made_elsewhere\n")
    assert await cli._ensure_local_key(pool) not in ("ent_made_elsewhere", first)

"""The service never connects as a role that could rewrite the log.

`make run` is `entente run` without settings: it migrates as the owner (here the tests'
superuser, as on the embedded server) and then serves and works through the login that
`api.cli.serving_url` derives. These tests take that same path, then try, from the API's
and the worker's own sessions, what a superuser could do to the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api import cli
from api.app import create_app
from store.database import asyncpg_dsn
from store.roles import (
    ALLOW_PRIVILEGED_ENV,
    APP_URL_ENV,
    ServingRoleRefused,
    check_serving_role,
    provision_login_role,
    with_user,
)
from tests.api.conftest import auth

ROOT = Path(__file__).resolve().parents[2]

ROLE_OF_SESSION = """SELECT r.rolsuper OR r.rolreplication OR r.rolbypassrls
    FROM pg_roles r WHERE r.rolname = {}"""

REFUSED = [
    "SET session_replication_role = replica",
    "UPDATE event_store.events SET type = 'Forged'",
    "DELETE FROM event_store.events",
    "INSERT INTO event_store.events (stream_id) VALUES ('forged')",
    "TRUNCATE event_store.events",
    "ALTER TABLE event_store.events DISABLE TRIGGER events_append_only",
    "INSERT INTO access.api_keys (name, key_id, secret_hash, roles)"
    " VALUES ('forged', 'forged', '\\x00', ARRAY['admin'])",
    "UPDATE access.api_keys SET revoked_at = NULL",
    "SET ROLE postgres",
    "CREATE SCHEMA forged",
]


@pytest.fixture
def make_run_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No serving URL and no waiver: what `make run` has."""
    monkeypatch.delenv(APP_URL_ENV, raising=False)
    monkeypatch.delenv(ALLOW_PRIVILEGED_ENV, raising=False)


async def assert_least_privileged(connection: Any) -> None:
    """This asyncpg session is no superuser and cannot touch the log or the keys."""
    for who in ("current_user", "session_user"):
        assert await connection.fetchval(ROLE_OF_SESSION.format(who)) is False, who
    assert await connection.fetchval("SELECT current_setting('is_superuser')") == "off"
    for statement in REFUSED:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with connection.transaction():
                await connection.execute(statement)
    async with connection.transaction():  # undoing the role changes nothing
        await connection.execute("RESET ROLE")
        assert await connection.fetchval(ROLE_OF_SESSION.format("current_user")) is False
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("SET session_replication_role = replica")


async def serving_sessions(owner_url: str) -> list[tuple[str, bool]]:
    """(login, privileged) of every session of the service in the database."""
    owner = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        rows = await owner.fetch(
            "SELECT a.usename, r.rolsuper OR r.rolreplication OR r.rolbypassrls AS privileged"
            " FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid"
            " WHERE a.datname = current_database() AND a.application_name = 'entente'"
        )
    finally:
        await owner.close()
    return [(row["usename"], row["privileged"]) for row in rows]


async def exercise_app(owner_url: str, url: str) -> list[tuple[str, bool]]:
    """Run the app as `make run` does (worker in-process); probe its sessions."""
    app = create_app(url, run_projections=True)
    async with app.lifespan():
        async with app.state.pool.acquire() as connection:
            await assert_least_privileged(connection)
        async with app.state.engine.connect() as connection:
            assert (await connection.execute(text("SELECT current_user"))).scalar() != "postgres"
            assert (
                await connection.execute(text(ROLE_OF_SESSION.format("session_user")))
            ).scalar() is False
            with pytest.raises(DBAPIError, match="permission denied"):
                await connection.execute(text("SET session_replication_role = replica"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the worker's projections have registered
            async with app.state.pool.acquire() as connection:
                if await connection.fetchval("SELECT count(*) FROM projection_state.checkpoints"):
                    break
            await asyncio.sleep(0.05)
        return await serving_sessions(owner_url)


def test_make_run_serves_and_works_as_a_login_that_is_no_superuser(
    make_run_settings: None, owner_database_url: str
) -> None:
    args = cli.parser().parse_args(["--database-url", owner_database_url, "run"])
    url = cli.serving_url(args, cli.migrate(args))  # what `entente run` does
    assert url != owner_database_url
    sessions = asyncio.run(exercise_app(owner_database_url, url))
    assert len(sessions) >= 3, sessions  # API pool, engine, worker (pool, engine, locks …)
    assert all(not privileged for _, privileged in sessions), sessions
    assert {login for login, _ in sessions} == {"entente_service"}


def test_entente_worker_runs_as_the_login_that_is_no_superuser(
    make_run_settings: None, owner_database_url: str
) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "--database-url", owner_database_url, "worker"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in (APP_URL_ENV, ALLOW_PRIVILEGED_ENV)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline, sessions = time.monotonic() + 30, list[tuple[str, bool]]()
        while time.monotonic() < deadline and len(sessions) < 3 and worker.poll() is None:
            time.sleep(0.1)
            sessions = asyncio.run(serving_sessions(owner_database_url))
    finally:
        with contextlib.suppress(ProcessLookupError):
            worker.kill()
        _, errors = worker.communicate(timeout=10)
    assert len(sessions) >= 3, errors.decode()
    assert all(not privileged for _, privileged in sessions), sessions
    assert {login for login, _ in sessions} == {"entente_service"}


def test_serving_as_a_superuser_is_refused_unless_waived(
    make_run_settings: None, owner_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(APP_URL_ENV, owner_database_url)
    with pytest.raises(SystemExit, match="refusing to serve as"):
        cli.main(["--database-url", owner_database_url, "worker"])
    monkeypatch.setenv(ALLOW_PRIVILEGED_ENV, "1")
    asyncio.run(check_serving_role(owner_database_url))  # the waiver lets it through


async def test_a_login_that_can_become_a_privileged_role_is_refused(
    owner_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a superuser itself, but a member of one: it could SET ROLE to it at any time."""
    monkeypatch.delenv(ALLOW_PRIVILEGED_ENV, raising=False)
    login = f"member_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(owner_database_url))
    try:
        superuser = await admin.fetchval("SELECT current_user")
        await admin.execute(f'CREATE ROLE "{login}" LOGIN NOSUPERUSER')
        await admin.execute(f'GRANT "{superuser}" TO "{login}"')
        with pytest.raises(ServingRoleRefused, match=f"as a member of, {superuser}"):
            await check_serving_role(with_user(owner_database_url, login))
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{login}"')
        await admin.close()


def test_the_owner_cannot_be_the_serving_login(owner_database_url: str) -> None:
    with pytest.raises(ServingRoleRefused, match="other than the owner"):
        asyncio.run(provision_login_role(owner_database_url, owner_database_url))


async def test_work_schemas_are_only_the_projections_own(pool: Any) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="not a work schema"):
        await pool.execute("SELECT projection_state.create_work_schema('public_forged')")
    await pool.execute("SELECT projection_state.create_work_schema('snapshot_0123456789ab')")
    owner = await pool.fetchval(
        "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'snapshot_0123456789ab'"
    )
    assert owner == "entente_app"
    await pool.execute("DROP SCHEMA snapshot_0123456789ab")  # its owner's role may drop it


async def test_key_changes_record_who_made_them(client: Any, tokens: Any, pool: Any) -> None:
    made = await client.post(
        "/keys", json={"name": "recorded", "roles": ["reader"]}, headers=auth(tokens["admin"])
    )
    assert made.status_code == 201
    gone = await client.delete("/keys/recorded", headers=auth(tokens["admin"]))
    assert gone.status_code == 204
    row = await pool.fetchrow(
        "SELECT created_by, revoked_by FROM access.api_keys WHERE name = 'recorded'"
    )
    assert (row["created_by"], row["revoked_by"]) == ("test-admin", "test-admin")
    assert (await client.delete("/keys/recorded", headers=auth(tokens["admin"]))).status_code == 404


def test_keys_from_the_command_line_are_recorded_as_cli(
    make_run_settings: None, owner_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cli.main(
        ["--database-url", owner_database_url, "keys", "create", "by-cli", "--roles", "reader"]
    )
    assert json.loads(capsys.readouterr().out)["name"] == "by-cli"

    async def recorded() -> Any:
        connection = await asyncpg.connect(asyncpg_dsn(owner_database_url))
        try:
            return await connection.fetchval(
                "SELECT created_by FROM access.api_keys WHERE name = 'by-cli'"
            )
        finally:
            await connection.close()

    assert asyncio.run(recorded()).startswith("cli:")


def test_migrate_makes_the_login_a_given_serving_url_names(
    make_run_settings: None, owner_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker-compose's path: the owner migrates and makes the named login, with its password."""
    login = f"entente_login_{os.getpid()}"
    serving = with_user(owner_database_url, login, "s3cret 'quoted'")
    monkeypatch.setenv(APP_URL_ENV, serving)

    async def attributes() -> Any:
        connection = await asyncpg.connect(asyncpg_dsn(owner_database_url))
        try:
            return await connection.fetchrow(
                "SELECT rolcanlogin, rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication"
                " OR rolbypassrls AS privileged, rolpassword IS NOT NULL AS has_password,"
                " pg_has_role(rolname, 'entente_app', 'MEMBER') AS member,"
                " (SELECT setconfig FROM pg_db_role_setting WHERE setrole = oid) AS settings"
                " FROM pg_authid WHERE rolname = $1",
                login,
            )
        finally:
            await connection.execute(f"DROP ROLE IF EXISTS {login}")
            await connection.close()

    try:
        cli.main(["--database-url", owner_database_url, "migrate"])
    finally:
        row = asyncio.run(attributes())
    assert row is not None
    assert (row["rolcanlogin"], row["privileged"], row["has_password"], row["member"]) == (
        True,
        False,
        True,
        True,
    )
    assert row["settings"] == ["role=entente_app"]

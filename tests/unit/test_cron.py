"""Schedules across daylight-saving changes: the wall-clock times cron says, none twice."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from reporting.cron import InvalidSchedule, check, next_runs

BERLIN = ZoneInfo("Europe/Berlin")


def local(runs: list[dt.datetime], zone: ZoneInfo = BERLIN) -> list[str]:
    return [r.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") for r in runs]


def test_daily_run_across_spring_forward_shifts_past_the_gap():
    runs = next_runs("30 2 * * *", "Europe/Berlin", dt.datetime(2026, 3, 27, 12, tzinfo=dt.UTC), 4)
    assert local(runs) == [
        "2026-03-28 02:30 CET",
        "2026-03-29 03:30 CEST",  # 02:30 does not exist that night
        "2026-03-30 02:30 CEST",
        "2026-03-31 02:30 CEST",
    ]


def test_daily_run_across_fall_back_runs_once():
    runs = next_runs("30 2 * * *", "Europe/Berlin", dt.datetime(2026, 10, 23, 12, tzinfo=dt.UTC), 4)
    assert local(runs) == [
        "2026-10-24 02:30 CEST",
        "2026-10-25 02:30 CEST",  # 02:30 happens twice; the first one
        "2026-10-26 02:30 CET",
        "2026-10-27 02:30 CET",
    ]
    assert len(set(runs)) == 4


def test_hourly_runs_never_double_or_repeat_an_instant_across_both_changes():
    for start in (
        dt.datetime(2026, 3, 28, 22, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 24, 22, tzinfo=dt.UTC),
    ):
        runs = next_runs("0 * * * *", "Europe/Berlin", start, 8)
        assert runs == sorted(set(runs))
        walls = [r.astimezone(BERLIN).replace(tzinfo=None) for r in runs]
        assert len(set(walls)) == len(walls)


def test_first_monday_of_each_quarter_at_eight_in_almaty():
    runs = next_runs(
        "0 8 * 1,4,7,10 1#1", "Asia/Almaty", dt.datetime(2026, 11, 29, tzinfo=dt.UTC), 3
    )
    assert local(runs, ZoneInfo("Asia/Almaty")) == [
        "2027-01-04 08:00 +05",
        "2027-04-05 08:00 +05",
        "2027-07-05 08:00 +05",
    ]


@pytest.mark.parametrize(
    "cron, zone",
    [
        ("61 * * * *", "UTC"),
        ("* * *", "UTC"),
        ("0 8 * * *", "Mars/Olympus"),
        ("0 8 * * *", ""),
        ("0 8 * * *", "America"),  # a directory of the zone database, not a zone
        ("0 8 * * *", "Europe/" + "x" * 5000),
        ("0 8 * * *", "localtime"),  # whatever the server's zone happens to be
        ("0 0 30 2 *", "UTC"),  # never comes round
        ("* * * * * *", "UTC"),  # every second: not a five-field expression
        ("0 0 1 1 * 0 2027", "UTC"),  # bounded by a year: would run out
        ("@reboot", "UTC"),
    ],
)
def test_invalid_schedules_are_refused(cron, zone):
    with pytest.raises(InvalidSchedule):
        check(cron, zone)
    with pytest.raises(InvalidSchedule):
        next_runs(cron, zone, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


@pytest.mark.parametrize("cron", ["@daily", "@hourly", "0 8 1 */3 1"])
def test_aliases_and_ordinary_expressions_are_accepted(cron):
    check(cron, "Asia/Almaty")

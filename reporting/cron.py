"""When a schedule is due: cron expressions read as wall-clock times in an IANA time zone.

croniter iterates naive wall-clock times; each is then placed in the zone. A wall time
that does not exist (the spring-forward gap) runs at the same distance past the gap
(02:30 on a night that jumps 02:00→03:00 runs at 03:30), as cron daemons do; a wall time
that happens twice (fall-back) runs once, at its first occurrence. Instants are strictly
increasing, so nothing is skipped or doubled across a change.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, croniter

UTC = dt.UTC


class InvalidSchedule(ValueError):
    """A cron expression or time zone this service cannot use."""


def check(cron: str, timezone: str) -> None:
    """Refuse an expression croniter cannot parse or a zone that is not IANA."""
    if not croniter.is_valid(cron):
        raise InvalidSchedule(f"not a cron expression: {cron!r}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(f"not an IANA time zone: {timezone!r}") from None


def place(wall: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """A naive wall-clock time in `zone` as a UTC instant (gap: shifted; fold: first)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def next_runs(cron: str, timezone: str, after: dt.datetime, count: int = 1) -> list[dt.datetime]:
    """The next `count` run instants strictly after `after` (UTC, aware)."""
    check(cron, timezone)
    zone = ZoneInfo(timezone)
    try:
        wall_clock = croniter(cron, after.astimezone(zone).replace(tzinfo=None))
    except CroniterBadCronError as error:
        raise InvalidSchedule(str(error)) from None
    runs: list[dt.datetime] = []
    last = after
    while len(runs) < count:
        instant = place(wall_clock.get_next(dt.datetime), zone)
        if instant > last:
            runs.append(instant)
            last = instant
    return runs

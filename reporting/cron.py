"""When a schedule is due: cron expressions read as wall-clock times in an IANA time zone.

croniter iterates naive wall-clock times; each is then placed in the zone. A wall time
that does not exist (the spring-forward gap) runs at the same distance past the gap
(02:30 on a night that jumps 02:00→03:00 runs at 03:30), as cron daemons do; a wall time
that happens twice (fall-back) runs once, at its first occurrence. Instants are strictly
increasing, so nothing is skipped or doubled across a change.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo, available_timezones

from croniter import CroniterError, croniter

UTC = dt.UTC


class InvalidSchedule(ValueError):
    """A cron expression or time zone this service cannot use."""


ALIASES = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)


@functools.cache
def time_zones() -> frozenset[str]:
    """IANA zone names, without `localtime` (the server's own zone, whatever it is)."""
    return frozenset(available_timezones()) - {"localtime"}


def check(cron: str, timezone: str) -> None:
    """Refuse what cron daemons would not run: anything but five fields (minute to
    weekday) or an @alias, an expression that never comes round (30 February), a zone
    that is not an IANA name."""
    fields = cron.split()
    if not (
        (len(fields) == 5 or (len(fields) == 1 and fields[0] in ALIASES))
        and croniter.is_valid(cron)
    ):
        raise InvalidSchedule(f"not a five-field cron expression or @alias: {cron!r}")
    if timezone not in time_zones():
        raise InvalidSchedule(f"not an IANA time zone: {timezone!r}")
    try:
        croniter(cron, dt.datetime(2000, 1, 1)).get_next(dt.datetime)
    except CroniterError:
        raise InvalidSchedule(f"{cron!r} never comes round") from None


def place(wall: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """A naive wall-clock time in `zone` as a UTC instant (gap: shifted; fold: first)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def next_runs(cron: str, timezone: str, after: dt.datetime, count: int = 1) -> list[dt.datetime]:
    """The next `count` run instants strictly after `after` (UTC, aware)."""
    check(cron, timezone)
    zone = ZoneInfo(timezone)
    runs: list[dt.datetime] = []
    last = after
    try:
        wall_clock = croniter(cron, after.astimezone(zone).replace(tzinfo=None))
        while len(runs) < count:
            instant = place(wall_clock.get_next(dt.datetime), zone)
            if instant > last:
                runs.append(instant)
                last = instant
    except (CroniterError, OverflowError) as error:
        raise InvalidSchedule(f"{cron!r} has no run after {after.isoformat()}: {error}") from None
    return runs

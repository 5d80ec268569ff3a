"""Pages of events with an opaque cursor to the next one (null at the end of a history)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from api.representation import EventView, event_view
from store.records import RecordedEvent

PAGE_LIMIT = 100


class EventPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of events; pass `next_cursor` as `cursor` to continue. A history's last page
    has `next_cursor: null`; the change feed always gives one, to resume from later."""

    events: list[EventView]
    next_cursor: str | None


def page_of(
    events: Sequence[RecordedEvent],
    cursor: str,
    limit: int,
    *,
    audit: bool = True,
    tailing: bool = False,
) -> EventPage:
    """A page that is not full ends the history: its `next_cursor` is null, so a client
    paging to the end stops there instead of being handed the same cursor forever. A
    tailing reader (`tailing`: the change feed) always gets one, to resume from later."""
    more = tailing or len(events) >= limit
    return EventPage(
        events=[event_view(e, audit=audit) for e in events], next_cursor=cursor if more else None
    )

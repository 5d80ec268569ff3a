"""Pages of events with an opaque cursor to the next one."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from api.representation import EventView, event_view
from store.records import RecordedEvent

PAGE_LIMIT = 100


class EventPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of events; pass `next_cursor` as `cursor` to continue."""

    events: list[EventView]
    next_cursor: str | None


def page_of(
    events: Sequence[RecordedEvent], cursor: str, limit: int, *, audit: bool = True
) -> EventPage:
    """`next_cursor` is always given: a tailing reader resumes from it even at the end."""
    return EventPage(events=[event_view(e, audit=audit) for e in events], next_cursor=cursor)

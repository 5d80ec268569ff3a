"""New events' ids (store.records.time_ordered_id): UUIDv7, so the log's event-id index
grows at its end instead of on random pages."""

from __future__ import annotations

import time
import uuid

from store.records import NewEvent, time_ordered_id


def test_an_event_id_is_a_version_7_uuid_of_the_current_millisecond():
    before = time.time_ns() // 1_000_000
    event_id = time_ordered_id()
    after = time.time_ns() // 1_000_000
    assert event_id.version == 7
    assert event_id.variant == uuid.RFC_4122
    assert before <= event_id.int >> 80 <= after


def test_ids_made_later_sort_later_and_none_repeat():
    ids: list[uuid.UUID] = []
    for _ in range(3):
        ids.extend(time_ordered_id() for _ in range(1000))
        time.sleep(0.002)
    assert len(set(ids)) == len(ids)
    milliseconds = [event_id.int >> 80 for event_id in ids]
    assert milliseconds == sorted(milliseconds)
    assert ids[-1] > ids[0]


def test_a_new_event_gets_one_unless_it_names_its_own():
    assert NewEvent(type="T", data={}).event_id.version == 7
    own = uuid.uuid4()
    assert NewEvent(type="T", data={}, event_id=own).event_id == own

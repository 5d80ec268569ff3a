"""Stored form of events: canonical encoding, round trips and upcasting of old versions."""

from __future__ import annotations

import copy
import json

import msgspec
import pytest
from msgspec.structs import replace

from domain import codec, demo, dialogue, relationship, visit
from domain import events as e
from domain.errors import UnknownEventType
from domain.streams import decider_for, replay, stream_id_for, stream_id_of
from domain.values import PartialDate


@pytest.fixture(scope="module")
def golden_events():
    return [ev for stream in replay(demo.golden_scenario()).values() for ev in stream]


def test_every_golden_event_round_trips(golden_events):
    for event in golden_events:
        tag, version, data = codec.encode_event(event)
        assert "type" not in data and tag == type(event).__struct_config__.tag
        json.dumps(data)  # JSON-ready builtins
        assert codec.decode_event(tag, version, data) == event
        assert codec.from_json(codec.to_json(event)) == event


def _as_stored(data: object) -> str:
    """A payload's JSON text as PostgreSQL gives a jsonb back: its own key order, spaced."""
    return json.dumps(data, separators=(", ", ": "))


def test_a_payload_decodes_from_its_stored_text_to_the_same_event(golden_events):
    for event in golden_events:
        tag, version, data = codec.encode_event(event)
        for text in (_as_stored(data), json.dumps(data).encode(), codec.to_json(event)):
            assert codec.decode_payload(tag, version, text) == event


def test_encoding_is_deterministic(golden_events):
    event = golden_events[3]
    assert codec.encode_event(event) == codec.encode_event(copy.deepcopy(event))
    _, _, data = codec.encode_event(event)
    assert list(data) == sorted(data)


def test_tags_are_explicit_and_unique():
    assert len(e.EVENT_TYPES) == 41
    assert all(cls.__struct_config__.tag == name for name, cls in e.EVENT_TYPES.items())


def _as_v1(event: e.SessionHeld) -> dict[str, object]:
    """The payload a v1 writer stored: the held day as a bare ISO string."""
    _, _, data = codec.encode_event(event)
    data["record"]["held_on"] = event.record.held_on.start.isoformat()  # type: ignore[index]
    return data


def test_session_held_v1_is_upcast_and_folds_to_the_same_state():
    stream = replay(demo.golden_scenario())[f"dialogue-{demo.ESPD_ID}"]
    at = next(i for i, ev in enumerate(stream) if isinstance(ev, e.SessionHeld))
    held = stream[at]
    assert isinstance(held, e.SessionHeld)
    # A v1 writer knew only the ISO day, so its current-version twin has that as wording.
    as_v2 = replace(held, record=replace(held.record, held_on=PartialDate.parse("2021-12-15")))
    upcast = codec.decode_event("SessionHeld", 1, _as_v1(as_v2))
    assert upcast == as_v2
    assert codec.decode_payload("SessionHeld", 1, _as_stored(_as_v1(as_v2))) == as_v2
    current = [*stream[:at], as_v2, *stream[at + 1 :]]
    stored_long_ago = [*stream[:at], upcast, *stream[at + 1 :]]
    assert dialogue.fold(stored_long_ago) == dialogue.fold(current)  # type: ignore[arg-type]


def test_unknown_types_and_future_versions_are_refused():
    with pytest.raises(UnknownEventType, match="Unknown event type 'Nope' \\(schema version 1\\)"):
        codec.decode_event("Nope", 1, {})
    with pytest.raises(UnknownEventType, match="'SessionHeld' \\(schema version 4\\)"):
        codec.decode_event("SessionHeld", 4, {})
    with pytest.raises(UnknownEventType, match="'Nope' \\(schema version 1\\)"):
        codec.decode_payload("Nope", 1, "{}")
    with pytest.raises(UnknownEventType, match="'SessionHeld' \\(schema version 0\\)"):
        codec.decode_payload("SessionHeld", 0, "{}")


def test_a_payload_that_is_not_its_event_is_refused_from_its_text_too():
    with pytest.raises(msgspec.ValidationError):
        codec.decode_event("DialogueRenamed", 1, {"dialogue_id": "not a uuid", "name": "x"})
    with pytest.raises(msgspec.ValidationError):
        codec.decode_payload("DialogueRenamed", 1, '{"dialogue_id": "not a uuid", "name": "x"}')


def test_routing_of_commands():
    commands = demo.golden_scenario()
    assert stream_id_for(commands[0]) == f"dialogue-{demo.ESPD_ID}"
    assert decider_for(commands[0]) is dialogue.decider
    plan = next(cmd for cmd in commands if type(cmd).__name__ == "PlanVisit")
    assert (stream_id_for(plan), decider_for(plan)) == (
        f"visit-{demo.TILEUBERDI_VISIT_ID}",
        visit.decider,
    )
    assert stream_id_for(commands[-1]) == "relationship-KZ-US"
    assert decider_for(commands[-1]) is relationship.decider
    for stream_id, events in replay(commands).items():
        assert {stream_id_of(ev) for ev in events} == {stream_id}


# Payloads exactly as a v1 writer stored them (before plans carried ``agreed_on``).
STORED_V1: dict[str, dict[str, object]] = {
    "SessionScheduled": {
        "dialogue_id": "00000000-0000-0000-0000-0000000000d1",
        "plan": {
            "format": "in person",
            "host": "US",
            "place": None,
            "planned": {
                "end": "2023-01-01",
                "precision": "year",
                "start": "2022-01-01",
                "wording": "2022",
            },
        },
        "session_id": "00000000-0000-0000-0000-0000000000a1",
    },
    "VisitPlanned": {
        "plan": {
            "destination": {"city": "Astana", "country": "KZ"},
            "host": "KZ",
            "outcome": None,
            "purpose": "",
            "visitor": {"name": "V", "organization": "DoS", "party": "US", "title": "Secretary"},
            "window": {
                "end": "2022-07-01",
                "precision": "half",
                "start": "2022-01-01",
                "wording": "first half of 2022",
            },
        },
        "visit_id": "00000000-0000-0000-0000-0000000000e1",
    },
}


@pytest.mark.parametrize("event_type", sorted(STORED_V1))
def test_plans_stored_before_agreed_on_are_upcast(event_type):
    event = codec.decode_event(event_type, 1, STORED_V1[event_type])
    assert event.plan.agreed_on is None  # type: ignore[union-attr]
    stored_type, version, data = codec.encode_event(event)
    assert (stored_type, version) == (event_type, 3)  # v3 added the plan's level
    assert data["plan"]["agreed_on"] is None  # type: ignore[index]
    # the current form of the same fact decodes to the same event
    assert codec.decode_event(event_type, 3, data) == event
    # and so do both, decoded from their stored text
    assert codec.decode_payload(event_type, 1, _as_stored(STORED_V1[event_type])) == event
    assert codec.decode_payload(event_type, 3, _as_stored(data)) == event

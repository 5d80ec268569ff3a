"""The stream-kind registry covers the whole domain and every stream the projections read."""

from __future__ import annotations

import uuid

import pytest

from domain import commands as c
from domain import demo
from domain import events as e
from domain.streams import (
    DIALOGUE,
    KINDS,
    RELATIONSHIP,
    VISIT,
    kind_for,
    kind_of,
    kind_of_stream,
    location_for,
    parties_of,
    replay,
    stream_id_for,
    stream_id_of,
)
from projections.registry import PROJECTIONS


def _concrete(base: type) -> set[type]:
    """Every subclass of `base` that is a message of its own (it has a tag or is final)."""
    found: set[type] = set()
    subclasses: list[type] = base.__subclasses__()
    for sub in subclasses:
        found |= _concrete(sub)
        if not sub.__subclasses__():
            found.add(sub)
    return found


def test_every_event_type_belongs_to_exactly_one_kind():
    classes = _concrete(e._Event)
    assert classes == set(e.EVENT_TYPES.values())
    for cls in classes:
        owners = [k.name for k in KINDS if issubclass(cls, k.events)]
        assert len(owners) == 1, f"{cls.__name__} belongs to {owners}"


def test_every_command_belongs_to_exactly_one_kind():
    classes = _concrete(c._Command)
    assert len(classes) > 30
    for cls in classes:
        owners = [k.name for k in KINDS if issubclass(cls, k.commands)]
        assert len(owners) == 1, f"{cls.__name__} belongs to {owners}"


def test_every_stream_prefix_the_projections_read_is_a_kind():
    prefixes = {prefix for p in PROJECTIONS for prefix in p.stream_prefixes}
    assert prefixes
    assert prefixes <= {k.prefix for k in KINDS}
    for prefix in prefixes:
        assert kind_of_stream(prefix + "x") is not None


def test_prefixes_do_not_shadow_one_another():
    prefixes = [k.prefix for k in KINDS]
    assert len(set(prefixes)) == len(prefixes)
    assert not [a for a in prefixes for b in prefixes if a != b and a.startswith(b)]


@pytest.fixture(scope="module")
def golden() -> dict[str, list[e.Event]]:
    return replay(demo.golden_scenario())


def test_commands_events_and_stream_ids_agree_on_the_kind(golden):
    for command in demo.golden_scenario():
        stream_id = stream_id_for(command)
        assert kind_of_stream(stream_id) is kind_for(command)
        for event in golden[stream_id]:
            assert stream_id_of(event) == stream_id
            assert kind_of(event) is kind_for(command)
    assert {kind_of_stream(s) for s in golden} == set(KINDS)


def test_parties_come_from_each_kinds_own_state(golden):
    for stream_id, events in golden.items():
        kind = kind_of_stream(stream_id)
        assert kind is not None
        state = kind.decider.fold(events)
        parties = parties_of(stream_id, state)
        assert parties == sorted(parties) and len(parties) >= 2
        assert parties_of(stream_id, kind.decider.initial_state) == []
    assert parties_of("elsewhere-1", DIALOGUE.decider.initial_state) == []


def test_locations_name_the_resource():
    ident = uuid.uuid4()
    assert location_for(DIALOGUE.stream_id(ident)) == f"/dialogues/{ident}"
    assert location_for(VISIT.stream_id(ident)) == f"/visits/{ident}"
    assert location_for(RELATIONSHIP.stream_id("KZ-US")) == "/relationships/KZ-US"
    assert location_for("audit-7") == "/streams/audit-7"

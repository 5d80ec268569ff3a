"""Events to and from their stored form: (type tag, schema version, JSON-ready payload).

``encode_event`` is the one canonical form of an event: the store hashes and persists
exactly what it returns, so its output is deterministic (fields sorted by name, dates and
uuids as ISO strings, decimals as strings). Old payloads are upcast step by step, by a
registry of pure dict → dict functions keyed by (type, from_version), before validation.

A payload comes back either as a dict (``decode_event``) or as the JSON text the store
keeps (``decode_payload``): the text of a current-version payload is decoded straight into
its event's Struct, with no dict in between: measured in memory, ~2/3 of the CPU of a dict
decoded then converted, and no dicts left for the cycle collector to walk (projections
decode every event of the log this way).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, cast

import msgspec

from domain.errors import UnknownEventType
from domain.events import EVENT_TYPES, Event
from domain.values import PartialDate

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

_json_encoder = msgspec.json.Encoder(order="sorted")
_json_decoder = msgspec.json.Decoder(Event)
_decode_object = msgspec.json.Decoder(Payload).decode
_TYPED_DECODERS: dict[str, Callable[[str | bytes], Any]] = {
    tag: msgspec.json.Decoder(event_class).decode for tag, event_class in EVENT_TYPES.items()
}
"""A payload of the current schema version, decoded straight into its event's Struct."""


def _session_held_v1_to_v2(data: Payload) -> Payload:
    """SessionHeld v1 kept ``record.held_on`` as a bare ISO day ("2021-12-15").

    Sessions reported only as "early 2022" could not be held on record, so v2 made it a
    PartialDate; a v1 day becomes a day-precision PartialDate with the same wording.
    """
    record = dict(data["record"])
    day = record["held_on"]
    record["held_on"] = msgspec.to_builtins(PartialDate.parse(day), order="sorted")
    return {**data, "record": record}


def _plan_agreed_on_v1_to_v2(data: Payload) -> Payload:
    """v1 plans had no ``agreed_on``: nobody said when the plan was agreed or announced.

    v2 states it as ``None``, which valid time reads as "known from the start" (the plan
    holds from the dialogue's launch or the visit's record), the v1 behaviour's intent.
    """
    return {**data, "plan": {**data["plan"], "agreed_on": None}}


def _stated(part: str, **added: object) -> Upcaster:
    """Fields added to a fact (``part`` of the payload) with a default: an old payload
    states them with that default, so every version decodes to the same shape."""

    def upcaster(data: Payload) -> Payload:
        return {**data, part: {**added, **data[part]}}

    return upcaster


_REGISTER_DEPTH: dict[tuple[str, int], Upcaster] = {
    ("DialogueLaunched", 1): _stated("charter", cadence_wording="", launched_in=None),
    ("DialogueCorrected", 1): _stated("charter", cadence_wording="", launched_in=None),
    ("SessionScheduled", 2): _stated("plan", level=None),
    ("SessionRescheduled", 2): _stated("plan", level=None),
    ("SessionPlanCorrected", 2): _stated("plan", level=None),
    ("SessionHeld", 2): _stated("record", level=None),
    ("SessionRecordCorrected", 1): _stated("record", level=None),
    ("OutcomeAdopted", 1): _stated("terms", framework_dialogues=[]),
    ("OutcomeCorrected", 1): _stated("terms", framework_dialogues=[]),
    **{
        (event_type, 2): _stated("plan", dialogue_id=None, session_id=None)
        for event_type in ("VisitPlanned", "VisitLogged", "VisitCorrected")
    },
}
"""Session levels, a dialogue's launch place and cadence in words, frameworks that are
dialogues of the register, visits that belong to a dialogue and session."""

UPCASTERS: dict[tuple[str, int], Upcaster] = {
    **_REGISTER_DEPTH,
    ("SessionHeld", 1): _session_held_v1_to_v2,
    **{
        (event_type, 1): _plan_agreed_on_v1_to_v2
        for event_type in (
            "SessionScheduled",
            "SessionRescheduled",
            "SessionPlanCorrected",
            "VisitPlanned",
            "VisitLogged",
            "VisitCorrected",
        )
    },
}


def encode_event(event: Event) -> tuple[str, int, dict[str, object]]:
    data = cast(dict[str, object], msgspec.to_builtins(event, order="sorted"))
    event_type = cast(str, data.pop("type"))
    return event_type, type(event).schema_version, data


def upcast(event_type: str, schema_version: int, data: Payload) -> Payload:
    """Bring a stored payload up to the current schema version of its type."""
    current = _event_class(event_type, schema_version).schema_version
    while schema_version < current:
        data = UPCASTERS[(event_type, schema_version)](data)
        schema_version += 1
    return data


def decode_payload(type: str, schema_version: int, payload: str | bytes) -> Event:
    """The event a stored payload records, from its JSON text as the store keeps it.

    The same event as ``decode_event`` of the payload's dict: a current payload is
    decoded straight into its Struct (one typed decoder per event type); an older one
    goes through a dict, since upcasters work on dicts.
    """
    event_class = _event_class(type, schema_version)
    if schema_version < event_class.schema_version:
        return decode_event(type, schema_version, _decode_object(payload))
    return cast(Event, _TYPED_DECODERS[type](payload))


def decode_event(type: str, schema_version: int, data: Mapping[str, Any]) -> Event:
    """The event a stored payload records; a current payload is converted as it is (no
    copy: conversion reads it and builds the Struct), an older one upcast first."""
    event_class = _event_class(type, schema_version)
    if schema_version < event_class.schema_version:
        data = upcast(type, schema_version, dict(data))
    elif not isinstance(data, dict):
        data = dict(data)
    return cast(Event, msgspec.convert(data, event_class))


class Stored(Protocol):
    """An event as a store keeps it: what decoding needs of a stored record."""

    @property
    def type(self) -> str: ...
    @property
    def schema_version(self) -> int: ...
    @property
    def data(self) -> Mapping[str, Any]: ...


def domain_events(records: Iterable[Stored]) -> list[Event]:
    """Stored events as the domain knows them, upcast to their current schema."""
    return [decode_event(r.type, r.schema_version, r.data) for r in records]


def _event_class(event_type: str, schema_version: int) -> type[Any]:
    event_class = EVENT_TYPES.get(event_type)
    if event_class is None or not 1 <= schema_version <= event_class.schema_version:
        raise UnknownEventType(event_type, schema_version)
    return event_class


def to_json(event: Event) -> bytes:
    return _json_encoder.encode(event)


def from_json(raw: bytes) -> Event:
    event: Event = _json_decoder.decode(raw)
    return event

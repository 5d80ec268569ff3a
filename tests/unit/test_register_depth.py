"""Facts the register now holds (issue 12): session levels and "first at this level", a
dialogue's launch place and cadence in words, frameworks that are dialogues of the
register, visits that belong to a dialogue and a session — and old payloads upcast to them.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import msgspec
import pytest
from msgspec.structs import replace

from domain import codec, dialogue, validity
from domain import commands as c
from domain import events as e
from domain.errors import InvalidValue
from domain.facts import Charter, OutcomeTerms, SessionPlan, SessionRecord, VisitPlan
from domain.streams import replay
from domain.values import OutcomeRef, PartialDate, Place
from tests.unit.builders import (
    KZ_HEAD,
    NUR_SULTAN,
    US_HEAD,
    D,
    launch,
    visit_plan,
)

S1, S2, S3 = (uuid.UUID(int=0xA1 + n) for n in range(3))


def _held(session_id: uuid.UUID, when: str, level: str | None) -> c.HoldSession:
    record = SessionRecord(
        held_on=PartialDate.parse(when),
        place=NUR_SULTAN,
        heads=(KZ_HEAD, US_HEAD),
        level=level,  # type: ignore[arg-type]
    )
    return c.HoldSession(dialogue_id=D, session_id=session_id, record=record)


def _state(*commands: c.Command) -> dialogue.Dialogue:
    events = replay([launch(), *commands])[f"dialogue-{D}"]
    return dialogue.fold(events)  # type: ignore[arg-type]


def _firsts(state: dialogue.Dialogue) -> set[uuid.UUID]:
    return {s.session_id for s in state.sessions.values() if s.first_at_level}


def test_the_earliest_held_session_at_each_level_is_first():
    state = _state(
        _held(S1, "2022-03-01", "senior officials"),
        _held(S2, "2023-05-01", "ministerial"),
        _held(S3, "2024-05-01", "ministerial"),
    )
    assert _firsts(state) == {S1, S2}
    assert dialogue.level_of(state.sessions[S3]) == "ministerial"


def test_a_session_without_a_level_is_never_first():
    assert _firsts(_state(_held(S1, "2022-03-01", None))) == set()


def test_the_plans_level_counts_until_the_record_says_otherwise():
    planned = SessionPlan(planned=PartialDate.parse("2023"), level="leaders")
    state = _state(
        c.ScheduleSession(dialogue_id=D, session_id=S1, plan=planned),
        _held(S1, "2023-06-01", None),
    )
    assert dialogue.level_of(state.sessions[S1]) == "leaders"
    assert _firsts(state) == {S1}  # held, at the plan's level
    assert _firsts(_state(c.ScheduleSession(dialogue_id=D, session_id=S1, plan=planned))) == set()


def test_a_corrected_date_or_a_retraction_moves_the_first():
    held = [_held(S1, "2023-05-01", "ministerial"), _held(S2, "2024-05-01", "ministerial")]
    moved = c.CorrectSessionRecord(
        dialogue_id=D,
        session_id=S1,
        record=replace(held[0].record, held_on=PartialDate.parse("2025-01-10")),
        reason="it met in 2025",
    )
    assert _firsts(_state(*held, moved)) == {S2}
    retracted = c.RetractSession(dialogue_id=D, session_id=S2, reason="recorded in error")
    assert _firsts(_state(*held, retracted)) == {S1}


def test_first_at_level_follows_valid_time():
    """Folded from the facts in force at V, the flag is what was first by then."""
    events = replay(
        [launch(), _held(S1, "2023-05-01", "ministerial"), _held(S2, "2022-05-01", "ministerial")]
    )[f"dialogue-{D}"]

    def at(day: dt.date) -> set[uuid.UUID]:
        return _firsts(dialogue.fold(validity.in_force(events, day)))  # type: ignore[arg-type]

    assert at(dt.date(2022, 1, 1)) == set()
    assert at(dt.date(2022, 6, 1)) == {S2}
    assert at(dt.date(2023, 6, 1)) == {S2}  # S1, recorded first, was never the first


def test_a_charter_keeps_its_launch_place_and_cadence_in_words():
    cmd = c.LaunchDialogue(
        dialogue_id=D,
        charter=Charter(
            name="C5+1",
            format="multilateral",
            parties=("KZ", "KG", "TJ", "TM", "UZ", "US"),
            cadence="annual",
            cadence_wording="about yearly at ministerial level",
            launched_in=Place(city="Samarkand", country="UZ"),
        ),
    )
    state = _state_of([cmd])
    assert state.charter is not None
    assert state.charter.cadence_wording == "about yearly at ministerial level"
    assert state.charter.launched_in == Place(city="Samarkand", country="UZ")


def _state_of(commands: list[Any]) -> dialogue.Dialogue:
    return dialogue.fold(replay(commands)[f"dialogue-{D}"])  # type: ignore[arg-type]


def test_a_visit_may_belong_to_a_dialogue_and_a_session():
    plan = replace(visit_plan(), dialogue_id=D, session_id=S1)
    assert plan.session_id == S1
    with pytest.raises(InvalidValue, match="session_id needs the dialogue_id"):
        replace(visit_plan(), session_id=S1)
    other = OutcomeRef(dialogue_id=uuid.uuid4(), outcome_id=uuid.uuid4())
    with pytest.raises(InvalidValue, match="outcome is of dialogue"):
        replace(visit_plan(), dialogue_id=D, outcome=other)


def test_the_api_decoding_reports_a_session_without_its_dialogue():
    body = msgspec.to_builtins(visit_plan())
    body["session_id"] = str(S1)
    with pytest.raises(msgspec.ValidationError, match="needs the dialogue_id"):
        msgspec.convert(body, VisitPlan)


def test_a_framework_may_be_a_dialogue_of_the_register():
    terms = OutcomeTerms(
        kind="commitment",
        text="x",
        responsible=("KZ",),
        frameworks=("C5+1",),
        framework_dialogues=(D,),
    )
    assert msgspec.convert(msgspec.to_builtins(terms), OutcomeTerms) == terms


# ---------------------------------------------------------------- upcasting


def _old(event: e.Event, part: str, *dropped: str) -> dict[str, Any]:
    """The payload an older writer stored: the fields added since are absent."""
    _, _, data = codec.encode_event(event)
    fact = dict(data[part])  # type: ignore[call-overload]
    for name in dropped:
        fact.pop(name)
    return {**data, part: fact}


VISIT = visit_plan()
PLAN = SessionPlan(planned=PartialDate.parse("2022"), agreed_on=PartialDate.parse("2021-11"))
RECORD = SessionRecord(held_on=PartialDate.parse("2021-12-15"), place=NUR_SULTAN, heads=(KZ_HEAD,))
TERMS = OutcomeTerms(kind="commitment", text="x", responsible=("KZ",))
CHARTER = launch().charter

OLD_PAYLOADS: list[tuple[e.Event, int, str, tuple[str, ...]]] = [
    (
        e.DialogueLaunched(dialogue_id=D, charter=CHARTER),
        1,
        "charter",
        ("cadence_wording", "launched_in"),
    ),
    (
        e.DialogueCorrected(dialogue_id=D, charter=CHARTER, reason="r"),
        1,
        "charter",
        ("cadence_wording", "launched_in"),
    ),
    (e.SessionScheduled(dialogue_id=D, session_id=S1, plan=PLAN), 2, "plan", ("level",)),
    (
        e.SessionRescheduled(dialogue_id=D, session_id=S1, plan=PLAN, reason="r"),
        2,
        "plan",
        ("level",),
    ),
    (
        e.SessionPlanCorrected(dialogue_id=D, session_id=S1, plan=PLAN, reason="r"),
        2,
        "plan",
        ("level",),
    ),
    (e.SessionHeld(dialogue_id=D, session_id=S1, record=RECORD), 2, "record", ("level",)),
    (
        e.SessionRecordCorrected(dialogue_id=D, session_id=S1, record=RECORD, reason="r"),
        1,
        "record",
        ("level",),
    ),
    (
        e.OutcomeAdopted(
            dialogue_id=D, outcome_id=S2, session_id=S1, terms=TERMS, adopted_on=RECORD.held_on
        ),
        1,
        "terms",
        ("framework_dialogues",),
    ),
    (
        e.OutcomeCorrected(dialogue_id=D, outcome_id=S2, terms=TERMS, reason="r"),
        1,
        "terms",
        ("framework_dialogues",),
    ),
    (e.VisitPlanned(visit_id=S3, plan=VISIT), 2, "plan", ("dialogue_id", "session_id")),
    (
        e.VisitLogged(visit_id=S3, plan=VISIT, dates=RECORD.held_on),
        2,
        "plan",
        ("dialogue_id", "session_id"),
    ),
    (
        e.VisitCorrected(visit_id=S3, plan=VISIT, reason="r"),
        2,
        "plan",
        ("dialogue_id", "session_id"),
    ),
]


@pytest.mark.parametrize(
    ("event", "version", "part", "dropped"),
    OLD_PAYLOADS,
    ids=[type(case[0]).__name__ for case in OLD_PAYLOADS],
)
def test_payloads_of_the_previous_version_are_upcast(event, version, part, dropped):
    assert type(event).schema_version == version + 1
    stored = _old(event, part, *dropped)
    assert not set(dropped) & set(stored[part])
    assert codec.decode_event(type(event).__struct_config__.tag, version, stored) == event
    text = json.dumps(stored, separators=(", ", ": "))  # as PostgreSQL gives a jsonb back
    assert codec.decode_payload(type(event).__struct_config__.tag, version, text) == event


def test_a_version_one_plan_goes_through_every_upcaster():
    _, _, data = codec.encode_event(e.SessionScheduled(dialogue_id=D, session_id=S1, plan=PLAN))
    plan = {k: v for k, v in data["plan"].items() if k not in ("agreed_on", "level")}  # type: ignore[attr-defined]
    upcast = codec.decode_event("SessionScheduled", 1, {**data, "plan": plan})
    assert upcast == e.SessionScheduled(
        dialogue_id=D, session_id=S1, plan=replace(PLAN, agreed_on=None)
    )

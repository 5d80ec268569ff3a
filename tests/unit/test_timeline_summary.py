"""The timeline's one-line summary of an event, as a person reads it in a spreadsheet.

`projections.timeline.describe` works each event type out once (its words, the parts that
detail it, whether it gives a reason) and then only fills in the event's own values; the
wording must stay what readers and their saved filters know.
"""

from __future__ import annotations

from domain import dialogue
from domain import events as e
from domain.decider import Decider
from domain.relationship import initial_state as no_relationship
from projections.timeline import describe
from tests.unit import builders as b


def _after(*commands: object) -> tuple[dialogue.Dialogue, list[e.DialogueEvent]]:
    decider: Decider[dialogue.Dialogue, object, e.DialogueEvent] = dialogue.decider  # type: ignore[assignment]
    state, events = dialogue.initial_state, []
    for command in commands:
        decided = decider.decide(state, command)
        state = decider.fold(decided, state)
        events += decided
    return state, events


def test_a_summary_names_the_dialogue_what_happened_and_its_detail():
    state, events = _after(b.launch(acronym="E"), b.schedule(), b.hold())
    launched, scheduled, held = events
    assert describe(launched, state) == "E — Dialogue launched — ESPD"
    assert describe(scheduled, state) == "E — Session scheduled"
    assert describe(held, state) == "E — Session held — in Nur-Sultan, KZ"


def test_a_dialogue_without_an_acronym_is_named_and_a_reason_is_given():
    state, events = _after(b.launch(), b.schedule())
    postponed = e.SessionPostponed(dialogue_id=b.D, session_id=b.S, reason="floods")
    assert describe(postponed, state) == "ESPD — Session postponed (reason: floods)"
    assert describe(events[0], dialogue.initial_state) == "Dialogue launched — ESPD"


def test_an_event_of_another_stream_has_no_subject():
    event = e.IndicatorRecorded(parties=("KZ", "US"), indicator_id=b.I, indicator=b.indicator())
    assert describe(event, no_relationship) == f"Indicator recorded — {b.indicator().name}"

"""Valid time that corrections cannot undo: "as known at R, as valid at V".

The oracle below is written independently of ``domain.validity``: it first applies every
correction known at R to a plain dictionary of facts (plans, records, outcome statuses),
then reads that dictionary at V. ``domain.validity.in_force`` + the dialogue's ``evolve``
must agree with it for random histories, and no V may show a corrected-away value.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import commands as c
from domain import dialogue, visit
from domain import events as e
from domain.errors import DomainError
from domain.facts import OutcomeTerms, SessionPlan, SessionRecord, VisitPlan
from domain.validity import in_force
from domain.values import PartialDate, Person, Place

D = uuid.UUID(int=1)
SESSIONS = [uuid.UUID(int=10), uuid.UUID(int=11)]
OUTCOMES = [uuid.UUID(int=20), uuid.UUID(int=21)]
HEADS = (
    Person(name="A", title="Minister", organization="MFA", party="KZ"),
    Person(name="B", title="Secretary", organization="DoS", party="US"),
)
PLACE = Place(city="Astana", country="KZ")
LAUNCHED = 3  # day of January 2022
STATUSES = ["in progress", "fulfilled", "lapsed", "adopted"]


def day(n: int) -> PartialDate:
    return PartialDate.parse((dt.date(2022, 1, 1) + dt.timedelta(days=n - 1)).isoformat())


def plan(planned: int, agreed: int | None) -> SessionPlan:
    return SessionPlan(planned=day(planned), agreed_on=day(agreed) if agreed else None)


def record(held: int) -> SessionRecord:
    return SessionRecord(held_on=day(held), place=PLACE, heads=HEADS)


TERMS = OutcomeTerms(kind="commitment", text="Meet again", responsible=("KZ", "US"))
days = st.integers(1, 10)
maybe_day = st.none() | days
sessions = st.sampled_from(SESSIONS)
outcomes = st.sampled_from(OUTCOMES)

commands = st.one_of(
    *(
        st.builds(
            lambda k, s, p, a: k(dialogue_id=D, session_id=s, plan=plan(p, a), reason="moved"),
            st.just(kind),
            sessions,
            days,
            maybe_day,
        )
        for kind in (c.RescheduleSession, c.CorrectSessionPlan)
    ),
    st.builds(
        lambda s, p, a: c.ScheduleSession(dialogue_id=D, session_id=s, plan=plan(p, a)),
        sessions,
        days,
        maybe_day,
    ),
    st.builds(lambda s: c.PostponeSession(dialogue_id=D, session_id=s, reason="r"), sessions),
    st.builds(lambda s: c.CancelSession(dialogue_id=D, session_id=s, reason="r"), sessions),
    st.builds(
        lambda s, h: c.HoldSession(dialogue_id=D, session_id=s, record=record(h)), sessions, days
    ),
    st.builds(
        lambda s, h: c.CorrectSessionRecord(
            dialogue_id=D, session_id=s, record=record(h), reason="wrong day"
        ),
        sessions,
        days,
    ),
    st.builds(lambda s: c.RetractSession(dialogue_id=D, session_id=s, reason="r"), sessions),
    st.builds(
        lambda o, s: c.AdoptOutcome(dialogue_id=D, outcome_id=o, session_id=s, terms=TERMS),
        outcomes,
        sessions,
    ),
    st.builds(lambda o: c.RetractOutcome(dialogue_id=D, outcome_id=o, reason="r"), outcomes),
    st.builds(
        lambda o, s, w: c.ChangeOutcomeStatus(
            dialogue_id=D, outcome_id=o, status=s, effective=day(w) if w else None
        ),
        outcomes,
        st.sampled_from(STATUSES),
        maybe_day,
    ),
    st.builds(
        lambda o, s: c.CorrectOutcomeStatus(dialogue_id=D, outcome_id=o, status=s, reason="r"),
        outcomes,
        st.sampled_from(STATUSES),
    ),
)


def history(cmds: list[c.DialogueCommand]) -> list[e.DialogueEvent]:
    """The events the decider accepts for these commands, refused ones skipped."""
    from domain.facts import Charter

    charter = Charter(name="ESPD", format="bilateral", parties=("KZ", "US"))
    charter = Charter(**{**_fields(charter), "launched_on": day(LAUNCHED)})
    events: list[e.DialogueEvent] = list(
        dialogue.decide(dialogue.initial_state, c.LaunchDialogue(dialogue_id=D, charter=charter))
    )
    for cmd in cmds:
        with contextlib.suppress(DomainError):
            events += dialogue.decide(dialogue.fold(events), cmd)
    return events


def _fields(struct: Any) -> dict[str, Any]:
    return {name: getattr(struct, name) for name in struct.__struct_fields__}


# ---------------------------------------------------------------- the oracle


def oracle(known: list[e.DialogueEvent], valid_at: dt.date) -> dict[str, Any]:
    """Apply every correction known first, then read each fact at ``valid_at``."""
    launched = next(ev for ev in known if isinstance(ev, e.DialogueLaunched))
    if launched.charter.launched_on and launched.charter.launched_on.start > valid_at:
        return {"sessions": {}, "outcomes": {}}
    plans: dict[uuid.UUID, list[dict[str, Any]]] = {}
    records: dict[uuid.UUID, SessionRecord] = {}
    retracted: set[uuid.UUID] = set()
    adopted: dict[uuid.UUID, dict[str, Any]] = {}
    for ev in known:
        match ev:
            case e.SessionScheduled() | e.SessionRescheduled():
                plans.setdefault(ev.session_id, []).append({"plan": ev.plan, "life": "scheduled"})
            case e.SessionPlanCorrected():
                plans[ev.session_id][-1]["plan"] = ev.plan
            case e.SessionPostponed():
                plans[ev.session_id][-1]["life"] = "postponed"
            case e.SessionCancelled():
                plans[ev.session_id][-1]["life"] = "cancelled"
            case e.SessionHeld() | e.SessionRecordCorrected():
                records[ev.session_id] = ev.record
            case e.SessionRetracted():
                retracted.add(ev.session_id)
            case e.OutcomeAdopted():
                adopted[ev.outcome_id] = {
                    "session": ev.session_id,
                    "retracted": False,
                    "statuses": [[None, "adopted"]],
                }
            case e.OutcomeRetracted():
                adopted[ev.outcome_id]["retracted"] = True
            case e.OutcomeStatusChanged():
                adopted[ev.outcome_id]["statuses"].append([ev.effective, ev.status])
            case e.OutcomeStatusCorrected():
                adopted[ev.outcome_id]["statuses"][-1][1] = ev.status

    def holds(when: PartialDate | None) -> bool:
        return when is None or when.start <= valid_at

    sessions: dict[uuid.UUID, tuple[Any, ...]] = {}
    for sid in {*plans, *records}:
        in_force_plans = [p for p in plans.get(sid, []) if holds(p["plan"].agreed_on)]
        latest = in_force_plans[-1] if in_force_plans else None
        held = records.get(sid)
        if held is not None and not holds(held.held_on):
            held = None
        if held is None and latest is None:
            continue
        status = "held" if held else latest["life"]  # type: ignore[index]
        if sid in retracted:
            status = "retracted"
        sessions[sid] = (status, latest and latest["plan"], held)
    outcomes: dict[uuid.UUID, tuple[Any, ...]] = {}
    for oid, o in adopted.items():
        held = records[o["session"]]
        if not holds(held.held_on):
            continue
        status = [value for when, value in o["statuses"] if holds(when)][-1]
        outcomes[oid] = (o["session"], held.held_on, status, o["retracted"])
    return {"sessions": sessions, "outcomes": outcomes}


def evaluated(known: list[e.DialogueEvent], valid_at: dt.date) -> dict[str, Any]:
    state = dialogue.fold(in_force(known, valid_at))
    return {
        "sessions": {sid: (s.status, s.plan, s.record) for sid, s in state.sessions.items()},
        "outcomes": {
            oid: (o.session_id, o.adopted_on, o.status, o.retracted)
            for oid, o in state.outcomes.items()
        },
    }


@settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(commands, max_size=25), st.data())
def test_state_at_r_and_v_equals_the_oracle(cmds, data):
    events = history(cmds)
    known = events[: data.draw(st.integers(1, len(events)), label="known at R")]
    valid_at = dt.date(2022, 1, 1) + dt.timedelta(days=data.draw(st.integers(-1, 12)) - 1)
    assert evaluated(known, valid_at) == oracle(known, valid_at)


@settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    st.lists(commands, max_size=10),
    st.tuples(sessions, days, days),
    st.lists(commands, max_size=10),
    st.integers(1, 12),
)
def test_no_valid_time_shows_a_corrected_away_value(before, held, after, v):
    """Every history holds a session and later corrects its day, among random commands."""
    sid, wrong, right = held
    events = history(
        [
            *before,
            c.HoldSession(dialogue_id=D, session_id=sid, record=record(wrong)),
            c.AdoptOutcome(dialogue_id=D, outcome_id=OUTCOMES[0], session_id=sid, terms=TERMS),
            *after,
            c.CorrectSessionRecord(
                dialogue_id=D, session_id=sid, record=record(right), reason="wrong day"
            ),
        ]
    )
    final = dialogue.fold(events)
    state = dialogue.fold(in_force(events, dt.date(2022, 1, v)))
    for sid, session in state.sessions.items():
        if session.record is not None:
            assert session.record == final.sessions[sid].record
            assert session.record.held_on.start <= dt.date(2022, 1, v)
    for oid, outcome in state.outcomes.items():
        assert outcome.adopted_on == final.outcomes[oid].adopted_on
        assert outcome.terms == final.outcomes[oid].terms


# ---------------------------------------------------------------- worked examples


def test_a_session_corrected_from_the_18th_to_the_19th():
    """The issue's example: the wrong day never comes back, the plan shows before."""
    events = history(
        [
            c.ScheduleSession(dialogue_id=D, session_id=SESSIONS[0], plan=plan(19, 5)),
            c.HoldSession(dialogue_id=D, session_id=SESSIONS[0], record=record(18)),
            c.CorrectSessionRecord(
                dialogue_id=D, session_id=SESSIONS[0], record=record(19), reason="wrong day"
            ),
        ]
    )

    def at(n: int) -> dialogue.Session | None:
        return dialogue.fold(in_force(events, dt.date(2022, 1, n))).sessions.get(SESSIONS[0])

    assert at(4) is None  # before the plan was agreed
    assert at(5).status == "scheduled"  # type: ignore[union-attr]
    assert at(18).status == "scheduled"  # type: ignore[union-attr]
    assert at(19).status == "held"  # type: ignore[union-attr]
    assert at(19).record.held_on == day(19)  # type: ignore[union-attr]
    # as known before the correction, the 18th was the record
    earlier = dialogue.fold(in_force(events[:3], dt.date(2022, 1, 18))).sessions[SESSIONS[0]]
    assert earlier.record is not None and earlier.record.held_on == day(18)


def test_a_retracted_session_is_not_scheduled_at_any_date():
    events = history(
        [
            c.ScheduleSession(dialogue_id=D, session_id=SESSIONS[0], plan=plan(19, 5)),
            c.RetractSession(dialogue_id=D, session_id=SESSIONS[0], reason="never planned"),
        ]
    )
    for n in range(1, 25):
        session = dialogue.fold(in_force(events, dt.date(2022, 1, n))).sessions.get(SESSIONS[0])
        assert session is None or session.status == "retracted"


def test_an_outcome_status_changes_over_time():
    events = history(
        [
            c.HoldSession(dialogue_id=D, session_id=SESSIONS[0], record=record(5)),
            c.AdoptOutcome(
                dialogue_id=D, outcome_id=OUTCOMES[0], session_id=SESSIONS[0], terms=TERMS
            ),
            c.ChangeOutcomeStatus(
                dialogue_id=D, outcome_id=OUTCOMES[0], status="in progress", effective=day(9)
            ),
            c.ChangeOutcomeStatus(
                dialogue_id=D, outcome_id=OUTCOMES[0], status="fulfilled", effective=day(15)
            ),
            c.CorrectOutcomeStatus(
                dialogue_id=D, outcome_id=OUTCOMES[0], status="partially fulfilled", reason="r"
            ),
        ]
    )

    def status(n: int) -> str | None:
        state = dialogue.fold(in_force(events, dt.date(2022, 1, n)))
        found = state.outcomes.get(OUTCOMES[0])
        return found.status if found else None

    assert [status(n) for n in (4, 5, 9, 15)] == [
        None,
        "adopted",
        "in progress",
        "partially fulfilled",
    ]


def test_a_visit_logged_after_the_fact_and_corrected():
    visitor = Person(name="V", title="Minister", organization="MFA", party="US")
    vp = VisitPlan(visitor=visitor, host="KZ", destination=PLACE, window=day(10))
    v = uuid.UUID(int=99)
    logged = c.LogVisit(visit_id=v, plan=vp, dates=day(10))
    events = visit.decide(visit.initial_state, logged)
    corrected = c.CorrectVisit(visit_id=v, plan=vp, dates=day(12), reason="wrong day")
    events += visit.decide(visit.fold(events), corrected)
    assert visit.fold(in_force(events, dt.date(2022, 1, 10))).status == "unrecorded"
    at_12 = visit.fold(in_force(events, dt.date(2022, 1, 12)))
    assert (at_12.status, at_12.dates) == ("completed", day(12))


def test_a_planned_visit_shows_as_planned_from_its_announcement():
    visitor = Person(name="V", title="Minister", organization="MFA", party="US")
    vp = VisitPlan(visitor=visitor, host="KZ", destination=PLACE, window=day(10), agreed_on=day(2))
    v = uuid.UUID(int=98)
    events = visit.decide(visit.initial_state, c.PlanVisit(visit_id=v, plan=vp))
    events += visit.decide(visit.fold(events), c.CompleteVisit(visit_id=v, dates=day(11)))
    statuses = [visit.fold(in_force(events, dt.date(2022, 1, n))).status for n in (1, 2, 10, 11)]
    assert statuses == ["unrecorded", "planned", "planned", "completed"]

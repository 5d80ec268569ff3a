"""Every dialogue, session and outcome command: its happy path and every refusal."""

from __future__ import annotations

import re

import pytest
from msgspec.structs import replace

from domain import commands as c
from domain import dialogue
from domain import events as e
from domain.errors import (
    AlreadyExists,
    DatesOutOfOrder,
    DomainError,
    DuplicateParties,
    InvalidScore,
    InvalidTransition,
    InvalidValue,
    InvariantViolated,
    MissingReason,
    NotFound,
    NothingChanges,
    NotScored,
    PartyNotInDialogue,
    SessionNotHeld,
    TooFewParties,
    TooManyParties,
)
from domain.values import OutcomeRef, PartialDate, Person

from .builders import (
    DAY,
    KZ_HEAD,
    UZ_HEAD,
    D,
    O,
    P,
    S,
    adopt,
    assessment,
    charter,
    hold,
    launch,
    plan,
    progress,
    record,
    schedule,
    terms,
)


def given(*commands: c.DialogueCommand) -> dialogue.Dialogue:
    state = dialogue.initial_state
    for command in commands:
        state = dialogue.fold(dialogue.decide(state, command), state)
    return state


def when(state: dialogue.Dialogue, command: c.DialogueCommand) -> list[e.DialogueEvent]:
    return dialogue.decide(state, command)


LAUNCHED = (launch(),)
HELD = (*LAUNCHED, hold())
ADOPTED = (*HELD, adopt())


# ---------------------------------------------------------------- happy paths


def test_launch_dialogue():
    events = when(dialogue.initial_state, launch())
    assert events == [e.DialogueLaunched(dialogue_id=D, charter=charter())]
    state = dialogue.fold(events)
    assert (state.status, state.parties, state.dialogue_id) == ("active", ("KZ", "US"), D)


def test_launch_is_idempotent_for_the_same_charter():
    assert when(given(*LAUNCHED), launch()) == []


def test_correct_dialogue():
    cmd = c.CorrectDialogue(dialogue_id=D, charter=charter(acronym="ESPD"), reason="typo")
    state = given(*LAUNCHED, cmd)
    assert state.charter is not None and state.charter.acronym == "ESPD"


def test_rename_dialogue():
    state = given(*LAUNCHED, c.RenameDialogue(dialogue_id=D, name="New", acronym="N"))
    assert state.charter is not None and (state.charter.name, state.charter.acronym) == ("New", "N")


def test_appoint_and_change_lead():
    successor = Person(name="Z", title="Deputy Minister", organization="MFA", party="KZ")
    state = given(
        *LAUNCHED,
        c.AppointLead(dialogue_id=D, lead=KZ_HEAD),
        c.AppointLead(dialogue_id=D, lead=successor),
    )
    assert state.leads == {"KZ": successor}


def test_correct_lead():
    fixed = Person(name="A.", title="Deputy Minister", organization="MFA", party="KZ")
    state = given(
        *LAUNCHED,
        c.AppointLead(dialogue_id=D, lead=KZ_HEAD),
        c.CorrectLead(dialogue_id=D, lead=fixed, reason="spelling"),
    )
    assert state.leads["KZ"] == fixed


def test_suspend_resume_conclude_retract():
    state = given(*LAUNCHED, c.SuspendDialogue(dialogue_id=D, reason="elections"))
    assert state.status == "suspended"
    state = given(
        *LAUNCHED, c.SuspendDialogue(dialogue_id=D, reason="x"), c.ResumeDialogue(dialogue_id=D)
    )
    assert state.status == "active"
    assert given(*LAUNCHED, c.ConcludeDialogue(dialogue_id=D, reason="done")).status == "concluded"
    assert given(*LAUNCHED, c.RetractDialogue(dialogue_id=D, reason="dup")).status == "retracted"


def test_schedule_reschedule_correct_postpone_cancel_session():
    state = given(*LAUNCHED, schedule())
    assert state.sessions[S].status == "scheduled"
    later = plan("2023")
    state = given(
        *LAUNCHED,
        schedule(),
        c.RescheduleSession(dialogue_id=D, session_id=S, plan=later, reason="x"),
    )
    assert state.sessions[S].plan == later
    fixed = plan("2022", host="KZ")
    state = given(
        *LAUNCHED,
        schedule(),
        c.CorrectSessionPlan(dialogue_id=D, session_id=S, plan=fixed, reason="host"),
    )
    assert state.sessions[S].plan == fixed
    state = given(
        *LAUNCHED, schedule(), c.PostponeSession(dialogue_id=D, session_id=S, reason="covid")
    )
    assert state.sessions[S].status == "postponed"
    state = given(*LAUNCHED, schedule(), c.CancelSession(dialogue_id=D, session_id=S, reason="x"))
    assert state.sessions[S].status == "cancelled"


def test_hold_a_scheduled_session_and_an_unscheduled_one():
    state = given(*LAUNCHED, schedule(when="2021"), hold())
    assert state.sessions[S].status == "held"
    assert state.sessions[S].plan is not None
    state = given(*HELD)
    assert state.sessions[S].record == record()


def test_correct_session_record_and_retract_session():
    fixed = record(when="2021-12-14")
    cmd = c.CorrectSessionRecord(dialogue_id=D, session_id=S, record=fixed, reason="date")
    assert given(*HELD, cmd).sessions[S].record == fixed
    state = given(*HELD, c.RetractSession(dialogue_id=D, session_id=S, reason="dup"))
    assert state.sessions[S].status == "retracted"


def test_adopt_outcome_carries_the_session_date():
    events = when(given(*HELD), adopt())
    assert isinstance(events[0], e.OutcomeAdopted)
    assert events[0].adopted_on == DAY
    outcome = dialogue.fold(events, given(*HELD)).outcomes[O]
    assert (outcome.status, outcome.terms) == ("adopted", terms())


def test_correct_and_retract_outcome():
    state = given(
        *ADOPTED, c.CorrectOutcome(dialogue_id=D, outcome_id=O, terms=terms("Meet"), reason="x")
    )
    assert state.outcomes[O].terms.text == "Meet"
    state = given(*ADOPTED, c.RetractOutcome(dialogue_id=D, outcome_id=O, reason="x"))
    assert state.outcomes[O].retracted


def test_record_correct_retract_progress():
    rec = c.RecordProgress(dialogue_id=D, outcome_id=O, progress_id=P, progress=progress())
    assert given(*ADOPTED, rec).outcomes[O].progress == {P: progress()}
    fix = c.CorrectProgress(
        dialogue_id=D, outcome_id=O, progress_id=P, progress=progress("Y"), reason="x"
    )
    assert given(*ADOPTED, rec, fix).outcomes[O].progress[P].note == "Y"
    gone = c.RetractProgress(dialogue_id=D, outcome_id=O, progress_id=P, reason="x")
    assert given(*ADOPTED, rec, gone).outcomes[O].progress == {}
    # sent again (a retried create): a no-op, never the note's return; another note, refused
    assert dialogue.decide(given(*ADOPTED, rec, gone), rec) == []
    other = c.RecordProgress(dialogue_id=D, outcome_id=O, progress_id=P, progress=progress("Z"))
    with pytest.raises(AlreadyExists):
        dialogue.decide(given(*ADOPTED, rec, gone), other)


def test_change_and_correct_outcome_status():
    state = given(
        *ADOPTED, c.ChangeOutcomeStatus(dialogue_id=D, outcome_id=O, status="in progress")
    )
    assert state.outcomes[O].status == "in progress"
    state = given(
        *ADOPTED,
        c.ChangeOutcomeStatus(dialogue_id=D, outcome_id=O, status="fulfilled"),
        c.CorrectOutcomeStatus(
            dialogue_id=D, outcome_id=O, status="in progress", reason="premature"
        ),
    )
    assert state.outcomes[O].status == "in progress"


def test_assess_and_correct_compliance():
    state = given(
        *ADOPTED, c.AssessCompliance(dialogue_id=D, outcome_id=O, assessment=assessment())
    )
    assert state.outcomes[O].compliance == {"KZ": assessment()}
    state = given(
        *ADOPTED,
        c.AssessCompliance(dialogue_id=D, outcome_id=O, assessment=assessment()),
        c.CorrectCompliance(
            dialogue_id=D, outcome_id=O, assessment=assessment(score=0), reason="x"
        ),
    )
    assert state.outcomes[O].compliance["KZ"].score == 0


# ---------------------------------------------------------------- refusals

UZ = (launch(parties=("KZ", "US", "UZ")),)
RECORDED = (
    *ADOPTED,
    c.RecordProgress(dialogue_id=D, outcome_id=O, progress_id=P, progress=progress()),
)
OTHER = PartialDate.parse("2022")

REFUSALS = [
    (
        "bilateral with one party",
        (),
        launch(parties=("KZ",), format="bilateral"),
        TooFewParties,
        "A bilateral dialogue needs exactly two distinct parties, 1 given",
    ),
    (
        "bilateral with a party twice",
        (),
        launch(parties=("KZ", "KZ")),
        DuplicateParties,
        "A dialogue's parties are distinct; named more than once: KZ",
    ),
    (
        "multilateral with a party twice",
        (),
        launch(parties=("KZ", "US", "KZ")),
        DuplicateParties,
        "A dialogue's parties are distinct; named more than once: KZ",
    ),
    (
        "bilateral with three",
        (),
        launch(parties=("KZ", "US", "UZ"), format="bilateral"),
        TooManyParties,
        "A bilateral dialogue needs exactly two distinct parties, 3 given",
    ),
    (
        "multilateral with two",
        (),
        launch(format="multilateral"),
        TooFewParties,
        "A multilateral dialogue needs at least three distinct parties, 2 given",
    ),
    (
        "launched by itself",
        (),
        launch(launched_by=OutcomeRef(dialogue_id=D, outcome_id=O)),
        InvariantViolated,
        "A dialogue cannot be launched by an outcome of itself",
    ),
    (
        "launch twice differently",
        LAUNCHED,
        launch(acronym="X"),
        AlreadyExists,
        f"Dialogue {D} is already recorded with other details",
    ),
    (
        "unknown dialogue",
        (),
        c.AppointLead(dialogue_id=D, lead=KZ_HEAD),
        NotFound,
        f"No dialogue {D} in the register",
    ),
    (
        "retracted dialogue",
        (*LAUNCHED, c.RetractDialogue(dialogue_id=D, reason="x")),
        schedule(),
        NotFound,
        f"No dialogue {D} in the register",
    ),
    (
        "correct to the same",
        LAUNCHED,
        c.CorrectDialogue(dialogue_id=D, charter=charter(), reason="x"),
        NothingChanges,
        "Nothing changes: the dialogue's charter is already recorded so",
    ),
    (
        "correct away a lead's party",
        (*UZ, c.AppointLead(dialogue_id=D, lead=UZ_HEAD)),
        c.CorrectDialogue(dialogue_id=D, charter=charter(parties=("KZ", "US", "TJ")), reason="x"),
        PartyNotInDialogue,
        "The party on record must come from the dialogue's parties, UZ is not one",
    ),
    (
        "launched with a blank name",
        (),
        launch(name="   "),
        InvalidValue,
        "A dialogue needs a name with at least one visible character",
    ),
    (
        "renamed to nothing",
        LAUNCHED,
        c.RenameDialogue(dialogue_id=D, name=""),
        InvalidValue,
        "A dialogue needs a name with at least one visible character",
    ),
    (
        "rename to the same",
        LAUNCHED,
        c.RenameDialogue(dialogue_id=D, name="ESPD"),
        NothingChanges,
        "Nothing changes: the dialogue's name is already recorded so",
    ),
    (
        "lead from elsewhere",
        LAUNCHED,
        c.AppointLead(dialogue_id=D, lead=UZ_HEAD),
        PartyNotInDialogue,
        "The lead must come from the dialogue's parties, UZ is not one",
    ),
    (
        "correct an unappointed lead",
        LAUNCHED,
        c.CorrectLead(dialogue_id=D, lead=KZ_HEAD, reason="x"),
        NotFound,
        "No lead for party KZ in the register",
    ),
    (
        "resume an active dialogue",
        LAUNCHED,
        c.ResumeDialogue(dialogue_id=D),
        InvalidTransition,
        f"Cannot resume dialogue {D}: it is active",
    ),
    (
        "suspend twice",
        (*LAUNCHED, c.SuspendDialogue(dialogue_id=D, reason="x")),
        c.SuspendDialogue(dialogue_id=D, reason="x"),
        InvalidTransition,
        f"Cannot suspend dialogue {D}: it is suspended",
    ),
    (
        "conclude twice",
        (*LAUNCHED, c.ConcludeDialogue(dialogue_id=D, reason="x")),
        c.ConcludeDialogue(dialogue_id=D, reason="x"),
        InvalidTransition,
        f"Cannot conclude dialogue {D}: it is concluded",
    ),
    (
        "schedule in a suspended dialogue",
        (*LAUNCHED, c.SuspendDialogue(dialogue_id=D, reason="x")),
        schedule(),
        InvalidTransition,
        f"Cannot schedule a session in dialogue {D}: it is suspended",
    ),
    (
        "host from elsewhere",
        LAUNCHED,
        c.ScheduleSession(dialogue_id=D, session_id=S, plan=plan(host="UZ")),
        PartyNotInDialogue,
        "The host must come from the dialogue's parties, UZ is not one",
    ),
    (
        "session before the launch",
        (launch(launched_on=PartialDate.parse("2021")),),
        schedule(when="2020"),
        DatesOutOfOrder,
        "Dates out of order: the planned session (2020) cannot be before 2021",
    ),
    (
        "schedule twice differently",
        (*LAUNCHED, schedule()),
        schedule(when="2023"),
        AlreadyExists,
        f"Session {S} is already recorded with other details",
    ),
    (
        "reschedule a held session",
        (*LAUNCHED, schedule(when="2021"), hold()),
        c.RescheduleSession(dialogue_id=D, session_id=S, plan=plan("2023"), reason="x"),
        InvalidTransition,
        f"Cannot reschedule session {S}: it is held",
    ),
    (
        "reschedule to the same",
        (*LAUNCHED, schedule()),
        c.RescheduleSession(dialogue_id=D, session_id=S, plan=plan(), reason="x"),
        NothingChanges,
        "Nothing changes: the session's plan is already recorded so",
    ),
    (
        "correct plan of an unscheduled session",
        HELD,
        c.CorrectSessionPlan(dialogue_id=D, session_id=S, plan=plan(), reason="x"),
        InvariantViolated,
        f"Session {S} was never scheduled: no plan to correct",
    ),
    (
        "postpone a postponed session",
        (*LAUNCHED, schedule(), c.PostponeSession(dialogue_id=D, session_id=S, reason="x")),
        c.PostponeSession(dialogue_id=D, session_id=S, reason="x"),
        InvalidTransition,
        f"Cannot postpone session {S}: it is postponed",
    ),
    (
        "cancel a held session",
        HELD,
        c.CancelSession(dialogue_id=D, session_id=S, reason="x"),
        InvalidTransition,
        f"Cannot cancel session {S}: it is held",
    ),
    (
        "hold a cancelled session",
        (*LAUNCHED, schedule(), c.CancelSession(dialogue_id=D, session_id=S, reason="x")),
        hold(),
        InvalidTransition,
        f"Cannot hold session {S}: it is cancelled",
    ),
    (
        "hold twice differently",
        HELD,
        hold(when="2021-12-16"),
        AlreadyExists,
        f"Held session {S} is already recorded with other details",
    ),
    (
        "hold in a concluded dialogue",
        (*LAUNCHED, c.ConcludeDialogue(dialogue_id=D, reason="x")),
        hold(),
        InvalidTransition,
        f"Cannot hold a session in dialogue {D}: it is concluded",
    ),
    (
        "head from elsewhere",
        LAUNCHED,
        hold(heads=(KZ_HEAD, UZ_HEAD)),
        PartyNotInDialogue,
        "The head of delegation must come from the dialogue's parties, UZ is not one",
    ),
    (
        "two heads for a party",
        LAUNCHED,
        hold(heads=(KZ_HEAD, KZ_HEAD)),
        InvariantViolated,
        "Each party has one head of delegation at a session",
    ),
    (
        "no heads",
        LAUNCHED,
        hold(heads=()),
        InvariantViolated,
        "A held session needs at least one head of delegation",
    ),
    (
        "correct record of an unheld session",
        (*LAUNCHED, schedule()),
        c.CorrectSessionRecord(dialogue_id=D, session_id=S, record=record(), reason="x"),
        SessionNotHeld,
        f"Outcomes are adopted only at a held session; session {S} is scheduled",
    ),
    (
        "correct record past its outcomes' targets",
        (*HELD, adopt(target="Dec. 2021")),
        c.CorrectSessionRecord(
            dialogue_id=D, session_id=S, record=record(when="2022-02-01"), reason="x"
        ),
        DatesOutOfOrder,
        "Dates out of order: the target window (Dec. 2021) cannot be before 2022-02-01",
    ),
    (
        "retract a session with outcomes",
        ADOPTED,
        c.RetractSession(dialogue_id=D, session_id=S, reason="x"),
        InvariantViolated,
        f"Session {S} has outcomes on record: retract them first",
    ),
    (
        "unknown session",
        LAUNCHED,
        c.PostponeSession(dialogue_id=D, session_id=S, reason="x"),
        NotFound,
        f"No session {S} in the register",
    ),
    (
        "adopt at an unheld session",
        (*LAUNCHED, schedule()),
        adopt(),
        SessionNotHeld,
        f"Outcomes are adopted only at a held session; session {S} is scheduled",
    ),
    (
        "adopt at a retracted session",
        (*HELD, c.RetractSession(dialogue_id=D, session_id=S, reason="x")),
        adopt(),
        NotFound,
        f"No session {S} in the register",
    ),
    (
        "target before the session",
        HELD,
        adopt(target="2020"),
        DatesOutOfOrder,
        "Dates out of order: the target window (2020) cannot be before 2021-12-15",
    ),
    (
        "responsible from elsewhere",
        HELD,
        c.AdoptOutcome(
            dialogue_id=D, session_id=S, outcome_id=O, terms=replace(terms(), responsible=("UZ",))
        ),
        PartyNotInDialogue,
        "The responsible party must come from the dialogue's parties, UZ is not one",
    ),
    (
        "nobody responsible",
        HELD,
        c.AdoptOutcome(
            dialogue_id=D, session_id=S, outcome_id=O, terms=replace(terms(), responsible=())
        ),
        InvariantViolated,
        "An outcome needs at least one responsible party",
    ),
    (
        "adopt twice differently",
        ADOPTED,
        adopt(text="Other"),
        AlreadyExists,
        f"Outcome {O} is already recorded with other details",
    ),
    (
        "unknown outcome",
        HELD,
        c.RetractOutcome(dialogue_id=D, outcome_id=O, reason="x"),
        NotFound,
        f"No outcome {O} in the register",
    ),
    (
        "retracted outcome",
        (*ADOPTED, c.RetractOutcome(dialogue_id=D, outcome_id=O, reason="x")),
        c.ChangeOutcomeStatus(dialogue_id=D, outcome_id=O, status="fulfilled"),
        NotFound,
        f"No outcome {O} in the register",
    ),
    (
        "correct outcome to the same",
        ADOPTED,
        c.CorrectOutcome(dialogue_id=D, outcome_id=O, terms=terms(), reason="x"),
        NothingChanges,
        "Nothing changes: the outcome's terms is already recorded so",
    ),
    (
        "progress before adoption",
        ADOPTED,
        c.RecordProgress(
            dialogue_id=D, outcome_id=O, progress_id=P, progress=progress(on="2021-11")
        ),
        DatesOutOfOrder,
        "Dates out of order: the progress note (2021-11) cannot be before 2021-12-15",
    ),
    (
        "progress twice differently",
        RECORDED,
        c.RecordProgress(dialogue_id=D, outcome_id=O, progress_id=P, progress=progress("Z")),
        AlreadyExists,
        f"Progress note {P} is already recorded with other details",
    ),
    (
        "correct unknown progress",
        ADOPTED,
        c.CorrectProgress(
            dialogue_id=D, outcome_id=O, progress_id=P, progress=progress(), reason="x"
        ),
        NotFound,
        f"No progress note {P} in the register",
    ),
    (
        "correct progress to the same",
        RECORDED,
        c.CorrectProgress(
            dialogue_id=D, outcome_id=O, progress_id=P, progress=progress(), reason="x"
        ),
        NothingChanges,
        "Nothing changes: the progress note is already recorded so",
    ),
    (
        "retract unknown progress",
        ADOPTED,
        c.RetractProgress(dialogue_id=D, outcome_id=O, progress_id=P, reason="x"),
        NotFound,
        f"No progress note {P} in the register",
    ),
    (
        "leave a final status",
        (*ADOPTED, c.ChangeOutcomeStatus(dialogue_id=D, outcome_id=O, status="lapsed")),
        c.ChangeOutcomeStatus(dialogue_id=D, outcome_id=O, status="in progress"),
        InvalidTransition,
        f"Cannot mark as in progress outcome {O}: it is lapsed; "
        "a final status changes only by correction",
    ),
    (
        "back to adopted",
        ADOPTED,
        c.ChangeOutcomeStatus(dialogue_id=D, outcome_id=O, status="adopted"),
        InvalidTransition,
        f"Cannot mark as adopted outcome {O}: it is adopted",
    ),
    (
        "status change before adoption",
        ADOPTED,
        c.ChangeOutcomeStatus(
            dialogue_id=D, outcome_id=O, status="lapsed", effective=PartialDate.parse("2020")
        ),
        DatesOutOfOrder,
        "Dates out of order: the status change (2020) cannot be before 2021-12-15",
    ),
    (
        "correct status to the same",
        ADOPTED,
        c.CorrectOutcomeStatus(dialogue_id=D, outcome_id=O, status="adopted", reason="x"),
        NothingChanges,
        "Nothing changes: the outcome's status is already recorded so",
    ),
    (
        "assess a party not responsible",
        ADOPTED,
        c.AssessCompliance(dialogue_id=D, outcome_id=O, assessment=assessment(party="UZ")),
        NotScored,
        "Compliance is assessed only for an outcome's scored parties; UZ is not among its "
        "responsible parties (no scored parties listed: add them to terms.scored to score "
        "others): KZ, US",
    ),
    (
        "correct an absent assessment",
        ADOPTED,
        c.CorrectCompliance(dialogue_id=D, outcome_id=O, assessment=assessment(), reason="x"),
        NotFound,
        "No compliance assessment of party KZ in the register",
    ),
    (
        "correct an assessment to the same",
        (*ADOPTED, c.AssessCompliance(dialogue_id=D, outcome_id=O, assessment=assessment())),
        c.CorrectCompliance(dialogue_id=D, outcome_id=O, assessment=assessment(), reason="x"),
        NothingChanges,
        "Nothing changes: the compliance assessment is already recorded so",
    ),
]


@pytest.mark.parametrize(
    ("history", "command", "error", "message"),
    [pytest.param(h, cmd, err, msg, id=name) for name, h, cmd, err, msg in REFUSALS],
)
def test_refusal(history, command, error, message):
    state = given(*history)
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        dialogue.decide(state, command)


@pytest.mark.parametrize(
    "build",
    [
        lambda: c.CancelSession(dialogue_id=D, session_id=S, reason="  "),
        lambda: c.CorrectOutcome(dialogue_id=D, outcome_id=O, terms=terms(), reason=""),
        lambda: c.SuspendDialogue(dialogue_id=D, reason=""),
    ],
)
def test_reasons_are_mandatory(build):
    with pytest.raises(MissingReason, match=r"needs a non-empty reason$"):
        build()


def test_compliance_score_is_on_the_g20_scale():
    with pytest.raises(
        InvalidScore, match="A compliance score is -1, 0 or \\+1 on the G7/G20 scale, not 2"
    ):
        assessment(score=2)


def test_all_refusals_are_domain_errors():
    assert all(issubclass(err, DomainError) for _, _, _, err, _ in REFUSALS)

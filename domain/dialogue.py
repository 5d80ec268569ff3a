"""The Dialogue aggregate: a standing mechanism, its sessions and the outcomes they adopted.

Sessions and outcomes live in the dialogue's stream because their rules span it: heads of
delegation must come from the dialogue's parties, outcomes are adopted only at a held
session of this dialogue, and a suspended or concluded dialogue holds no sessions.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import msgspec
from msgspec.structs import replace

from domain import commands as c
from domain import events as e
from domain.decider import (
    EMPTY,
    Decider,
    decided,
    dispatch,
    echo,
    entry,
    must_change,
    once,
    with_entry,
    without_entry,
)
from domain.errors import (
    DatesOutOfOrder,
    DuplicateParties,
    InvalidTransition,
    InvariantViolated,
    NotFound,
    NotScored,
    PartyNotInDialogue,
    SessionNotHeld,
    TooFewParties,
    TooManyParties,
)
from domain.facts import (
    FINAL_OUTCOME_STATUSES,
    Assessment,
    Charter,
    OutcomeStatus,
    OutcomeTerms,
    Progress,
    SessionLevel,
    SessionPlan,
    SessionRecord,
)
from domain.values import PartialDate, Person, check_name

DialogueStatus = Literal["unrecorded", "active", "suspended", "concluded", "retracted"]
SessionStatus = Literal["scheduled", "postponed", "cancelled", "held", "retracted"]
UPCOMING_SESSION_STATUSES: frozenset[str] = frozenset({"scheduled", "postponed"})


def is_upcoming(status: str) -> bool:
    """A scheduled or postponed session may still take place; the read models store this
    decision (`sessions.is_upcoming`) so the calendar never restates the statuses."""
    return status in UPCOMING_SESSION_STATUSES


class Session(msgspec.Struct, frozen=True, kw_only=True):
    session_id: uuid.UUID
    status: SessionStatus
    plan: SessionPlan | None = None
    record: SessionRecord | None = None
    first_at_level: bool = False
    """Decided by the domain on every session change: this is the dialogue's earliest held
    session at its level (see `level_of`), by the start of its held date."""


def level_of(session: Session) -> SessionLevel | None:
    """The level a session was held at, else the level it was planned at."""
    if session.record is not None and session.record.level is not None:
        return session.record.level
    return session.plan.level if session.plan is not None else None


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    outcome_id: uuid.UUID
    session_id: uuid.UUID
    terms: OutcomeTerms
    adopted_on: PartialDate
    status: OutcomeStatus = "adopted"
    retracted: bool = False
    progress: Mapping[uuid.UUID, Progress] = EMPTY
    compliance: Mapping[str, Assessment] = EMPTY
    retracted_progress: Mapping[uuid.UUID, Progress] = EMPTY
    """Retracted notes, gone from `progress` but kept, so that recording one again (a
    retried create) is a no-op or a refusal, never its return."""


class Dialogue(msgspec.Struct, frozen=True, kw_only=True):
    dialogue_id: uuid.UUID | None = None
    status: DialogueStatus = "unrecorded"
    charter: Charter | None = None
    leads: Mapping[str, Person] = EMPTY
    sessions: Mapping[uuid.UUID, Session] = EMPTY
    outcomes: Mapping[uuid.UUID, Outcome] = EMPTY

    @property
    def parties(self) -> tuple[str, ...]:
        return self.charter.parties if self.charter else ()


initial_state = Dialogue()

# ---------------------------------------------------------------- rules


def _recorded(state: Dialogue, command: c._DialogueCommand) -> Charter:
    if state.charter is None or state.status == "retracted":
        raise NotFound("dialogue", command.dialogue_id)
    return state.charter


def _check_charter(dialogue_id: uuid.UUID, charter: Charter) -> None:
    check_name(charter.name, "A dialogue")
    if twice := sorted({p for p in charter.parties if charter.parties.count(p) > 1}):
        raise DuplicateParties(twice)
    count = len(set(charter.parties))
    if count < (2 if charter.format == "bilateral" else 3):
        raise TooFewParties(count, charter.format)
    if charter.format == "bilateral" and count > 2:
        raise TooManyParties(count, charter.format)
    if charter.launched_by and charter.launched_by.dialogue_id == dialogue_id:
        raise InvariantViolated("A dialogue cannot be launched by an outcome of itself")


def _from_parties(state: Dialogue, codes: Iterable[str], role: str) -> None:
    for code in codes:
        if code not in state.parties:
            raise PartyNotInDialogue(code, role)


def _in_order(later: PartialDate | None, earlier: PartialDate | None, what: str) -> None:
    if later is not None and earlier is not None and later.is_before(earlier):
        raise DatesOutOfOrder(f"{what} ({later})", f"{earlier}")


def _active(state: Dialogue, action: str) -> None:
    if state.status != "active":
        raise InvalidTransition(action, "dialogue", state.dialogue_id, state.status)


def _session(state: Dialogue, session_id: uuid.UUID) -> Session:
    session = entry(state.sessions, session_id, "session")
    if session.status == "retracted":
        raise NotFound("session", session_id)
    return session


def _session_in(state: Dialogue, session_id: uuid.UUID, allowed: set[str], action: str) -> None:
    session = _session(state, session_id)
    if session.status not in allowed:
        raise InvalidTransition(action, "session", session_id, session.status)


def _outcome(state: Dialogue, outcome_id: uuid.UUID) -> Outcome:
    outcome = entry(state.outcomes, outcome_id, "outcome")
    if outcome.retracted:
        raise NotFound("outcome", outcome_id)
    return outcome


def _check_plan(state: Dialogue, plan: SessionPlan) -> None:
    _from_parties(state, [plan.host] if plan.host else [], "host")
    _in_order(plan.planned, _launched_on(state), "the planned session")
    _in_order(plan.planned, plan.agreed_on, "the planned session")


def _launched_on(state: Dialogue) -> PartialDate | None:
    return state.charter.launched_on if state.charter else None


def _check_record(state: Dialogue, record: SessionRecord) -> None:
    if not record.heads:
        raise InvariantViolated("A held session needs at least one head of delegation")
    head_parties = [head.party for head in record.heads]
    _from_parties(state, head_parties, "head of delegation")
    if len(set(head_parties)) != len(head_parties):
        raise InvariantViolated("Each party has one head of delegation at a session")
    _from_parties(state, [member.party for member in record.members], "delegation member")
    _from_parties(state, [p for s in record.statements for p in s.by], "speaker of a statement")
    _in_order(record.held_on, _launched_on(state), "the session")


def _check_terms(state: Dialogue, terms: OutcomeTerms, adopted_on: PartialDate) -> None:
    if not terms.responsible:
        raise InvariantViolated("An outcome needs at least one responsible party")
    _from_parties(state, terms.responsible, "responsible party")
    _from_parties(state, [p.by for p in terms.pledges if p.by], "pledging party")
    _from_parties(state, terms.scored, "scored party")
    _in_order(terms.target, adopted_on, "the target window")


def _check_assessment(outcome: Outcome, assessment: Assessment) -> None:
    scored = outcome.terms.scored or outcome.terms.responsible
    if assessment.party not in scored:
        raise NotScored(assessment.party, scored, bool(outcome.terms.scored))
    _in_order(assessment.on, outcome.adopted_on, "the assessment")


# ---------------------------------------------------------------- decisions: dialogue


def _launch(state: Dialogue, cmd: c.LaunchDialogue) -> list[e.DialogueEvent]:
    _check_charter(cmd.dialogue_id, cmd.charter)
    launched = echo(e.DialogueLaunched, cmd)
    return once(state.charter, cmd.charter, "dialogue", cmd.dialogue_id, [launched])


def _correct_dialogue(state: Dialogue, cmd: c.CorrectDialogue) -> list[e.DialogueEvent]:
    must_change(_recorded(state, cmd), cmd.charter, "dialogue's charter")
    _check_charter(cmd.dialogue_id, cmd.charter)
    _from_parties(Dialogue(charter=cmd.charter), _parties_in_use(state), "party on record")
    return [echo(e.DialogueCorrected, cmd)]


def _parties_in_use(state: Dialogue) -> set[str]:
    """Parties the record already names; a corrected charter may not orphan them."""
    used = set(state.leads)
    for session in state.sessions.values():
        if session.plan and session.plan.host:
            used.add(session.plan.host)
        if session.record:
            people = (*session.record.heads, *session.record.members)
            used.update(person.party for person in people)
            used.update(p for statement in session.record.statements for p in statement.by)
    for outcome in state.outcomes.values():
        used.update(outcome.terms.responsible)
    return used


def _rename(state: Dialogue, cmd: c.RenameDialogue) -> list[e.DialogueEvent]:
    charter = _recorded(state, cmd)
    check_name(cmd.name, "A dialogue")
    must_change((charter.name, charter.acronym), (cmd.name, cmd.acronym), "dialogue's name")
    return [echo(e.DialogueRenamed, cmd)]


def _appoint_lead(state: Dialogue, cmd: c.AppointLead) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    _from_parties(state, [cmd.lead.party], "lead")
    if state.leads.get(cmd.lead.party) == cmd.lead:
        return []
    return [echo(e.LeadAppointed, cmd)]


def _correct_lead(state: Dialogue, cmd: c.CorrectLead) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    current = entry(state.leads, cmd.lead.party, "lead for party")
    must_change(current, cmd.lead, "lead")
    return [echo(e.LeadCorrected, cmd)]


def _status_change(
    allowed: set[str], action: str, event_type: Callable[..., e.DialogueEvent]
) -> Callable[[Dialogue, Any], list[e.DialogueEvent]]:
    """Suspend, resume, conclude and retract differ only in where they may start from."""

    def decide_change(state: Dialogue, cmd: Any) -> list[e.DialogueEvent]:
        _recorded(state, cmd)
        if state.status not in allowed:
            raise InvalidTransition(action, "dialogue", cmd.dialogue_id, state.status)
        return [echo(event_type, cmd)]

    return decide_change


# ---------------------------------------------------------------- decisions: sessions


def _schedule(state: Dialogue, cmd: c.ScheduleSession) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    _active(state, "schedule a session in")
    _check_plan(state, cmd.plan)
    existing = state.sessions.get(cmd.session_id)
    scheduled = echo(e.SessionScheduled, cmd)
    return once(existing and existing.plan, cmd.plan, "session", cmd.session_id, [scheduled])


def _reschedule(state: Dialogue, cmd: c.RescheduleSession) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    _session_in(state, cmd.session_id, {"scheduled", "postponed"}, "reschedule")
    must_change(state.sessions[cmd.session_id].plan, cmd.plan, "session's plan")
    _check_plan(state, cmd.plan)
    return [echo(e.SessionRescheduled, cmd)]


def _correct_plan(state: Dialogue, cmd: c.CorrectSessionPlan) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    session = _session(state, cmd.session_id)
    if session.plan is None:
        raise InvariantViolated(f"Session {cmd.session_id} was never scheduled: no plan to correct")
    must_change(session.plan, cmd.plan, "session's plan")
    _check_plan(state, cmd.plan)
    return [echo(e.SessionPlanCorrected, cmd)]


def _postpone(state: Dialogue, cmd: c.PostponeSession) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    _session_in(state, cmd.session_id, {"scheduled"}, "postpone")
    return [echo(e.SessionPostponed, cmd)]


def _cancel(state: Dialogue, cmd: c.CancelSession) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    _session_in(state, cmd.session_id, {"scheduled", "postponed"}, "cancel")
    return [echo(e.SessionCancelled, cmd)]


def _hold(state: Dialogue, cmd: c.HoldSession) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    existing = state.sessions.get(cmd.session_id)
    held = echo(e.SessionHeld, cmd)
    if existing is not None and existing.status == "held":
        return once(existing.record, cmd.record, "held session", cmd.session_id, [held])
    if existing is not None:
        _session_in(state, cmd.session_id, {"scheduled", "postponed"}, "hold")
    _active(state, "hold a session in")
    _check_record(state, cmd.record)
    return [held]


def _correct_record(state: Dialogue, cmd: c.CorrectSessionRecord) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    session = _session(state, cmd.session_id)
    if session.record is None:
        raise SessionNotHeld(cmd.session_id, session.status)
    must_change(session.record, cmd.record, "session's record")
    _check_record(state, cmd.record)
    _outcomes_still_follow(state, cmd.session_id, cmd.record.held_on)
    return [echo(e.SessionRecordCorrected, cmd)]


def _outcomes_adopted_at(state: Dialogue, session_id: uuid.UUID) -> list[Outcome]:
    return [o for o in state.outcomes.values() if o.session_id == session_id and not o.retracted]


def _outcomes_still_follow(state: Dialogue, session_id: uuid.UUID, held_on: PartialDate) -> None:
    for outcome in _outcomes_adopted_at(state, session_id):
        _in_order(outcome.terms.target, held_on, "the target window")


def _retract_session(state: Dialogue, cmd: c.RetractSession) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    _session(state, cmd.session_id)
    if _outcomes_adopted_at(state, cmd.session_id):
        raise InvariantViolated(
            f"Session {cmd.session_id} has outcomes on record: retract them first"
        )
    return [echo(e.SessionRetracted, cmd)]


# ---------------------------------------------------------------- decisions: outcomes


def _adopt(state: Dialogue, cmd: c.AdoptOutcome) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    session = _session(state, cmd.session_id)
    if session.record is None:
        raise SessionNotHeld(cmd.session_id, session.status)
    _check_terms(state, cmd.terms, session.record.held_on)
    existing = state.outcomes.get(cmd.outcome_id)
    adopted = e.OutcomeAdopted(
        dialogue_id=cmd.dialogue_id,
        outcome_id=cmd.outcome_id,
        session_id=cmd.session_id,
        terms=cmd.terms,
        adopted_on=session.record.held_on,
    )
    wanted = (cmd.session_id, cmd.terms)
    found = existing and (existing.session_id, existing.terms)
    return once(found, wanted, "outcome", cmd.outcome_id, [adopted])


def _correct_outcome(state: Dialogue, cmd: c.CorrectOutcome) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    outcome = _outcome(state, cmd.outcome_id)
    must_change(outcome.terms, cmd.terms, "outcome's terms")
    _check_terms(state, cmd.terms, outcome.adopted_on)
    return [echo(e.OutcomeCorrected, cmd)]


def _retract_outcome(state: Dialogue, cmd: c.RetractOutcome) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    _outcome(state, cmd.outcome_id)
    return [echo(e.OutcomeRetracted, cmd)]


def _record_progress(state: Dialogue, cmd: c.RecordProgress) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    outcome = _outcome(state, cmd.outcome_id)
    _in_order(cmd.progress.on, outcome.adopted_on, "the progress note")
    recorded = echo(e.ProgressRecorded, cmd)
    existing = outcome.progress.get(cmd.progress_id) or outcome.retracted_progress.get(
        cmd.progress_id
    )
    return once(existing, cmd.progress, "progress note", cmd.progress_id, [recorded])


def _correct_progress(state: Dialogue, cmd: c.CorrectProgress) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    outcome = _outcome(state, cmd.outcome_id)
    current = entry(outcome.progress, cmd.progress_id, "progress note")
    must_change(current, cmd.progress, "progress note")
    _in_order(cmd.progress.on, outcome.adopted_on, "the progress note")
    return [echo(e.ProgressCorrected, cmd)]


def _retract_progress(state: Dialogue, cmd: c.RetractProgress) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    entry(_outcome(state, cmd.outcome_id).progress, cmd.progress_id, "progress note")
    return [echo(e.ProgressRetracted, cmd)]


def _change_status(state: Dialogue, cmd: c.ChangeOutcomeStatus) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    outcome = _outcome(state, cmd.outcome_id)
    action = f"mark as {cmd.status}"
    if outcome.status in FINAL_OUTCOME_STATUSES:
        hint = "; a final status changes only by correction"
        raise InvalidTransition(action, "outcome", cmd.outcome_id, outcome.status, hint)
    if cmd.status == "adopted" or cmd.status == outcome.status:
        raise InvalidTransition(action, "outcome", cmd.outcome_id, outcome.status)
    _in_order(cmd.effective, outcome.adopted_on, "the status change")
    return [echo(e.OutcomeStatusChanged, cmd)]


def _correct_status(state: Dialogue, cmd: c.CorrectOutcomeStatus) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    must_change(_outcome(state, cmd.outcome_id).status, cmd.status, "outcome's status")
    return [echo(e.OutcomeStatusCorrected, cmd)]


def _assess(state: Dialogue, cmd: c.AssessCompliance) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    outcome = _outcome(state, cmd.outcome_id)
    _check_assessment(outcome, cmd.assessment)
    if outcome.compliance.get(cmd.assessment.party) == cmd.assessment:
        return []
    return [echo(e.ComplianceAssessed, cmd)]


def _correct_compliance(state: Dialogue, cmd: c.CorrectCompliance) -> list[e.DialogueEvent]:
    _recorded(state, cmd)
    outcome = _outcome(state, cmd.outcome_id)
    current = entry(outcome.compliance, cmd.assessment.party, "compliance assessment of party")
    must_change(current, cmd.assessment, "compliance assessment")
    _check_assessment(outcome, cmd.assessment)
    return [echo(e.ComplianceCorrected, cmd)]


_DECISIONS: dict[type, Callable[[Dialogue, Any], list[e.DialogueEvent]]] = {
    c.LaunchDialogue: _launch,
    c.CorrectDialogue: _correct_dialogue,
    c.RenameDialogue: _rename,
    c.AppointLead: _appoint_lead,
    c.CorrectLead: _correct_lead,
    c.SuspendDialogue: _status_change(
        {"active"},
        "suspend",
        e.DialogueSuspended,
    ),
    c.ResumeDialogue: _status_change(
        {"suspended"},
        "resume",
        e.DialogueResumed,
    ),
    c.ConcludeDialogue: _status_change(
        {"active", "suspended"},
        "conclude",
        e.DialogueConcluded,
    ),
    c.RetractDialogue: _status_change(
        {"active", "suspended", "concluded"},
        "retract",
        e.DialogueRetracted,
    ),
    c.ScheduleSession: _schedule,
    c.RescheduleSession: _reschedule,
    c.CorrectSessionPlan: _correct_plan,
    c.PostponeSession: _postpone,
    c.CancelSession: _cancel,
    c.HoldSession: _hold,
    c.CorrectSessionRecord: _correct_record,
    c.RetractSession: _retract_session,
    c.AdoptOutcome: _adopt,
    c.CorrectOutcome: _correct_outcome,
    c.RetractOutcome: _retract_outcome,
    c.RecordProgress: _record_progress,
    c.CorrectProgress: _correct_progress,
    c.RetractProgress: _retract_progress,
    c.ChangeOutcomeStatus: _change_status,
    c.CorrectOutcomeStatus: _correct_status,
    c.AssessCompliance: _assess,
    c.CorrectCompliance: _correct_compliance,
}


def decide(state: Dialogue, command: c.DialogueCommand) -> list[e.DialogueEvent]:
    """The events a command causes, or a DomainError naming the rule it would break."""
    return decided(_DECISIONS, state, command)


# ---------------------------------------------------------------- evolution


def _with_session(state: Dialogue, session_id: uuid.UUID, **changes: Any) -> Dialogue:
    session = state.sessions.get(session_id) or Session(session_id=session_id, status="scheduled")
    return replace(
        state, sessions=with_entry(state.sessions, session_id, replace(session, **changes))
    )


def _folded_outcome(state: Dialogue, outcome_id: uuid.UUID) -> Outcome:
    """The outcome an event changes; one folded before its adoption (a replay as recorded
    at a moment that saw the change but not the adoption) cannot be folded."""
    outcome = state.outcomes.get(outcome_id)
    assert outcome is not None, f"outcome {outcome_id} changed before it was adopted"
    return outcome


def _with_outcome(state: Dialogue, outcome_id: uuid.UUID, **changes: Any) -> Dialogue:
    outcome = replace(_folded_outcome(state, outcome_id), **changes)
    return replace(state, outcomes=with_entry(state.outcomes, outcome_id, outcome))


def _progress_set(state: Dialogue, ev: e.ProgressRecorded | e.ProgressCorrected) -> Dialogue:
    progress = _folded_outcome(state, ev.outcome_id).progress
    return _with_outcome(
        state, ev.outcome_id, progress=with_entry(progress, ev.progress_id, ev.progress)
    )


def _progress_removed(state: Dialogue, ev: e.ProgressRetracted) -> Dialogue:
    outcome = _folded_outcome(state, ev.outcome_id)
    note = outcome.progress.get(ev.progress_id)
    return _with_outcome(
        state,
        ev.outcome_id,
        progress=without_entry(outcome.progress, ev.progress_id),
        retracted_progress=outcome.retracted_progress
        if note is None
        else with_entry(outcome.retracted_progress, ev.progress_id, note),
    )


def _assessed(state: Dialogue, ev: e.ComplianceAssessed | e.ComplianceCorrected) -> Dialogue:
    compliance = _folded_outcome(state, ev.outcome_id).compliance
    assessment = ev.assessment
    return _with_outcome(
        state, ev.outcome_id, compliance=with_entry(compliance, assessment.party, assessment)
    )


def _adopted(state: Dialogue, ev: e.OutcomeAdopted) -> Dialogue:
    outcome = Outcome(
        outcome_id=ev.outcome_id, session_id=ev.session_id, terms=ev.terms, adopted_on=ev.adopted_on
    )
    return replace(state, outcomes=with_entry(state.outcomes, ev.outcome_id, outcome))


def _record_corrected(state: Dialogue, ev: e.SessionRecordCorrected) -> Dialogue:
    """A corrected held date moves its outcomes' adoption date too, retracted ones included
    (a retraction hides an outcome, it does not freeze the wrong date): no stale date
    survives."""
    state = _with_session(state, ev.session_id, record=ev.record)
    for outcome in list(state.outcomes.values()):
        if outcome.session_id == ev.session_id:
            state = _with_outcome(state, outcome.outcome_id, adopted_on=ev.record.held_on)
    return state


def _renamed(state: Dialogue, ev: e.DialogueRenamed) -> Dialogue:
    assert state.charter is not None
    return replace(state, charter=replace(state.charter, name=ev.name, acronym=ev.acronym))


def _lead_set(state: Dialogue, ev: e.LeadAppointed | e.LeadCorrected) -> Dialogue:
    return replace(state, leads=with_entry(state.leads, ev.lead.party, ev.lead))


_EVOLUTIONS: dict[type, Callable[[Dialogue, Any], Dialogue]] = {
    e.DialogueLaunched: lambda s, ev: Dialogue(
        dialogue_id=ev.dialogue_id, status="active", charter=ev.charter
    ),
    e.DialogueCorrected: lambda s, ev: replace(s, charter=ev.charter),
    e.DialogueRenamed: _renamed,
    e.LeadAppointed: _lead_set,
    e.LeadCorrected: _lead_set,
    e.DialogueSuspended: lambda s, ev: replace(s, status="suspended"),
    e.DialogueResumed: lambda s, ev: replace(s, status="active"),
    e.DialogueConcluded: lambda s, ev: replace(s, status="concluded"),
    e.DialogueRetracted: lambda s, ev: replace(s, status="retracted"),
    e.SessionScheduled: lambda s, ev: _with_session(s, ev.session_id, plan=ev.plan),
    e.SessionRescheduled: lambda s, ev: _with_session(
        s, ev.session_id, plan=ev.plan, status="scheduled"
    ),
    e.SessionPlanCorrected: lambda s, ev: _with_session(s, ev.session_id, plan=ev.plan),
    e.SessionPostponed: lambda s, ev: _with_session(s, ev.session_id, status="postponed"),
    e.SessionCancelled: lambda s, ev: _with_session(s, ev.session_id, status="cancelled"),
    e.SessionHeld: lambda s, ev: _with_session(s, ev.session_id, record=ev.record, status="held"),
    e.SessionRecordCorrected: _record_corrected,
    e.SessionRetracted: lambda s, ev: _with_session(s, ev.session_id, status="retracted"),
    e.OutcomeAdopted: _adopted,
    e.OutcomeCorrected: lambda s, ev: _with_outcome(s, ev.outcome_id, terms=ev.terms),
    e.OutcomeRetracted: lambda s, ev: _with_outcome(s, ev.outcome_id, retracted=True),
    e.ProgressRecorded: _progress_set,
    e.ProgressCorrected: _progress_set,
    e.ProgressRetracted: _progress_removed,
    e.OutcomeStatusChanged: lambda s, ev: _with_outcome(s, ev.outcome_id, status=ev.status),
    e.OutcomeStatusCorrected: lambda s, ev: _with_outcome(s, ev.outcome_id, status=ev.status),
    e.ComplianceAssessed: _assessed,
    e.ComplianceCorrected: _assessed,
}


def _held_at_level(state: Dialogue) -> list[tuple[Session, SessionLevel, dt.date]]:
    return [
        (session, level, session.record.held_on.start)
        for session in state.sessions.values()
        if session.status == "held"
        and session.record is not None
        and (level := level_of(session)) is not None
    ]


def _firsts_marked(state: Dialogue) -> Dialogue:
    """Mark each level's first held session ("the first ministerial meeting"), unmark the
    rest: a correction or retraction can move the first."""
    held = _held_at_level(state)
    earliest: dict[str, dt.date] = {}
    for _, level, day in held:
        earliest[level] = min(earliest.get(level, day), day)
    firsts = {session.session_id for session, level, day in held if day == earliest[level]}
    for session in list(state.sessions.values()):
        first = session.session_id in firsts
        if session.first_at_level != first:
            state = _with_session(state, session.session_id, first_at_level=first)
    return state


def evolve(state: Dialogue, event: e.DialogueEvent) -> Dialogue:
    """Apply a recorded event; never refuses, because the past cannot be refused."""
    evolved: Dialogue = dispatch(_EVOLUTIONS, event)(state, event)
    if isinstance(event, e._SessionEvent) and _touches_levels(state, evolved, event.session_id):
        return _firsts_marked(evolved)
    return evolved


def _touches_levels(before: Dialogue, after: Dialogue, session_id: uuid.UUID) -> bool:
    """Only a session with a level (or the first at one) can move the firsts; skipping the
    rest keeps a replay linear in the number of events."""
    touched = (before.sessions.get(session_id), after.sessions.get(session_id))
    return any(s is not None and (s.first_at_level or level_of(s)) for s in touched)


decider: Decider[Dialogue, c.DialogueCommand, e.DialogueEvent] = Decider(
    "dialogue", initial_state, decide, evolve
)


def fold(events: Iterable[e.DialogueEvent], state: Dialogue = initial_state) -> Dialogue:
    return decider.fold(events, state)

"""What callers ask of the register. Commands are msgspec Structs so request bodies decode
straight into them; every entity id is chosen by the caller, so a retry names the same thing.
"""

from __future__ import annotations

import re
import uuid

import msgspec

from domain.facts import (
    Assessment,
    Charter,
    Indicator,
    Milestone,
    OutcomeStatus,
    OutcomeTerms,
    Progress,
    SessionPlan,
    SessionRecord,
    VisitPlan,
)
from domain.values import PartialDate, PartyCode, Person, check_parties, check_reason


class _Command(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    def __post_init__(self) -> None:
        """A command that carries a reason (corrections, retractions, cancellations) needs one."""
        reason = getattr(self, "reason", None)
        if isinstance(reason, str):
            spoken = re.sub(r"(?<!^)([A-Z])", r" \1", type(self).__name__).capitalize()
            check_reason(reason, spoken)


# ---------------------------------------------------------------- dialogues


class _DialogueCommand(_Command, frozen=True, kw_only=True):
    dialogue_id: uuid.UUID


class LaunchDialogue(_DialogueCommand, frozen=True, kw_only=True):
    charter: Charter


class CorrectDialogue(_DialogueCommand, frozen=True, kw_only=True):
    charter: Charter
    reason: str


class RenameDialogue(_DialogueCommand, frozen=True, kw_only=True):
    name: str
    acronym: str | None = None
    effective: PartialDate | None = None


class AppointLead(_DialogueCommand, frozen=True, kw_only=True):
    """Appoint a side's lead, or change it: the newest appointment for a party leads."""

    lead: Person
    effective: PartialDate | None = None


class CorrectLead(_DialogueCommand, frozen=True, kw_only=True):
    lead: Person
    reason: str


class SuspendDialogue(_DialogueCommand, frozen=True, kw_only=True):
    reason: str
    effective: PartialDate | None = None


class ResumeDialogue(_DialogueCommand, frozen=True, kw_only=True):
    effective: PartialDate | None = None


class ConcludeDialogue(_DialogueCommand, frozen=True, kw_only=True):
    reason: str
    effective: PartialDate | None = None


class RetractDialogue(_DialogueCommand, frozen=True, kw_only=True):
    reason: str


# ---------------------------------------------------------------- sessions


class _SessionCommand(_DialogueCommand, frozen=True, kw_only=True):
    session_id: uuid.UUID


class ScheduleSession(_SessionCommand, frozen=True, kw_only=True):
    plan: SessionPlan


class RescheduleSession(_SessionCommand, frozen=True, kw_only=True):
    plan: SessionPlan
    reason: str


class CorrectSessionPlan(_SessionCommand, frozen=True, kw_only=True):
    plan: SessionPlan
    reason: str


class PostponeSession(_SessionCommand, frozen=True, kw_only=True):
    reason: str


class CancelSession(_SessionCommand, frozen=True, kw_only=True):
    reason: str


class HoldSession(_SessionCommand, frozen=True, kw_only=True):
    """Record a session as held; a session never scheduled in the register may be held too."""

    record: SessionRecord


class CorrectSessionRecord(_SessionCommand, frozen=True, kw_only=True):
    record: SessionRecord
    reason: str


class RetractSession(_SessionCommand, frozen=True, kw_only=True):
    reason: str


# ---------------------------------------------------------------- outcomes


class _OutcomeCommand(_DialogueCommand, frozen=True, kw_only=True):
    outcome_id: uuid.UUID


class AdoptOutcome(_OutcomeCommand, frozen=True, kw_only=True):
    session_id: uuid.UUID
    terms: OutcomeTerms


class CorrectOutcome(_OutcomeCommand, frozen=True, kw_only=True):
    terms: OutcomeTerms
    reason: str


class RetractOutcome(_OutcomeCommand, frozen=True, kw_only=True):
    reason: str


class RecordProgress(_OutcomeCommand, frozen=True, kw_only=True):
    progress_id: uuid.UUID
    progress: Progress


class CorrectProgress(_OutcomeCommand, frozen=True, kw_only=True):
    progress_id: uuid.UUID
    progress: Progress
    reason: str


class RetractProgress(_OutcomeCommand, frozen=True, kw_only=True):
    progress_id: uuid.UUID
    reason: str


class ChangeOutcomeStatus(_OutcomeCommand, frozen=True, kw_only=True):
    status: OutcomeStatus
    note: str = ""
    effective: PartialDate | None = None


class CorrectOutcomeStatus(_OutcomeCommand, frozen=True, kw_only=True):
    """The only way out of a final status: the record was wrong, not the world."""

    status: OutcomeStatus
    reason: str


class AssessCompliance(_OutcomeCommand, frozen=True, kw_only=True):
    assessment: Assessment


class CorrectCompliance(_OutcomeCommand, frozen=True, kw_only=True):
    assessment: Assessment
    reason: str


# ---------------------------------------------------------------- visits


class _VisitCommand(_Command, frozen=True, kw_only=True):
    visit_id: uuid.UUID


class PlanVisit(_VisitCommand, frozen=True, kw_only=True):
    plan: VisitPlan


class LogVisit(_VisitCommand, frozen=True, kw_only=True):
    plan: VisitPlan
    dates: PartialDate


class ConfirmVisitDates(_VisitCommand, frozen=True, kw_only=True):
    dates: PartialDate


class CompleteVisit(_VisitCommand, frozen=True, kw_only=True):
    """Without dates, the confirmed dates are taken as the dates of the visit."""

    dates: PartialDate | None = None
    note: str = ""


class PostponeVisit(_VisitCommand, frozen=True, kw_only=True):
    reason: str
    window: PartialDate | None = None


class CancelVisit(_VisitCommand, frozen=True, kw_only=True):
    reason: str


class CorrectVisit(_VisitCommand, frozen=True, kw_only=True):
    plan: VisitPlan
    dates: PartialDate | None = None
    reason: str


class RetractVisit(_VisitCommand, frozen=True, kw_only=True):
    reason: str


# ---------------------------------------------------------------- relationships


class _RelationshipCommand(_Command, frozen=True, kw_only=True):
    parties: tuple[PartyCode, PartyCode]

    def __post_init__(self) -> None:
        check_parties(self.parties)
        super().__post_init__()


class RecordIndicator(_RelationshipCommand, frozen=True, kw_only=True):
    indicator_id: uuid.UUID
    indicator: Indicator


class CorrectIndicator(_RelationshipCommand, frozen=True, kw_only=True):
    indicator_id: uuid.UUID
    indicator: Indicator
    reason: str


class RetractIndicator(_RelationshipCommand, frozen=True, kw_only=True):
    indicator_id: uuid.UUID
    reason: str


class RecordMilestone(_RelationshipCommand, frozen=True, kw_only=True):
    milestone_id: uuid.UUID
    milestone: Milestone


class CorrectMilestone(_RelationshipCommand, frozen=True, kw_only=True):
    milestone_id: uuid.UUID
    milestone: Milestone
    reason: str


class RetractMilestone(_RelationshipCommand, frozen=True, kw_only=True):
    milestone_id: uuid.UUID
    reason: str


DialogueCommand = (
    LaunchDialogue
    | CorrectDialogue
    | RenameDialogue
    | AppointLead
    | CorrectLead
    | SuspendDialogue
    | ResumeDialogue
    | ConcludeDialogue
    | RetractDialogue
    | ScheduleSession
    | RescheduleSession
    | CorrectSessionPlan
    | PostponeSession
    | CancelSession
    | HoldSession
    | CorrectSessionRecord
    | RetractSession
    | AdoptOutcome
    | CorrectOutcome
    | RetractOutcome
    | RecordProgress
    | CorrectProgress
    | RetractProgress
    | ChangeOutcomeStatus
    | CorrectOutcomeStatus
    | AssessCompliance
    | CorrectCompliance
)
VisitCommand = (
    PlanVisit
    | LogVisit
    | ConfirmVisitDates
    | CompleteVisit
    | PostponeVisit
    | CancelVisit
    | CorrectVisit
    | RetractVisit
)
RelationshipCommand = (
    RecordIndicator
    | CorrectIndicator
    | RetractIndicator
    | RecordMilestone
    | CorrectMilestone
    | RetractMilestone
)
Command = DialogueCommand | VisitCommand | RelationshipCommand

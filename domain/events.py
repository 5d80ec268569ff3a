"""Every change to the register, as an immutable event with a stable tag and schema version.

Tags are spelled out (never taken from a class name) so renaming a class never orphans a
stored event; ``schema_version`` says which shape of the payload the event has today.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import ClassVar

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
from domain.values import PartialDate, PartyCode, Person


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    schema_version: ClassVar[int] = 1

    def happened(self) -> PartialDate | None:
        """When the fact holds in the world; None for changes with no world time."""
        return None


# ---------------------------------------------------------------- dialogue stream


class _DialogueEvent(_Event, frozen=True, kw_only=True):
    dialogue_id: uuid.UUID


class DialogueLaunched(_DialogueEvent, tag="DialogueLaunched", frozen=True, kw_only=True):
    """v2: the charter carries ``cadence_wording`` and ``launched_in``."""

    schema_version: ClassVar[int] = 2
    charter: Charter

    def happened(self) -> PartialDate | None:
        return self.charter.launched_on


class DialogueCorrected(_DialogueEvent, tag="DialogueCorrected", frozen=True, kw_only=True):
    """v2: the charter carries ``cadence_wording`` and ``launched_in``."""

    schema_version: ClassVar[int] = 2
    charter: Charter
    reason: str

    def happened(self) -> PartialDate | None:
        return self.charter.launched_on


class DialogueRenamed(_DialogueEvent, tag="DialogueRenamed", frozen=True, kw_only=True):
    name: str
    acronym: str | None = None
    effective: PartialDate | None = None

    def happened(self) -> PartialDate | None:
        return self.effective


class LeadAppointed(_DialogueEvent, tag="LeadAppointed", frozen=True, kw_only=True):
    lead: Person
    effective: PartialDate | None = None

    def happened(self) -> PartialDate | None:
        return self.effective


class LeadCorrected(_DialogueEvent, tag="LeadCorrected", frozen=True, kw_only=True):
    lead: Person
    reason: str


class DialogueSuspended(_DialogueEvent, tag="DialogueSuspended", frozen=True, kw_only=True):
    reason: str
    effective: PartialDate | None = None

    def happened(self) -> PartialDate | None:
        return self.effective


class DialogueResumed(_DialogueEvent, tag="DialogueResumed", frozen=True, kw_only=True):
    effective: PartialDate | None = None

    def happened(self) -> PartialDate | None:
        return self.effective


class DialogueConcluded(_DialogueEvent, tag="DialogueConcluded", frozen=True, kw_only=True):
    reason: str
    effective: PartialDate | None = None

    def happened(self) -> PartialDate | None:
        return self.effective


class DialogueRetracted(_DialogueEvent, tag="DialogueRetracted", frozen=True, kw_only=True):
    reason: str


class _SessionEvent(_DialogueEvent, frozen=True, kw_only=True):
    session_id: uuid.UUID


class SessionScheduled(_SessionEvent, tag="SessionScheduled", frozen=True, kw_only=True):
    """v2: the plan carries ``agreed_on`` (v1 payloads are upcast with none);
    v3: the plan carries ``level``."""

    schema_version: ClassVar[int] = 3
    plan: SessionPlan

    def happened(self) -> PartialDate | None:
        return self.plan.planned


class SessionRescheduled(_SessionEvent, tag="SessionRescheduled", frozen=True, kw_only=True):
    """v2: the plan carries ``agreed_on`` (v1 payloads are upcast with none);
    v3: the plan carries ``level``."""

    schema_version: ClassVar[int] = 3
    plan: SessionPlan
    reason: str

    def happened(self) -> PartialDate | None:
        return self.plan.planned


class SessionPlanCorrected(_SessionEvent, tag="SessionPlanCorrected", frozen=True, kw_only=True):
    """v2: the plan carries ``agreed_on`` (v1 payloads are upcast with none);
    v3: the plan carries ``level``."""

    schema_version: ClassVar[int] = 3
    plan: SessionPlan
    reason: str

    def happened(self) -> PartialDate | None:
        return self.plan.planned


class SessionPostponed(_SessionEvent, tag="SessionPostponed", frozen=True, kw_only=True):
    reason: str


class SessionCancelled(_SessionEvent, tag="SessionCancelled", frozen=True, kw_only=True):
    reason: str


class SessionHeld(_SessionEvent, tag="SessionHeld", frozen=True, kw_only=True):
    """v2: ``record.held_on`` is a PartialDate (v1 stored a bare ISO day);
    v3: the record carries ``level``."""

    schema_version: ClassVar[int] = 3
    record: SessionRecord

    def happened(self) -> PartialDate | None:
        return self.record.held_on


class SessionRecordCorrected(
    _SessionEvent, tag="SessionRecordCorrected", frozen=True, kw_only=True
):
    """v2: the record carries ``level``."""

    schema_version: ClassVar[int] = 2
    record: SessionRecord
    reason: str

    def happened(self) -> PartialDate | None:
        return self.record.held_on


class SessionRetracted(_SessionEvent, tag="SessionRetracted", frozen=True, kw_only=True):
    reason: str


class _OutcomeEvent(_DialogueEvent, frozen=True, kw_only=True):
    outcome_id: uuid.UUID


class OutcomeAdopted(_OutcomeEvent, tag="OutcomeAdopted", frozen=True, kw_only=True):
    """v2: the terms carry ``framework_dialogues``."""

    schema_version: ClassVar[int] = 2
    session_id: uuid.UUID
    terms: OutcomeTerms
    adopted_on: PartialDate

    def happened(self) -> PartialDate | None:
        return self.adopted_on


class OutcomeCorrected(_OutcomeEvent, tag="OutcomeCorrected", frozen=True, kw_only=True):
    """v2: the terms carry ``framework_dialogues``."""

    schema_version: ClassVar[int] = 2
    terms: OutcomeTerms
    reason: str


class OutcomeRetracted(_OutcomeEvent, tag="OutcomeRetracted", frozen=True, kw_only=True):
    reason: str


class ProgressRecorded(_OutcomeEvent, tag="ProgressRecorded", frozen=True, kw_only=True):
    progress_id: uuid.UUID
    progress: Progress

    def happened(self) -> PartialDate | None:
        return self.progress.on


class ProgressCorrected(_OutcomeEvent, tag="ProgressCorrected", frozen=True, kw_only=True):
    progress_id: uuid.UUID
    progress: Progress
    reason: str

    def happened(self) -> PartialDate | None:
        return self.progress.on


class ProgressRetracted(_OutcomeEvent, tag="ProgressRetracted", frozen=True, kw_only=True):
    progress_id: uuid.UUID
    reason: str


class OutcomeStatusChanged(_OutcomeEvent, tag="OutcomeStatusChanged", frozen=True, kw_only=True):
    status: OutcomeStatus
    note: str = ""
    effective: PartialDate | None = None

    def happened(self) -> PartialDate | None:
        return self.effective


class OutcomeStatusCorrected(
    _OutcomeEvent, tag="OutcomeStatusCorrected", frozen=True, kw_only=True
):
    status: OutcomeStatus
    reason: str


class ComplianceAssessed(_OutcomeEvent, tag="ComplianceAssessed", frozen=True, kw_only=True):
    assessment: Assessment

    def happened(self) -> PartialDate | None:
        return self.assessment.on


class ComplianceCorrected(_OutcomeEvent, tag="ComplianceCorrected", frozen=True, kw_only=True):
    assessment: Assessment
    reason: str

    def happened(self) -> PartialDate | None:
        return self.assessment.on


# ---------------------------------------------------------------- visit stream


class _VisitEvent(_Event, frozen=True, kw_only=True):
    visit_id: uuid.UUID


class VisitPlanned(_VisitEvent, tag="VisitPlanned", frozen=True, kw_only=True):
    """v2: the plan carries ``agreed_on`` (v1 payloads are upcast with none);
    v3: the plan carries ``dialogue_id`` and ``session_id``."""

    schema_version: ClassVar[int] = 3
    plan: VisitPlan

    def happened(self) -> PartialDate | None:
        return self.plan.window


class VisitLogged(_VisitEvent, tag="VisitLogged", frozen=True, kw_only=True):
    """A visit the register learns of only after it took place.

    v2: the plan carries ``agreed_on`` (v1 payloads are upcast with none);
    v3: the plan carries ``dialogue_id`` and ``session_id``.
    """

    schema_version: ClassVar[int] = 3

    plan: VisitPlan
    dates: PartialDate

    def happened(self) -> PartialDate | None:
        return self.dates


class VisitDatesConfirmed(_VisitEvent, tag="VisitDatesConfirmed", frozen=True, kw_only=True):
    dates: PartialDate

    def happened(self) -> PartialDate | None:
        return self.dates


class VisitCompleted(_VisitEvent, tag="VisitCompleted", frozen=True, kw_only=True):
    dates: PartialDate
    note: str = ""

    def happened(self) -> PartialDate | None:
        return self.dates


class VisitPostponed(_VisitEvent, tag="VisitPostponed", frozen=True, kw_only=True):
    reason: str
    window: PartialDate | None = None

    def happened(self) -> PartialDate | None:
        return self.window


class VisitCancelled(_VisitEvent, tag="VisitCancelled", frozen=True, kw_only=True):
    reason: str


class VisitCorrected(_VisitEvent, tag="VisitCorrected", frozen=True, kw_only=True):
    """v2: the plan carries ``agreed_on`` (v1 payloads are upcast with none);
    v3: the plan carries ``dialogue_id`` and ``session_id``."""

    schema_version: ClassVar[int] = 3
    plan: VisitPlan
    dates: PartialDate | None = None
    reason: str

    def happened(self) -> PartialDate | None:
        return self.dates or self.plan.window


class VisitRetracted(_VisitEvent, tag="VisitRetracted", frozen=True, kw_only=True):
    reason: str


# ---------------------------------------------------------------- relationship stream


class _RelationshipEvent(_Event, frozen=True, kw_only=True):
    parties: tuple[PartyCode, PartyCode]


class IndicatorRecorded(_RelationshipEvent, tag="IndicatorRecorded", frozen=True, kw_only=True):
    indicator_id: uuid.UUID
    indicator: Indicator

    def happened(self) -> PartialDate | None:
        return self.indicator.period


class IndicatorCorrected(_RelationshipEvent, tag="IndicatorCorrected", frozen=True, kw_only=True):
    indicator_id: uuid.UUID
    indicator: Indicator
    reason: str

    def happened(self) -> PartialDate | None:
        return self.indicator.period


class IndicatorRetracted(_RelationshipEvent, tag="IndicatorRetracted", frozen=True, kw_only=True):
    indicator_id: uuid.UUID
    reason: str


class MilestoneRecorded(_RelationshipEvent, tag="MilestoneRecorded", frozen=True, kw_only=True):
    milestone_id: uuid.UUID
    milestone: Milestone

    def happened(self) -> PartialDate | None:
        return self.milestone.on


class MilestoneCorrected(_RelationshipEvent, tag="MilestoneCorrected", frozen=True, kw_only=True):
    milestone_id: uuid.UUID
    milestone: Milestone
    reason: str

    def happened(self) -> PartialDate | None:
        return self.milestone.on


class MilestoneRetracted(_RelationshipEvent, tag="MilestoneRetracted", frozen=True, kw_only=True):
    milestone_id: uuid.UUID
    reason: str


DialogueEvent = (
    DialogueLaunched
    | DialogueCorrected
    | DialogueRenamed
    | LeadAppointed
    | LeadCorrected
    | DialogueSuspended
    | DialogueResumed
    | DialogueConcluded
    | DialogueRetracted
    | SessionScheduled
    | SessionRescheduled
    | SessionPlanCorrected
    | SessionPostponed
    | SessionCancelled
    | SessionHeld
    | SessionRecordCorrected
    | SessionRetracted
    | OutcomeAdopted
    | OutcomeCorrected
    | OutcomeRetracted
    | ProgressRecorded
    | ProgressCorrected
    | ProgressRetracted
    | OutcomeStatusChanged
    | OutcomeStatusCorrected
    | ComplianceAssessed
    | ComplianceCorrected
)
VisitEvent = (
    VisitPlanned
    | VisitLogged
    | VisitDatesConfirmed
    | VisitCompleted
    | VisitPostponed
    | VisitCancelled
    | VisitCorrected
    | VisitRetracted
)
RelationshipEvent = (
    IndicatorRecorded
    | IndicatorCorrected
    | IndicatorRetracted
    | MilestoneRecorded
    | MilestoneCorrected
    | MilestoneRetracted
)
Event = DialogueEvent | VisitEvent | RelationshipEvent

EVENT_TYPES: dict[str, type[_Event]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (*DialogueEvent.__args__, *VisitEvent.__args__, *RelationshipEvent.__args__)
}


def valid_time(event: Event) -> tuple[dt.date | None, dt.date | None]:
    """The half-open interval [from, to) in which the event's fact holds in the world."""
    when = event.happened()
    return (None, None) if when is None else (when.start, when.end)

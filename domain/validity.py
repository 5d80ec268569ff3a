"""Valid time that corrections cannot undo: "as valid at V, as known at R".

The events known at R are read as *facts*, each with its own valid interval: a session's
plan (from the day it was agreed or announced), its record (from the day it was held), an
outcome (from its session's held day), each status change, assessment, progress note,
lead, indicator and milestone (from its own date). A correction belongs to the fact it
corrects and replaces its value *and its date* for every V; a retraction belongs to the
fact it retracts, so a retracted fact is never in force at any V. ``in_force`` keeps the
events of the facts in force at V, in recorded order, and the aggregate's own ``evolve``
folds them: the rules of evolution live once, in the deciders.

Why facts and not events: filtering events by their own dates brings back a corrected-away
value (a session recorded on the 18th and corrected to the 19th would show held on the
18th at V = the 18th). Here the held fact's date is the corrected one, so at the 18th the
session shows its plan (scheduled) and at the 19th the corrected record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from msgspec.structs import replace

from domain import events as e
from domain.values import PartialDate

FactKey = tuple[Hashable, ...]
ROOT: FactKey = ("root",)


@dataclass
class _Fact:
    """One fact's final (corrected) start of valid time and the fact it depends on."""

    start: dt.date | None
    parent: FactKey | None


def _start(when: PartialDate | None) -> dt.date | None:
    return None if when is None else when.start


@dataclass
class _Reading:
    """Pass one: which fact each event belongs to, and each fact's corrected start."""

    facts: dict[FactKey, _Fact] = field(default_factory=dict)
    owners: list[FactKey] = field(default_factory=list)
    current: dict[Hashable, FactKey] = field(default_factory=dict)
    sessions: dict[Hashable, list[FactKey]] = field(default_factory=dict)

    def new(self, key: FactKey, when: PartialDate | None, parent: FactKey | None) -> None:
        self.facts[key] = _Fact(_start(when), parent)
        self.owners.append(key)

    def belongs(self, key: FactKey, when: PartialDate | None = None, *, dated: bool) -> None:
        """A correction (dated: it restates the fact's date) or a change to a fact."""
        fact = self.facts.setdefault(key, _Fact(None, ROOT))
        if dated:
            fact.start = _start(when)
        self.owners.append(key)


def _read(events: Sequence[e.Event]) -> _Reading:
    r = _Reading()
    if any(isinstance(ev, e.VisitLogged) for ev in events):
        r.current["logged"] = ROOT
    for i, ev in enumerate(events):
        _read_one(r, i, ev)
    return r


def _read_one(r: _Reading, i: int, ev: e.Event) -> None:
    match ev:
        case e.DialogueLaunched():
            r.new(ROOT, ev.charter.launched_on, None)
        case e.VisitPlanned():
            r.new(ROOT, ev.plan.agreed_on, None)
        case e.VisitLogged():
            r.new(ROOT, ev.dates, None)
        case e.DialogueCorrected():
            r.belongs(ROOT, ev.charter.launched_on, dated=True)
        case e.DialogueRetracted() | e.VisitRetracted():
            r.belongs(ROOT, dated=False)
        case e.DialogueRenamed() | e.DialogueSuspended() | e.DialogueResumed():
            r.new(("change", i), ev.effective, ROOT)
        case e.DialogueConcluded():
            r.new(("change", i), ev.effective, ROOT)
        case e.LeadAppointed():
            r.current[("lead", ev.lead.party)] = ("lead", i)
            r.new(("lead", i), ev.effective, ROOT)
        case e.LeadCorrected():
            r.belongs(r.current.get(("lead", ev.lead.party), ROOT), dated=False)
        case e.SessionScheduled() | e.SessionRescheduled():
            r.current[("plan", ev.session_id)] = ("plan", i)
            r.sessions.setdefault(ev.session_id, []).append(("plan", i))
            r.new(("plan", i), ev.plan.agreed_on, ROOT)
        case e.SessionPlanCorrected():
            r.belongs(r.current[("plan", ev.session_id)], ev.plan.agreed_on, dated=True)
        case e.SessionPostponed() | e.SessionCancelled():
            r.belongs(r.current[("plan", ev.session_id)], dated=False)
        case e.SessionHeld():
            r.sessions.setdefault(ev.session_id, []).append(("record", ev.session_id))
            r.new(("record", ev.session_id), ev.record.held_on, ROOT)
        case e.SessionRecordCorrected():
            r.belongs(("record", ev.session_id), ev.record.held_on, dated=True)
        case e.SessionRetracted():
            # in force wherever any fact of the session is: a retracted session never shows
            r.owners.append(("session", ev.session_id))
        case e.OutcomeAdopted():
            r.new(("outcome", ev.outcome_id), None, ("record", ev.session_id))
        case e.OutcomeCorrected() | e.OutcomeRetracted():
            r.belongs(("outcome", ev.outcome_id), dated=False)
        case e.ProgressRecorded():
            r.new(("progress", ev.progress_id), ev.progress.on, ("outcome", ev.outcome_id))
        case e.ProgressCorrected():
            r.belongs(("progress", ev.progress_id), ev.progress.on, dated=True)
        case e.ProgressRetracted():
            r.belongs(("progress", ev.progress_id), dated=False)
        case e.OutcomeStatusChanged():
            r.current[("status", ev.outcome_id)] = ("status", i)
            r.new(("status", i), ev.effective, ("outcome", ev.outcome_id))
        case e.OutcomeStatusCorrected():
            owner = r.current.get(("status", ev.outcome_id), ("outcome", ev.outcome_id))
            r.belongs(owner, dated=False)
        case e.ComplianceAssessed():
            r.current[("assessment", ev.outcome_id, ev.assessment.party)] = ("assessment", i)
            r.new(("assessment", i), ev.assessment.on, ("outcome", ev.outcome_id))
        case e.ComplianceCorrected():
            owner = r.current[("assessment", ev.outcome_id, ev.assessment.party)]
            r.belongs(owner, ev.assessment.on, dated=True)
        case e.VisitCompleted():
            r.new(("completed",), ev.dates, ROOT)
        case e.VisitCorrected():
            # the plan part corrects the visit; the dates correct its completion, if any
            r.belongs(ROOT, ev.dates if _logged(r) else ev.plan.agreed_on, dated=True)
            if ("completed",) in r.facts and ev.dates is not None:
                r.facts[("completed",)].start = ev.dates.start
                r.current[("corrects completion", i)] = ROOT
        case e.VisitDatesConfirmed() | e.VisitPostponed() | e.VisitCancelled():
            r.new(("change", i), None, ROOT)
        case e.IndicatorRecorded():  # a pair's facts stand alone: a relationship has no root
            r.new(("indicator", ev.indicator_id), ev.indicator.period, None)
        case e.IndicatorCorrected():
            r.belongs(("indicator", ev.indicator_id), ev.indicator.period, dated=True)
        case e.MilestoneRecorded():
            r.new(("milestone", ev.milestone_id), ev.milestone.on, None)
        case e.MilestoneCorrected():
            r.belongs(("milestone", ev.milestone_id), ev.milestone.on, dated=True)
        case e.IndicatorRetracted():
            r.belongs(("indicator", ev.indicator_id), dated=False)
        case e.MilestoneRetracted():
            r.belongs(("milestone", ev.milestone_id), dated=False)
        case _:  # pragma: no cover - every event type is listed above
            raise TypeError(f"no valid-time rule for {type(ev).__name__}")


def _logged(r: _Reading) -> bool:
    """A logged visit's valid time starts with its dates: it was never planned on record."""
    return r.current.get("logged") is not None


def in_force(events: Sequence[Any], valid_at: dt.date) -> list[Any]:
    """The events of the facts in force at ``valid_at``, as corrected by everything known.

    A fact is in force when its (corrected) start is unknown or on or before ``valid_at``
    and the fact it depends on is in force; retracted facts carry their retraction with
    them, so they never come back.
    """
    r = _read(events)
    memo: dict[FactKey, bool] = {}

    def holds(key: FactKey | None) -> bool:
        if key is None:
            return True
        if key not in memo and key[0] == "session":
            memo[key] = any(holds(fact) for fact in r.sessions.get(key[1], ()))
        if key not in memo:
            fact = r.facts.get(key)
            memo[key] = fact is not None and (
                (fact.start is None or fact.start <= valid_at) and holds(fact.parent)
            )
        return memo[key]

    kept: list[Any] = []
    for i, (ev, owner) in enumerate(zip(events, r.owners, strict=True)):
        if not holds(owner):
            continue
        if ("corrects completion", i) in r.current and not holds(("completed",)):
            ev = replace(ev, dates=_confirmed_before(kept))
        kept.append(ev)
    return kept


def _confirmed_before(kept: Sequence[e.Event]) -> PartialDate | None:
    """A visit not yet completed at V shows the dates it had been confirmed for, if any."""
    for ev in reversed(kept):
        if isinstance(ev, e.VisitDatesConfirmed):
            return ev.dates
    return None

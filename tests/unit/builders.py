"""Small factories for test commands, so each test says only what matters to it."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from domain import commands as c
from domain.facts import (
    Assessment,
    Charter,
    Indicator,
    Milestone,
    OutcomeTerms,
    Pledge,
    Progress,
    SessionPlan,
    SessionRecord,
    VisitPlan,
)
from domain.values import PartialDate, Person, Place

D = uuid.UUID("00000000-0000-0000-0000-0000000000d1")
S = uuid.UUID("00000000-0000-0000-0000-0000000000a1")
O = uuid.UUID("00000000-0000-0000-0000-0000000000b1")  # noqa: E741
P = uuid.UUID("00000000-0000-0000-0000-0000000000c1")
V = uuid.UUID("00000000-0000-0000-0000-0000000000e1")
I = uuid.UUID("00000000-0000-0000-0000-0000000000f1")  # noqa: E741

DAY = PartialDate.parse("2021-12-15")
KZ_HEAD = Person(name="A", title="Deputy Minister", organization="MFA", party="KZ")
US_HEAD = Person(name="B", title="Assistant Secretary", organization="DoS", party="US")
UZ_HEAD = Person(name="C", title="Minister", organization="MFA", party="UZ")
NUR_SULTAN = Place(city="Nur-Sultan", country="KZ")


def charter(parties: tuple[str, ...] = ("KZ", "US"), **kw: object) -> Charter:
    fmt = "bilateral" if len(parties) == 2 else "multilateral"
    name = kw.pop("name", "ESPD")
    return Charter(name=name, format=kw.pop("format", fmt), parties=parties, **kw)  # type: ignore[arg-type]


def launch(**kw: Any) -> c.LaunchDialogue:
    return c.LaunchDialogue(dialogue_id=D, charter=charter(**kw))


def plan(when: str = "2022", host: str | None = "US") -> SessionPlan:
    return SessionPlan(planned=PartialDate.parse(when), host=host)


def schedule(session_id: uuid.UUID = S, when: str = "2022") -> c.ScheduleSession:
    return c.ScheduleSession(dialogue_id=D, session_id=session_id, plan=plan(when))


def record(
    heads: tuple[Person, ...] = (KZ_HEAD, US_HEAD), when: str = "2021-12-15"
) -> SessionRecord:
    return SessionRecord(held_on=PartialDate.parse(when), place=NUR_SULTAN, heads=heads)


def hold(session_id: uuid.UUID = S, **kw: object) -> c.HoldSession:
    return c.HoldSession(dialogue_id=D, session_id=session_id, record=record(**kw))  # type: ignore[arg-type]


def terms(text: str = "Meet again", target: str | None = "2022", **kw: object) -> OutcomeTerms:
    window = PartialDate.parse(target) if target else None
    return OutcomeTerms(kind="commitment", text=text, responsible=("KZ", "US"), target=window, **kw)  # type: ignore[arg-type]


def adopt(outcome_id: uuid.UUID = O, session_id: uuid.UUID = S, **kw: object) -> c.AdoptOutcome:
    return c.AdoptOutcome(
        dialogue_id=D,
        session_id=session_id,
        outcome_id=outcome_id,
        terms=terms(**kw),  # type: ignore[arg-type]
    )


def pledge(amount: str = "1000000", currency: str = "USD", by: str | None = "US") -> Pledge:
    return Pledge(amount=Decimal(amount), currency=currency, programme="Green Central Asia", by=by)


def progress(note: str = "Dates agreed", on: str | None = "2022-03") -> Progress:
    return Progress(note=note, on=PartialDate.parse(on) if on else None)


def assessment(party: str = "KZ", score: int = 1) -> Assessment:
    return Assessment(party=party, score=score, rationale="Held", assessor="G20 RG")  # type: ignore[arg-type]


def visit_plan(visitor: Person = KZ_HEAD, host: str = "US") -> VisitPlan:
    return VisitPlan(
        visitor=visitor,
        host=host,
        destination=Place(city="Washington, D.C.", country="US"),
        window=PartialDate.parse("first half of 2022"),
        purpose="Talks",
    )


def indicator(value: int = 2) -> Indicator:
    return Indicator(name="trade", period=PartialDate.parse("2019"), value=value, unit="USD bn")  # type: ignore[arg-type]


def milestone(text: str = "Recognition") -> Milestone:
    return Milestone(kind="recognition", on=PartialDate.parse("1991-12-25"), description=text)

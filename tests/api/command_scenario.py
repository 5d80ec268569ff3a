"""Every command route and a scenario that drives each of them once, over HTTP.

Paths come from the app's own route handlers (by command name), so a route renamed in
api/ is followed here and a command without a route fails `path_for` loudly.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler

from domain import commands as c
from domain.facts import Charter
from domain.streams import stream_id_for
from domain.values import PartialDate, Person
from store.records import Cursor
from tests.unit import builders as b

NS = uuid.UUID("0e5f3f9c-6b0a-4c8e-9a51-2d6f1c3b7a10")


def ids(prefix: str) -> dict[str, uuid.UUID]:
    """A fresh set of ids under `prefix`, so each test (or module) owns its streams."""
    names = ["d", "d2", "s1", "s2", "s3", "o1", "o2", "p1", "v1", "v2", "v3", "i1", "m1"]
    return {n: uuid.uuid5(NS, f"{prefix}/{n}") for n in names}


def command_paths(app: Litestar) -> dict[str, str]:
    """Command name → path template, from the app's POST routes that carry a command."""
    found: dict[str, str] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler) and handler.opt.get("permission") == "write":
                found[handler.name or ""] = route.path
    return found


_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def path_for(app: Litestar, command: Any) -> str:
    """The URL a command is POSTed to, with its own ids filled in."""
    template = command_paths(app)[type(command).__name__]
    body = msgspec.to_builtins(command)

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "pair":
            return "-".join(body["parties"])
        return str(body[name])

    return _PARAM.sub(fill, template)


def body_of(command: Any) -> Any:
    """The JSON body of a command."""
    return msgspec.to_builtins(command)


def needs_if_match(command: Any) -> bool:
    """Corrections and retractions require If-Match (see api/commanding.py)."""
    name = type(command).__name__
    return name.startswith(("Correct", "Retract"))


def scenario(prefix: str) -> list[Any]:
    """Every command kind, in an order the domain accepts, on streams of `prefix`'s own."""
    i = ids(prefix)
    d, d2 = i["d"], i["d2"]
    s1, s2, s3 = i["s1"], i["s2"], i["s3"]
    o1, o2, p1 = i["o1"], i["o2"], i["p1"]
    kz_other = Person(name="Z", title="Minister", organization="MFA", party="KZ")
    charter = b.charter()
    record = b.record()
    pair = ("KZ", "US")
    return [
        c.LaunchDialogue(dialogue_id=d, charter=charter),
        c.RenameDialogue(dialogue_id=d, name="ESPD renamed", acronym="ESPD2"),
        c.AppointLead(dialogue_id=d, lead=b.KZ_HEAD),
        c.CorrectLead(dialogue_id=d, lead=kz_other, reason="wrong person"),
        c.CorrectDialogue(
            dialogue_id=d,
            charter=Charter(
                name="ESPD renamed", format="bilateral", parties=pair, cadence="annual"
            ),
            reason="cadence was missing",
        ),
        c.ScheduleSession(dialogue_id=d, session_id=s1, plan=b.plan("2022")),
        c.RescheduleSession(dialogue_id=d, session_id=s1, plan=b.plan("2023"), reason="moved"),
        c.CorrectSessionPlan(dialogue_id=d, session_id=s1, plan=b.plan("2024"), reason="typo"),
        c.PostponeSession(dialogue_id=d, session_id=s1, reason="weather"),
        c.HoldSession(dialogue_id=d, session_id=s1, record=record),
        c.CorrectSessionRecord(
            dialogue_id=d,
            session_id=s1,
            record=b.record(when="2021-12-16"),
            reason="wrong day",
        ),
        c.ScheduleSession(dialogue_id=d, session_id=s2, plan=b.plan("2025")),
        c.CancelSession(dialogue_id=d, session_id=s2, reason="called off"),
        c.ScheduleSession(dialogue_id=d, session_id=s3, plan=b.plan("2026")),
        c.RetractSession(dialogue_id=d, session_id=s3, reason="never planned"),
        c.AdoptOutcome(dialogue_id=d, session_id=s1, outcome_id=o1, terms=b.terms()),
        c.CorrectOutcome(
            dialogue_id=d,
            outcome_id=o1,
            terms=b.terms("Meet again soon", pledges=(b.pledge(),)),
            reason="wording",
        ),
        c.RecordProgress(dialogue_id=d, outcome_id=o1, progress_id=p1, progress=b.progress()),
        c.CorrectProgress(
            dialogue_id=d,
            outcome_id=o1,
            progress_id=p1,
            progress=b.progress("Dates fixed"),
            reason="wording",
        ),
        c.RetractProgress(dialogue_id=d, outcome_id=o1, progress_id=p1, reason="duplicate"),
        c.ChangeOutcomeStatus(dialogue_id=d, outcome_id=o1, status="in progress"),
        c.CorrectOutcomeStatus(dialogue_id=d, outcome_id=o1, status="fulfilled", reason="done"),
        c.AssessCompliance(dialogue_id=d, outcome_id=o1, assessment=b.assessment("KZ", 1)),
        c.CorrectCompliance(
            dialogue_id=d, outcome_id=o1, assessment=b.assessment("KZ", 0), reason="rescored"
        ),
        c.AdoptOutcome(dialogue_id=d, session_id=s1, outcome_id=o2, terms=b.terms("Other")),
        c.RetractOutcome(dialogue_id=d, outcome_id=o2, reason="not adopted"),
        c.SuspendDialogue(dialogue_id=d, reason="pause"),
        c.ResumeDialogue(dialogue_id=d),
        c.ConcludeDialogue(dialogue_id=d, reason="done"),
        c.LaunchDialogue(dialogue_id=d2, charter=charter),
        c.RetractDialogue(dialogue_id=d2, reason="recorded in error"),
        c.PlanVisit(visit_id=i["v1"], plan=b.visit_plan()),
        c.ConfirmVisitDates(visit_id=i["v1"], dates=PartialDate.parse("2022-05")),
        c.PostponeVisit(visit_id=i["v1"], reason="schedule"),
        c.CorrectVisit(
            visit_id=i["v1"], plan=b.visit_plan(visitor=kz_other), reason="other visitor"
        ),
        c.CompleteVisit(visit_id=i["v1"], dates=PartialDate.parse("2022-06")),
        c.PlanVisit(visit_id=i["v2"], plan=b.visit_plan()),
        c.CancelVisit(visit_id=i["v2"], reason="called off"),
        c.LogVisit(visit_id=i["v3"], plan=b.visit_plan(), dates=PartialDate.parse("2021-03")),
        c.RetractVisit(visit_id=i["v3"], reason="never happened"),
        c.RecordIndicator(parties=pair, indicator_id=i["i1"], indicator=b.indicator(2)),
        c.CorrectIndicator(
            parties=pair, indicator_id=i["i1"], indicator=b.indicator(3), reason="revised"
        ),
        c.RetractIndicator(parties=pair, indicator_id=i["i1"], reason="unsourced"),
        c.RecordMilestone(parties=pair, milestone_id=i["m1"], milestone=b.milestone()),
        c.CorrectMilestone(
            parties=pair, milestone_id=i["m1"], milestone=b.milestone("Recognised"), reason="x"
        ),
        c.RetractMilestone(parties=pair, milestone_id=i["m1"], reason="duplicate"),
    ]


async def event_count(pool: Any) -> int:
    """Rows in the event log."""
    return int(await pool.fetchval("SELECT count(*) FROM event_store.events"))


async def last_position(pool: Any) -> str:
    """The position token of the log's last event, for `after_position`: a read that sends
    it waits until the read models have applied everything written so far."""
    row = await pool.fetchrow(
        "SELECT transaction_id::text::bigint AS transaction_id, position"
        " FROM event_store.events ORDER BY transaction_id DESC, position DESC LIMIT 1"
    )
    return Cursor(row["transaction_id"], row["position"]).encode()


class Driver:
    """Posts commands as one key, remembering each stream's version for If-Match."""

    def __init__(self, client: Any, token: str, app: Litestar | None = None) -> None:
        self.client = client
        self.app: Litestar = app or client.app
        self.token = token
        self.versions: dict[str, int] = {}

    async def send(self, command: Any, **headers: str) -> Any:
        stream = stream_id_for(command)
        sent = {"Authorization": f"Bearer {self.token}", **headers}
        if needs_if_match(command) and "If-Match" not in headers:
            sent["If-Match"] = f'"{self.versions.get(stream, 0)}"'
        response = await self.client.post(
            path_for(self.app, command), json=body_of(command), headers=sent
        )
        if response.status_code < 300:
            self.versions[stream] = response.json()["version"]
        return response

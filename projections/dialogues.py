"""Dialogues, their sessions, outcomes and outcome progress, as reporting tables.

Rows are derived from the Dialogue state that the domain's own evolve produces; after a
batch, each touched dialogue's rows are written afresh (upsert the dialogue, replace its
sessions, outcomes and progress), so corrections and retractions need no special cases.
Every row describes its entity as it stands after the stream's latest event, never an
earlier event, so the state after the batch is the right one whatever the batches were.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import dialogue
from domain.facts import is_final
from domain.streams import DIALOGUE
from projections.projection import delete_rows, insert_rows, window
from projections.states import StreamStates
from projections.tables import dialogues, outcome_progress, outcomes, sessions
from store.records import RecordedEvent


def dialogue_row(state: dialogue.Dialogue) -> dict[str, Any]:
    """The dialogue's one row: identity, status, leads and counts for reporting."""
    charter = state.charter
    assert charter is not None and state.dialogue_id is not None
    held = [s for s in state.sessions.values() if s.status == "held" and s.record]
    ahead = [s for s in state.sessions.values() if dialogue.is_upcoming(s.status)]
    return {
        "dialogue_id": state.dialogue_id,
        "name": charter.name,
        "acronym": charter.acronym,
        "format": charter.format,
        "parties": list(charter.parties),
        "cadence": charter.cadence,
        "status": state.status,
        "leads": state.leads,
        "sessions_planned": len(ahead),
        "sessions_held": len(held),
        "outcomes_adopted": sum(not o.retracted for o in state.outcomes.values()),
        "last_session_from": max((s.record.held_on.start for s in held if s.record), default=None),
        "next_session_from": min((s.plan.planned.start for s in ahead if s.plan), default=None),
        "launched_by_outcome_id": charter.launched_by.outcome_id if charter.launched_by else None,
    }


def session_rows(state: dialogue.Dialogue) -> list[dict[str, Any]]:
    """One row per session that is not retracted."""
    rows = []
    for session in state.sessions.values():
        plan, record = session.plan, session.record
        place = record.place if record else plan.place if plan else None
        rows.append(
            {
                "session_id": session.session_id,
                "dialogue_id": state.dialogue_id,
                "status": session.status,
                "is_upcoming": dialogue.is_upcoming(session.status),
                **window("planned", plan.planned if plan else None),
                **window("held", record.held_on if record else None),
                "place_city": place.city if place else None,
                "place_country": place.country if place else None,
                "host": plan.host if plan else None,
                "format": plan.format if plan else None,
                "heads": record.heads if record else [],
                "members": record.members if record else [],
                "topics": list(record.topics) if record else [],
                "statements": record.statements if record else [],
                "summary": record.summary if record else None,
                "sources": record.sources if record else [],
                "level": dialogue.level_of(session),
                "first_at_level": session.first_at_level,
            }
        )
    return rows


def outcome_rows(state: dialogue.Dialogue) -> list[dict[str, Any]]:
    """One row per outcome, with its latest progress and compliance by party."""
    rows = []
    for outcome in state.outcomes.values():
        progress = list(outcome.progress.values())
        latest = max(
            reversed(progress), key=lambda p: p.on.start if p.on else dt.date.min, default=None
        )
        terms = outcome.terms
        rows.append(
            {
                "outcome_id": outcome.outcome_id,
                "dialogue_id": state.dialogue_id,
                "session_id": outcome.session_id,
                "kind": terms.kind,
                "text": terms.text,
                "responsible": list(terms.responsible),
                **window("target", terms.target),
                **window("adopted", outcome.adopted_on),
                "status": "retracted" if outcome.retracted else outcome.status,
                "latest_progress": latest.note if latest else None,
                "latest_progress_from": latest.on.start if latest and latest.on else None,
                "progress_count": len(progress),
                "compliance": outcome.compliance,
                "leads_to": terms.leads_to,
                # a framework named or a dialogue of the register (by id): ?framework= finds both
                "frameworks": [*terms.frameworks, *map(str, terms.framework_dialogues)],
                "pledges": terms.pledges,
                "is_final": is_final(outcome.status),
            }
        )
    return rows


def progress_rows(state: dialogue.Dialogue) -> list[dict[str, Any]]:
    """Every progress note of every outcome."""
    return [
        {
            "progress_id": progress_id,
            "outcome_id": outcome.outcome_id,
            "dialogue_id": state.dialogue_id,
            "note": progress.note,
            **window("on", progress.on),
            "evidence": progress.evidence,
        }
        for outcome in state.outcomes.values()
        for progress_id, progress in outcome.progress.items()
    ]


async def write_dialogues(tx: AsyncConnection, states: list[dialogue.Dialogue]) -> None:
    """Replace everything the read model holds about these dialogues, a statement per table."""
    keys = [state.dialogue_id for state in states]
    for table in (sessions, outcomes, outcome_progress, dialogues):
        await delete_rows(tx, table, "dialogue_id", keys)
    live = [s for s in states if s.charter is not None and s.status != "retracted"]
    for table, rows in (
        (dialogues, [dialogue_row(s) for s in live]),
        (sessions, [r for s in live for r in session_rows(s) if r["status"] != "retracted"]),
        (outcomes, [r for s in live for r in outcome_rows(s) if r["status"] != "retracted"]),
        (outcome_progress, [r for s in live for r in progress_rows(s)]),
    ):
        if rows:
            await insert_rows(tx, table, rows)


class DialogueProjection:
    """dialogues, sessions, outcomes, outcome_progress."""

    name = "dialogues"
    tables: tuple[Table, ...] = (dialogues, sessions, outcomes, outcome_progress)
    stream_prefixes: tuple[str, ...] = (DIALOGUE.prefix,)

    async def apply(
        self, tx: AsyncConnection, batch: Sequence[RecordedEvent], states: StreamStates
    ) -> None:
        """Fold each touched dialogue and rewrite its rows once per batch."""
        changes = await states.fold_batch(tx, batch, {DIALOGUE.prefix: DIALOGUE.decider})
        await write_dialogues(tx, [change.after for change in changes])

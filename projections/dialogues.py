"""Dialogues, their sessions, outcomes and outcome progress, as reporting tables.

Rows are derived from the Dialogue state that the domain's own evolve produces; after a
batch, each touched dialogue's row is written afresh, and of its sessions, outcomes and
progress notes exactly those whose entity differs between the state before the batch and
the state after it (new, changed or gone), so corrections and retractions need no
special cases and a batch costs what it changed, not the dialogue's history. Every row
describes its entity as it stands after the stream's latest event, never an earlier
event, so the state after the batch is the right one whatever the batches were.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import dialogue
from domain.facts import is_final
from domain.streams import DIALOGUE
from projections.projection import delete_keys, delete_rows, insert_rows, window
from projections.states import Change, StreamStates
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


def session_row(dialogue_id: Any, session: dialogue.Session) -> dict[str, Any]:
    """A session's row: its plan, its record once held."""
    plan, record = session.plan, session.record
    place = record.place if record else plan.place if plan else None
    return {
        "session_id": session.session_id,
        "dialogue_id": dialogue_id,
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


def outcome_row(dialogue_id: Any, outcome: dialogue.Outcome) -> dict[str, Any]:
    """An outcome's row, with its latest progress and compliance by party."""
    progress = list(outcome.progress.values())
    latest = max(
        reversed(progress), key=lambda p: p.on.start if p.on else dt.date.min, default=None
    )
    terms = outcome.terms
    return {
        "outcome_id": outcome.outcome_id,
        "dialogue_id": dialogue_id,
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


def progress_row(dialogue_id: Any, key: Key, progress: Any) -> dict[str, Any]:
    """One progress note of an outcome (of every outcome, retracted ones too)."""
    progress_id, outcome_id = key
    return {
        "progress_id": progress_id,
        "outcome_id": outcome_id,
        "dialogue_id": dialogue_id,
        "note": progress.note,
        **window("on", progress.on),
        "evidence": progress.evidence,
    }


Key = tuple[Any, ...]
"""An entity's primary key after dialogue_id, in the table's column order."""


def _sessions(state: dialogue.Dialogue) -> dict[Key, Any]:
    return {(key,): s for key, s in state.sessions.items() if s.status != "retracted"}


def _outcomes(state: dialogue.Dialogue) -> dict[Key, Any]:
    return {(key,): o for key, o in state.outcomes.items() if not o.retracted}


def _progress(state: dialogue.Dialogue) -> dict[Key, Any]:
    """Each note by (note, outcome): the note itself is compared, so an outcome that
    changed elsewhere leaves its unchanged notes alone."""
    return {
        (progress_id, outcome.outcome_id): progress
        for outcome in state.outcomes.values()
        for progress_id, progress in outcome.progress.items()
    }


Rows = Callable[[Any, Key, Any], dict[str, Any]]
ROW_TABLES: tuple[tuple[Table, Callable[[dialogue.Dialogue], dict[Key, Any]], Rows], ...] = (
    (sessions, _sessions, lambda dialogue_id, _, session: session_row(dialogue_id, session)),
    (outcomes, _outcomes, lambda dialogue_id, _, outcome: outcome_row(dialogue_id, outcome)),
    (outcome_progress, _progress, progress_row),
)
"""Each entity table with how a state keys its entities and how one becomes a row."""


def _is_live(state: dialogue.Dialogue) -> bool:
    return state.charter is not None and state.status != "retracted"


def _entity_diff(
    before: dict[Key, Any], after: dict[Key, Any]
) -> tuple[list[Key], list[tuple[Key, Any]]]:
    """The keys whose rows go (gone or changed) and the entities whose rows come (new or
    changed); rows of unchanged entities stay where they are."""
    changed = [
        (key, entity)
        for key, entity in after.items()
        if key not in before or not (before[key] is entity or before[key] == entity)
    ]
    gone = [key for key in before if key not in after]
    return gone + [key for key, _ in changed if key in before], changed


async def write_dialogues(tx: AsyncConnection, changes: Sequence[Change]) -> None:
    """Write what a batch changed in these dialogues, a statement per table and kind.

    Only the rows of entities that changed are replaced, so a progress note costs one
    outcome row and one note row however long the dialogue's history: rewriting every
    row of a touched dialogue made each batch cost the history of the dialogues it
    touched. The rows that stay are those the state before the batch wrote, and a row is
    a function of its entity alone, so the tables are the same as a full rewrite's.
    """
    keys = [change.after.dialogue_id or change.before.dialogue_id for change in changes]
    await delete_rows(tx, dialogues, "dialogue_id", keys)
    live = [change.after for change in changes if _is_live(change.after)]
    await insert_rows(tx, dialogues, [dialogue_row(state) for state in live])
    for table, entities, row in ROW_TABLES:
        await _write_entities(tx, table, changes, entities, row)


async def _write_entities(
    tx: AsyncConnection,
    table: Table,
    changes: Sequence[Change],
    entities: Callable[[dialogue.Dialogue], dict[Key, Any]],
    row: Rows,
) -> None:
    """A dialogue that is no longer live loses all its rows; one that was not live before
    has none in the table (they went when it stopped being live)."""
    whole: list[Any] = []
    gone: list[Key] = []
    rows: list[dict[str, Any]] = []
    for change in changes:
        before, after = change.before, change.after
        if not _is_live(after):
            whole.append(after.dialogue_id or before.dialogue_id)
            continue
        held = entities(before) if _is_live(before) else {}
        removed, added = _entity_diff(held, entities(after))
        gone += [(after.dialogue_id, *key) for key in removed]
        rows += [row(after.dialogue_id, key, entity) for key, entity in added]
    await delete_rows(tx, table, "dialogue_id", whole)
    await delete_keys(tx, table, ["dialogue_id", *_key_columns(table)], gone)
    await insert_rows(tx, table, rows)


def _key_columns(table: Table) -> list[str]:
    """The primary key's columns after dialogue_id, in the order the entity keys spell them."""
    return [c.name for c in table.primary_key.columns if c.name != "dialogue_id"]


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
        await write_dialogues(tx, changes)

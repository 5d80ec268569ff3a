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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import dialogue
from domain.decider import EMPTY
from domain.facts import Progress, SessionRecord, is_final
from domain.streams import DIALOGUE
from projections.projection import (
    dates,
    delete_keys,
    delete_rows,
    insert_records,
    json_text,
    window_columns,
)
from projections.states import Change, StreamStates
from projections.tables import dialogues, outcome_progress, outcomes, sessions
from store.records import RecordedEvent

Row = tuple[Any, ...]
"""A row's values in the order of its table's COLUMNS."""

DIALOGUE_COLUMNS = (
    "dialogue_id",
    "name",
    "acronym",
    "format",
    "parties",
    "cadence",
    "status",
    "leads",
    "sessions_planned",
    "sessions_held",
    "outcomes_adopted",
    "last_session_from",
    "next_session_from",
    "launched_by_outcome_id",
)


def dialogue_row(state: dialogue.Dialogue) -> Row:
    """The dialogue's one row: identity, status, leads and counts for reporting."""
    charter = state.charter
    assert charter is not None and state.dialogue_id is not None
    held = [s for s in state.sessions.values() if s.status == "held" and s.record]
    ahead = [s for s in state.sessions.values() if dialogue.is_upcoming(s.status)]
    return (
        state.dialogue_id,
        charter.name,
        charter.acronym,
        charter.format,
        charter.parties,
        charter.cadence,
        state.status,
        json_text(state.leads),
        len(ahead),
        len(held),
        sum(not o.retracted for o in state.outcomes.values()),
        max((s.record.held_on.start for s in held if s.record), default=None),
        min((s.plan.planned.start for s in ahead if s.plan), default=None),
        charter.launched_by.outcome_id if charter.launched_by else None,
    )


SESSION_COLUMNS = (
    "session_id",
    "dialogue_id",
    "status",
    "is_upcoming",
    "level",
    "first_at_level",
    *window_columns("planned"),
    "host",
    "format",
    *window_columns("held"),
    "heads",
    "members",
    "topics",
    "statements",
    "summary",
    "sources",
    "place_city",
    "place_country",
)


def session_row(dialogue_id: Any, session: dialogue.Session) -> Row:
    """A session's row: its plan, its record once held."""
    plan, record = session.plan, session.record
    place = record.place if record else plan.place if plan else None
    return (
        session.session_id,
        dialogue_id,
        session.status,
        dialogue.is_upcoming(session.status),
        dialogue.level_of(session),
        session.first_at_level,
        *(_NO_PLAN if plan is None else (*dates(plan.planned), plan.host, plan.format)),
        *(_NO_RECORD if record is None else _record_values(record)),
        *((None, None) if place is None else (place.city, place.country)),
    )


_NO_PLAN = (*dates(None), None, None)
_NO_RECORD = (*dates(None), "[]", "[]", (), "[]", None, "[]")


def _record_values(record: SessionRecord) -> Row:
    return (
        *dates(record.held_on),
        json_text(record.heads),
        json_text(record.members),
        record.topics,
        json_text(record.statements),
        record.summary,
        json_text(record.sources),
    )


OUTCOME_COLUMNS = (
    "outcome_id",
    "dialogue_id",
    "session_id",
    "kind",
    "text",
    "responsible",
    *window_columns("target"),
    *window_columns("adopted"),
    "status",
    "latest_progress",
    "latest_progress_from",
    "progress_count",
    "compliance",
    "leads_to",
    "frameworks",
    "pledges",
    "is_final",
)


def outcome_row(dialogue_id: Any, outcome: dialogue.Outcome) -> Row:
    """An outcome's row, with its latest progress and compliance by party."""
    progress = outcome.progress
    latest = _latest(list(progress.values())) if progress else None
    terms = outcome.terms
    return (
        outcome.outcome_id,
        dialogue_id,
        outcome.session_id,
        terms.kind,
        terms.text,
        terms.responsible,
        *dates(terms.target),
        *dates(outcome.adopted_on),
        "retracted" if outcome.retracted else outcome.status,
        latest.note if latest else None,
        latest.on.start if latest and latest.on else None,
        len(progress),
        json_text(outcome.compliance),
        json_text(terms.leads_to),
        # a framework named or a dialogue of the register (by id): ?framework= finds both
        (*terms.frameworks, *map(str, terms.framework_dialogues)),
        json_text(terms.pledges),
        is_final(outcome.status),
    )


def _latest(notes: list[Progress]) -> Progress:
    """The note of the latest date (undated ones first); of equals, the last recorded."""
    if len(notes) == 1:
        return notes[0]
    return max(reversed(notes), key=lambda p: p.on.start if p.on else dt.date.min)


PROGRESS_COLUMNS = (
    "progress_id",
    "outcome_id",
    "dialogue_id",
    "note",
    *window_columns("on"),
    "evidence",
)


def progress_row(dialogue_id: Any, outcome_id: Any, progress_id: Any, progress: Progress) -> Row:
    """One progress note of an outcome (of every outcome, retracted ones too)."""
    return (
        progress_id,
        outcome_id,
        dialogue_id,
        progress.note,
        *dates(progress.on),
        json_text(progress.evidence),
    )


Key = tuple[Any, ...]
"""A row's primary key, dialogue_id first, as `delete_keys` takes it."""


class Rewrite:
    """What a batch does to one table: the dialogues whose rows all go, the keys of the
    rows that go (gone or changed entities), and the rows that come (new or changed)."""

    def __init__(self, table: Table, columns: tuple[str, ...], key: tuple[str, ...]) -> None:
        self.table, self.columns, self.key = table, columns, key
        self.whole: list[Any] = []
        self.gone: list[Key] = []
        self.rows: list[Row] = []

    async def write(self, tx: AsyncConnection) -> None:
        await delete_rows(tx, self.table, "dialogue_id", self.whole)
        await delete_keys(tx, self.table, self.key, self.gone)
        await insert_records(tx, self.table, self.columns, self.rows)


E = TypeVar("E")


def changed(
    before: Mapping[Any, E], after: Mapping[Any, E], kept: Callable[[E], bool]
) -> tuple[list[Any], list[tuple[Any, E]]]:
    """The keys whose rows go (gone or changed) and the entities whose rows come (new or
    changed), between two versions of a state's map; only `kept` entities have rows.

    States are replaced, never changed, and share what did not change: an untouched map
    or entity is the same object in both versions, so most of the comparing is by
    identity, and a key is looked up in the old map only while it has entries.
    """
    if before is after:
        return [], []
    gone: list[Any] = []
    come: list[tuple[Any, E]] = []
    new = 0
    for key, entity in after.items():
        old = before.get(key) if before else None
        if old is entity:
            continue
        if old is None:
            new += 1
            if kept(entity):
                come.append((key, entity))
            continue
        was, now = kept(old), kept(entity)
        if was and now and old == entity:
            continue
        if was:
            gone.append(key)
        if now:
            come.append((key, entity))
    if len(before) + new != len(after):  # some keys left the map
        gone += [key for key, old in before.items() if key not in after and kept(old)]
    return gone, come


def _session_kept(session: dialogue.Session) -> bool:
    return session.status != "retracted"


def _outcome_kept(outcome: dialogue.Outcome) -> bool:
    return not outcome.retracted


def _any(_: object) -> bool:
    return True


def _is_live(state: dialogue.Dialogue) -> bool:
    return state.charter is not None and state.status != "retracted"


def _rewrite(
    change: Change, sessions: Rewrite, outcomes: Rewrite, progress: Rewrite
) -> dialogue.Dialogue | None:
    """Add one dialogue's part to the rewrites; its state when it still has rows."""
    before: dialogue.Dialogue = change.before
    after: dialogue.Dialogue = change.after
    if not _is_live(after):
        if _is_live(before):  # else its rows went when it stopped being live, or never came
            for rewrite in (sessions, outcomes, progress):
                rewrite.whole.append(before.dialogue_id)
        return None
    old = before if _is_live(before) else dialogue.initial_state  # its rows went
    _sessions_changed(old, after, sessions)
    outcomes_diff = changed(old.outcomes, after.outcomes, _any)  # once, for both tables
    _outcomes_changed(old, after, outcomes_diff, outcomes)
    _progress_changed(old, after, outcomes_diff, progress)
    return after


def _sessions_changed(old: dialogue.Dialogue, new: dialogue.Dialogue, rewrite: Rewrite) -> None:
    gone, come = changed(old.sessions, new.sessions, _session_kept)
    rewrite.gone += [(new.dialogue_id, key) for key in gone]
    rewrite.rows += [session_row(new.dialogue_id, session) for _, session in come]


Diff = tuple[list[Any], list[tuple[Any, Any]]]
"""What `changed` returns: the keys whose rows go, the entities whose rows come."""


def _outcomes_changed(
    old: dialogue.Dialogue, new: dialogue.Dialogue, diff: Diff, rewrite: Rewrite
) -> None:
    """`diff` compares every outcome (`_any`); only outcomes not retracted have rows, so
    it is `changed(..., _outcome_kept)` once the retracted are left out on each side."""
    gone, come = diff
    rewrite.gone += [(new.dialogue_id, key) for key in gone if _outcome_kept(old.outcomes[key])]
    rewrite.rows += [outcome_row(new.dialogue_id, o) for _, o in come if _outcome_kept(o)]


def _progress_changed(
    old: dialogue.Dialogue, new: dialogue.Dialogue, diff: Diff, rewrite: Rewrite
) -> None:
    """Notes are compared outcome by outcome: an outcome that is the same object has the
    same notes; retracted outcomes keep theirs."""
    dialogue_id = new.dialogue_id
    gone, come = diff
    for outcome_id in gone:
        if outcome_id not in new.outcomes:
            held = old.outcomes[outcome_id].progress
            rewrite.gone += [(dialogue_id, note, outcome_id) for note in held]
    for outcome_id, outcome in come:
        earlier = old.outcomes.get(outcome_id)
        notes_gone, notes = changed(earlier.progress if earlier else EMPTY, outcome.progress, _any)
        rewrite.gone += [(dialogue_id, note, outcome_id) for note in notes_gone]
        rewrite.rows += [progress_row(dialogue_id, outcome_id, k, p) for k, p in notes]


async def write_dialogues(tx: AsyncConnection, changes: Sequence[Change]) -> None:
    """Write what a batch changed in these dialogues, a statement per table and kind.

    Only the rows of entities that changed are replaced, so a progress note costs one
    outcome row and one note row however long the dialogue's history: rewriting every
    row of a touched dialogue made each batch cost the history of the dialogues it
    touched. The rows that stay are those the state before the batch wrote, and a row is
    a function of its entity alone, so the tables are the same as a full rewrite's.
    A dialogue that is no longer live loses all its rows; one that was not live before
    has none in the table (they went when it stopped being live).
    """
    # only a dialogue live before the batch has a row to replace (see `_rewrite`)
    keys = [change.before.dialogue_id for change in changes if _is_live(change.before)]
    sessions_ = Rewrite(sessions, SESSION_COLUMNS, ("dialogue_id", "session_id"))
    outcomes_ = Rewrite(outcomes, OUTCOME_COLUMNS, ("dialogue_id", "outcome_id"))
    progress_ = Rewrite(
        outcome_progress, PROGRESS_COLUMNS, ("dialogue_id", "progress_id", "outcome_id")
    )
    live = [_rewrite(change, sessions_, outcomes_, progress_) for change in changes]
    await delete_rows(tx, dialogues, "dialogue_id", keys)
    rows = [dialogue_row(state) for state in live if state is not None]
    await insert_records(tx, dialogues, DIALOGUE_COLUMNS, rows)
    for rewrite in (sessions_, outcomes_, progress_):
        await rewrite.write(tx)


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

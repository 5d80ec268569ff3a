"""Report definitions over the read models: commitments, activity, fulfilment, compliance,
frameworks, pledges.

Each is one SQLAlchemy Core query against the declared tables (projections/tables.py),
so a snapshot's schema map applies to it like to any other query. "As of" a date means:
outcomes adopted by that date, judged against their target windows on that date, with
their latest recorded status (the status history itself is in the audit trail,
`GET /dialogues/{id}?valid_at=`). Whether an outcome is still open is the domain's
decision, stored by the projection (`outcomes.is_final`); no report restates it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Numeric,
    Select,
    Text,
    and_,
    any_,
    case,
    cast,
    column,
    distinct,
    extract,
    func,
    literal,
    select,
    text,
    true,
    union,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection

from projections.tables import dialogues, outcomes, sessions, visits

Rows = list[dict[str, Any]]

o, d = outcomes, dialogues
FULFILLED = o.c.status == "fulfilled"
PARTIALLY = o.c.status == "partially fulfilled"
OPEN = ~o.c.is_final
ON_RECORD = o.c.status != "retracted"


def _responsible() -> Any:
    """Each outcome once per responsible party (`p.party`)."""
    return func.unnest(o.c.responsible).table_valued("party").render_derived(name="p")


def _pledges(*columns: tuple[str, Any]) -> Any:
    """An outcome's pledges as rows (`m.amount`, `m.currency` …)."""
    return (
        func.jsonb_to_recordset(o.c.pledges)
        .table_valued(*(column(n, t) for n, t in columns))
        .render_derived(name="m", with_types=True)
    )


def _of_dialogue(dialogue_id: uuid.UUID | None) -> list[ColumnElement[bool]]:
    return [o.c.dialogue_id == dialogue_id] if dialogue_id is not None else []


async def _rows(connection: AsyncConnection, query: Select[Any]) -> Rows:
    return [dict(r._mapping) for r in (await connection.execute(query)).all()]


def _per_party_heading(p: Any) -> tuple[Any, ...]:
    return (o.c.dialogue_id, d.c.name.label("dialogue"), d.c.acronym, p.c.party)


async def commitments_status(
    connection: AsyncConnection,
    as_of: dt.date,
    *,
    dialogue_id: uuid.UUID | None = None,
    party: str | None = None,
) -> Rows:
    """Open, due, overdue and fulfilled commitments per dialogue and responsible party."""
    p = _responsible()
    heading = _per_party_heading(p)
    query = (
        select(
            *heading,
            func.count().label("adopted"),
            func.count().filter(OPEN).label("open"),
            func.count().filter(OPEN, o.c.target_from <= as_of, o.c.target_to > as_of).label("due"),
            func.count().filter(OPEN, o.c.target_to <= as_of).label("overdue"),
            func.count().filter(FULFILLED).label("fulfilled"),
            func.count().filter(PARTIALLY).label("partially_fulfilled"),
        )
        .select_from(o.join(d, d.c.dialogue_id == o.c.dialogue_id).join(p, true()))
        .where(o.c.adopted_from <= as_of, *_of_dialogue(dialogue_id))
        .group_by(*heading)
        .order_by(d.c.name, p.c.party, o.c.dialogue_id)
    )
    if party is not None:
        query = query.where(p.c.party == party)
    return await _rows(connection, query)


def _year(day: Any) -> Any:
    return cast(extract("year", day), Integer)


def _per_year(day: Any, dialogue_id: Any) -> Select[Any]:
    """How many rows per year of `day` and dialogue (a part of the activity report)."""
    year = _year(day)
    return select(year.label("year"), dialogue_id, func.count().label("n")).group_by(
        year, dialogue_id
    )


async def activity_per_year(
    connection: AsyncConnection,
    *,
    year_from: int | None = None,
    year_to: int | None = None,
    dialogue_id: uuid.UUID | None = None,
) -> Rows:
    """Sessions held, outcomes adopted and visits made, per year and dialogue; a visit
    counts toward the dialogue whose outcome led to it."""
    held = (
        _per_year(sessions.c.held_from, sessions.c.dialogue_id)
        .where(sessions.c.status == "held")
        .cte("held")
    )
    adopted = _per_year(o.c.adopted_from, o.c.dialogue_id).cte("adopted")
    made = (
        _per_year(func.coalesce(visits.c.dates_from, visits.c.window_from), o.c.dialogue_id)
        .select_from(visits.outerjoin(o, o.c.outcome_id == visits.c.outcome_id))
        .where(visits.c.status == "completed")
        .cte("made")
    )
    keys = union(*(select(part.c.year, part.c.dialogue_id) for part in (held, adopted, made))).cte(
        "keys"
    )

    def count_of(part: Any) -> Any:
        same_dialogue = part.c.dialogue_id.is_not_distinct_from(keys.c.dialogue_id)
        return and_(part.c.year == keys.c.year, same_dialogue)

    query = (
        select(
            keys.c.year,
            keys.c.dialogue_id,
            d.c.name.label("dialogue"),
            d.c.acronym,
            func.coalesce(held.c.n, 0).label("sessions_held"),
            func.coalesce(adopted.c.n, 0).label("outcomes_adopted"),
            func.coalesce(made.c.n, 0).label("visits_made"),
        )
        .select_from(
            keys.outerjoin(d, d.c.dialogue_id == keys.c.dialogue_id)
            .outerjoin(held, count_of(held))
            .outerjoin(adopted, count_of(adopted))
            .outerjoin(made, count_of(made))
        )
        .order_by(keys.c.year, d.c.name.nulls_last(), keys.c.dialogue_id)
    )
    if year_from is not None:
        query = query.where(keys.c.year >= year_from)
    if year_to is not None:
        query = query.where(keys.c.year <= year_to)
    if dialogue_id is not None:
        query = query.where(keys.c.dialogue_id == dialogue_id)
    return await _rows(connection, query)


async def fulfilment_and_compliance(
    connection: AsyncConnection,
    *,
    dialogue_id: uuid.UUID | None = None,
    party: str | None = None,
) -> Rows:
    """Fulfilment rate and mean compliance score (-1 to +1) per dialogue and party."""
    p = _responsible()
    heading = _per_party_heading(p)
    assessment = o.c.compliance.op("->")(p.c.party)
    score = cast(assessment.op("->>")("score"), Numeric)
    query = (
        select(
            *heading,
            func.count().label("adopted"),
            func.count().filter(FULFILLED).label("fulfilled"),
            func.count().filter(PARTIALLY).label("partially_fulfilled"),
            func.count().filter(o.c.is_final).label("closed"),
            func.round(cast(func.count().filter(FULFILLED), Numeric) / func.count(), 4).label(
                "fulfilment_rate"
            ),
            func.count(assessment).label("assessments"),
            func.round(func.avg(score), 4).label("mean_compliance_score"),
        )
        .select_from(o.join(p, true()).join(d, d.c.dialogue_id == o.c.dialogue_id))
        .where(*_of_dialogue(dialogue_id))
        .group_by(*heading)
        .order_by(d.c.name, p.c.party, o.c.dialogue_id)
    )
    if party is not None:
        query = query.where(p.c.party == party)
    return await _rows(connection, query)


def _responsible_for(party: str | None) -> list[ColumnElement[bool]]:
    return [literal(party) == any_(o.c.responsible)] if party is not None else []


async def frameworks_referred_to(
    connection: AsyncConnection,
    *,
    dialogue_id: uuid.UUID | None = None,
    party: str | None = None,
) -> Rows:
    """The frameworks (C5+1, TIFA …) outcomes refer to, with what was adopted under each.

    A framework is known by the exact name its outcomes give it; `party` keeps outcomes
    that party is responsible for.
    """
    f = func.unnest(o.c.frameworks).table_valued("framework").render_derived(name="f")
    named = (
        select(
            f.c.framework,
            o.c.outcome_id,
            o.c.dialogue_id,
            o.c.responsible,
            o.c.status,
            o.c.is_final,
            o.c.adopted_from,
        )
        .select_from(o.join(f, true()))
        .where(*_of_dialogue(dialogue_id), *_responsible_for(party))
        .cte("named")
    )
    p = func.unnest(named.c.responsible).table_valued("party").render_derived(name="p")
    parties = (
        select(
            named.c.framework,
            func.array_agg(aggregate_order_by(distinct(p.c.party), p.c.party)).label("parties"),
        )
        .select_from(named.join(p, true()))
        .group_by(named.c.framework)
        .cte("framework_parties")
    )
    query = (
        select(
            named.c.framework,
            func.count().label("outcomes"),
            func.count().filter(~named.c.is_final).label("open"),
            func.count().filter(named.c.status == "fulfilled").label("fulfilled"),
            func.count(distinct(named.c.dialogue_id)).label("dialogues"),
            func.coalesce(func.min(parties.c.parties), cast(literal("{}"), ARRAY(Text))).label(
                "parties"
            ),
            func.min(named.c.adopted_from).label("first_adopted"),
            func.max(named.c.adopted_from).label("last_adopted"),
        )
        .select_from(named.outerjoin(parties, parties.c.framework == named.c.framework))
        .group_by(named.c.framework)
        .order_by(named.c.framework)
    )
    return await _rows(connection, query)


async def pledges_totals(
    connection: AsyncConnection,
    *,
    dialogue_id: uuid.UUID | None = None,
    party: str | None = None,
    currency: str | None = None,
) -> Rows:
    """Money pledged in outcomes, totalled by pledging party, currency, programme,
    framework and year of adoption; never summed across currencies.

    An outcome under two frameworks counts under each (as in the frameworks report); a
    pledge by no party (the dialogue as a whole) has party "".
    """
    m = _pledges(("amount", Numeric), ("currency", Text), ("programme", Text), ("by", Text))
    f = func.unnest(o.c.frameworks).table_valued("framework").render_derived(name="f")
    heading = (
        func.coalesce(m.c.by, "").label("party"),
        m.c.currency,
        m.c.programme,
        func.coalesce(f.c.framework, "").label("framework"),
        _year(o.c.adopted_from).label("year"),
    )
    query = (
        select(
            *heading,
            func.count().label("pledges"),
            func.count(distinct(o.c.outcome_id)).label("outcomes"),
            func.sum(m.c.amount).label("total"),
        )
        .select_from(o.join(m, true()).outerjoin(f, true()))
        .where(ON_RECORD, *_of_dialogue(dialogue_id))
        .group_by(text("1, 2, 3, 4, 5"))
        .order_by("year", "party", "currency", "programme", "framework")
    )
    if party is not None:
        query = query.where(m.c.by == party)
    if currency is not None:
        query = query.where(m.c.currency == currency)
    return await _rows(connection, query)


async def commitment_rows(
    connection: AsyncConnection,
    *,
    dialogue_id: uuid.UUID | None = None,
    party: str | None = None,
) -> Rows:
    """One row per outcome on record: where and when adopted, its text, who is responsible,
    the money pledged (to 2 decimals, one currency; "several" when they differ), its target
    window, its current status and the latest assessment per party."""
    pledge = _pledges(("amount", Numeric), ("currency", Text))
    one_currency = func.count(distinct(pledge.c.currency)) == 1
    money = (
        select(
            case((one_currency, func.round(func.sum(pledge.c.amount), 2))).label("amount"),
            case(
                (one_currency, func.min(pledge.c.currency)),
                (func.count() > 1, literal("several")),
            ).label("currency"),
        )
        .select_from(pledge)
        .lateral("money")
    )
    query = (
        select(
            o.c.outcome_id,
            o.c.dialogue_id,
            d.c.name.label("dialogue"),
            o.c.session_id,
            o.c.adopted_from.label("adopted_on"),
            o.c.kind,
            o.c.text,
            o.c.responsible,
            money.c.amount,
            money.c.currency,
            o.c.target_from,
            o.c.target_to,
            o.c.status,
            o.c.is_final,
            o.c.compliance.label("latest_assessments"),
        )
        .select_from(o.join(d, d.c.dialogue_id == o.c.dialogue_id).join(money, true()))
        .where(ON_RECORD, *_of_dialogue(dialogue_id), *_responsible_for(party))
        .order_by(o.c.adopted_from, d.c.name, o.c.outcome_id, o.c.dialogue_id)
    )
    return await _rows(connection, query)

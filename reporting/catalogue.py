"""The catalogue of exportable reports: names, documented parameters, typed columns.

Every report reads the read models through one connection (a snapshot at a position for
exports), so its rows and the position they reflect always go together.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, Numeric, Table, Uuid
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import InvalidValue
from domain.values import currency_code, pair_of, party_code
from projections.tables import (
    dialogues,
    indicators,
    outcomes,
    sessions,
    timeline,
    visits,
)
from reporting import reports
from reporting.disclosure import AUDIT_FIELDS
from reporting.formats import Column, ReportTable
from reporting.listings import Filters, all_rows


class ReportParameters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every parameter a report may take; each report documents which it reads."""

    as_of: dt.date | None = None
    dialogue_id: uuid.UUID | None = None
    party: str | None = None
    pair: str | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    year_from: int | None = None
    year_to: int | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        """Checked and spelled as stored on decode (a bad value is a 400 naming the field)
        before a run is ever queued: it would otherwise fail in the background, attempt
        after attempt, or silently match nothing."""
        if self.party is not None:  # as the read models store it: "kz" would match nothing
            msgspec.structs.force_setattr(self, "party", party_code(self.party.upper()))
        if self.pair is not None:
            first, dash, second = self.pair.upper().partition("-")
            if not dash:
                raise InvalidValue(f"pair is two party codes joined by '-', not {self.pair!r}")
            msgspec.structs.force_setattr(self, "pair", "-".join(pair_of(first, second)))
        if self.currency is not None:  # "USS" is a typo, not money: it would match nothing
            upper = currency_code(self.currency.upper())  # and "usd" is stored as USD
            msgspec.structs.force_setattr(self, "currency", upper)
        for year in (self.year_from, self.year_to):
            if year is not None and not 1 <= year <= 9999:
                raise InvalidValue(f"a year is between 1 and 9999, not {year}")
        in_order(("valid_from", self.valid_from), ("valid_to", self.valid_to))
        in_order(("year_from", self.year_from), ("year_to", self.year_to))


def in_order(low: tuple[str, Any], high: tuple[str, Any]) -> None:
    """A range given backwards is a mistake, not a question whose answer is "nothing"."""
    if low[1] is not None and high[1] is not None and low[1] > high[1]:
        raise InvalidValue(f"{low[0]} ({low[1]}) is after {high[0]} ({high[1]})")


Build = Callable[[AsyncConnection, ReportParameters], Awaitable[ReportTable]]


@dataclass(frozen=True)
class Route:
    """How a report is also answered as JSON rows (api/reports.py makes the GET route):
    its path, its one-line summary and what a reader of the API should know."""

    path: str
    summary: str
    notes: str


@dataclass(frozen=True)
class Report:
    """One entry of the catalogue: its columns are fixed, whatever the rows (the Arrow
    schema of its Parquet file is the same at every position)."""

    name: str
    title: str
    description: str
    parameters: tuple[str, ...]
    build: Build
    columns: tuple[Column, ...]
    reads: tuple[Table, ...]
    """The read-model tables it reads: their projections give an export its position."""
    route: Route | None = None


REPORT_DECIMAL_SCALE = 4
"""The reports round their rates and means to 4 digits (reporting/reports.py)."""
UNBOUNDED_DECIMAL_SCALE = 6
"""A NUMERIC read-model column without a declared scale (an indicator's value) is exported
to Parquet with 6 fractional digits; CSV, NDJSON and XLSX keep every digit."""


def _type_of(column: Any) -> str:
    kind = column.type
    if isinstance(kind, Uuid):
        return "uuid"
    if isinstance(kind, DateTime):
        return "datetime"
    if isinstance(kind, Date):
        return "date"
    if isinstance(kind, Integer | BigInteger):
        return "integer"
    if isinstance(kind, Numeric):
        return "decimal"
    if isinstance(kind, Boolean):
        return "boolean"
    if isinstance(kind, ARRAY):
        return "text_list"
    if isinstance(kind, JSONB):
        return "json"
    return "text"


def _scale_of(column: Any) -> int | None:
    if not isinstance(column.type, Numeric):
        return None
    scale = column.type.scale
    return UNBOUNDED_DECIMAL_SCALE if scale is None else int(scale)


def columns_of(columns: Iterable[Any]) -> tuple[Column, ...]:
    """The typed columns of a table's or a query's selected columns."""
    return tuple(
        Column(name=str(c.name), type=_type_of(c), scale=_scale_of(c))  # type: ignore[arg-type]
        for c in columns
    )


def _columns_of(table: Table) -> tuple[Column, ...]:
    return columns_of(table.columns)


JSON_TYPES: dict[str, Any] = {
    "uuid": uuid.UUID,
    "datetime": dt.datetime,
    "date": dt.date,
    "integer": int,
    "decimal": str,  # exact: JSON carries decimals as strings
    "boolean": bool,
    "text_list": list[str],
    "json": Any,
    "text": str,
}


def row_type(name: str, columns: Sequence[Column]) -> type[msgspec.Struct]:
    """A typed row (every field may be null) for an API schema: what a generated client
    reads instead of a loose mapping. Decimals are strings, exact as JSON carries them."""
    fields = [(c.name, JSON_TYPES[c.type] | None, None) for c in columns]
    return msgspec.defstruct(name, fields, kw_only=True, module=__name__)


def _declared(*columns: tuple[str, str]) -> tuple[Column, ...]:
    return tuple(
        Column(name=n, type=t, scale=REPORT_DECIMAL_SCALE if t == "decimal" else None)  # type: ignore[arg-type]
        for n, t in columns
    )


def _typed(title: str, columns: tuple[Column, ...], rows: list[dict[str, Any]]) -> ReportTable:
    return ReportTable(
        title=title,
        columns=list(columns),
        rows=[tuple(row.get(c.name) for c in columns) for row in rows],
    )


def _filters(p: ReportParameters) -> Filters:
    parties = None
    if p.pair:
        first, _, second = p.pair.upper().partition("-")
        parties = (first, second)
    return Filters(
        party=p.party,
        parties=parties,
        dialogue_id=p.dialogue_id,
        valid_from=p.valid_from,
        valid_to=p.valid_to,
    )


PER_PARTY = (("dialogue_id", "uuid"), ("dialogue", "text"), ("acronym", "text"), ("party", "text"))


COMMITMENTS_COLUMNS = _declared(
    *PER_PARTY,
    ("adopted", "integer"),
    ("open", "integer"),
    ("due", "integer"),
    ("overdue", "integer"),
    ("fulfilled", "integer"),
    ("partially_fulfilled", "integer"),
)

ACTIVITY_COLUMNS = _declared(
    ("year", "integer"),
    ("dialogue_id", "uuid"),
    ("dialogue", "text"),
    ("acronym", "text"),
    ("sessions_held", "integer"),
    ("outcomes_adopted", "integer"),
    ("visits_made", "integer"),
)

FULFILMENT_COLUMNS = _declared(
    *PER_PARTY,
    ("adopted", "integer"),
    ("fulfilled", "integer"),
    ("partially_fulfilled", "integer"),
    ("closed", "integer"),
    ("fulfilment_rate", "decimal"),
    ("assessments", "integer"),
    ("mean_compliance_score", "decimal"),
)

FRAMEWORKS_COLUMNS = _declared(
    ("framework", "text"),
    ("outcomes", "integer"),
    ("open", "integer"),
    ("fulfilled", "integer"),
    ("dialogues", "integer"),
    ("parties", "text_list"),
    ("first_adopted", "date"),
    ("last_adopted", "date"),
)


PLEDGES_COLUMNS = _declared(
    ("party", "text"),
    ("currency", "text"),
    ("programme", "text"),
    ("framework", "text"),
    ("year", "integer"),
    ("pledges", "integer"),
    ("outcomes", "integer"),
    ("total", "decimal"),
)


async def _commitments(c: AsyncConnection, p: ReportParameters) -> ReportTable:
    rows = await reports.commitments_status(
        c, p.as_of or dt.datetime.now(dt.UTC).date(), dialogue_id=p.dialogue_id, party=p.party
    )
    return _typed("Commitments status", COMMITMENTS_COLUMNS, rows)


MONEY_SCALE = 2
"""Pledged amounts are exported to 2 decimals (the commitments report rounds them so)."""

COMMITMENT_ROW_COLUMNS = tuple(
    Column(name=c.name, type=c.type, scale=MONEY_SCALE) if c.name == "amount" else c
    for c in _declared(
        ("outcome_id", "uuid"),
        ("dialogue_id", "uuid"),
        ("dialogue", "text"),
        ("session_id", "uuid"),
        ("adopted_on", "date"),
        ("kind", "text"),
        ("text", "text"),
        ("responsible", "text_list"),
        ("amount", "decimal"),
        ("currency", "text"),
        ("target_from", "date"),
        ("target_to", "date"),
        ("status", "text"),
        ("is_final", "boolean"),
        ("latest_assessments", "json"),
    )
)


async def _commitment_rows(c: AsyncConnection, p: ReportParameters) -> ReportTable:
    rows = await reports.commitment_rows(c, dialogue_id=p.dialogue_id, party=p.party)
    return _typed("Commitments", COMMITMENT_ROW_COLUMNS, rows)


async def _activity(c: AsyncConnection, p: ReportParameters) -> ReportTable:
    rows = await reports.activity_per_year(
        c, year_from=p.year_from, year_to=p.year_to, dialogue_id=p.dialogue_id
    )
    return _typed("Dialogue activity per year", ACTIVITY_COLUMNS, rows)


async def _fulfilment(c: AsyncConnection, p: ReportParameters) -> ReportTable:
    rows = await reports.fulfilment_and_compliance(c, dialogue_id=p.dialogue_id, party=p.party)
    return _typed("Fulfilment and compliance", FULFILMENT_COLUMNS, rows)


async def _frameworks(c: AsyncConnection, p: ReportParameters) -> ReportTable:
    rows = await reports.frameworks_referred_to(c, dialogue_id=p.dialogue_id, party=p.party)
    return _typed("Frameworks", FRAMEWORKS_COLUMNS, rows)


async def _pledges(c: AsyncConnection, p: ReportParameters) -> ReportTable:
    rows = await reports.pledges_totals(
        c, dialogue_id=p.dialogue_id, party=p.party, currency=p.currency
    )
    return _typed("Pledges", PLEDGES_COLUMNS, rows)


def _listing(title: str, name: str, table: Table) -> Build:
    columns = _columns_of(table)

    async def build(c: AsyncConnection, p: ReportParameters) -> ReportTable:
        return _typed(title, columns, await all_rows(c, name, _filters(p)))

    return build


CATALOGUE: dict[str, Report] = {
    r.name: r
    for r in (
        Report(
            "commitments-status",
            "Commitments status",
            "Open, due, overdue and fulfilled outcomes per dialogue and responsible party "
            "as of a date (default: today).",
            ("as_of", "dialogue_id", "party"),
            _commitments,
            COMMITMENTS_COLUMNS,
            (outcomes, dialogues),
            Route(
                "/reports/commitments",
                "Commitments status per dialogue and party, as of a date",
                "Open, due (target window contains as_of), overdue (window ended), fulfilled.",
            ),
        ),
        Report(
            "commitments",
            "Commitments",
            "One row per outcome: dialogue, session, date adopted, text, responsible parties, "
            "money pledged and its currency, target window, current status and the latest "
            "assessment per party.",
            ("dialogue_id", "party"),
            _commitment_rows,
            COMMITMENT_ROW_COLUMNS,
            (outcomes, dialogues),
        ),
        Report(
            "dialogue-activity",
            "Dialogue activity per year",
            "Sessions held, outcomes adopted and visits made per year and dialogue.",
            ("year_from", "year_to", "dialogue_id"),
            _activity,
            ACTIVITY_COLUMNS,
            (sessions, outcomes, visits, dialogues),
            Route(
                "/reports/activity",
                "Sessions held, outcomes adopted, visits made per year",
                "One row per year and dialogue; visits count toward the dialogue whose outcome"
                " led to them.",
            ),
        ),
        Report(
            "fulfilment",
            "Fulfilment and compliance",
            "Fulfilment rate and mean compliance score per dialogue and party.",
            ("dialogue_id", "party"),
            _fulfilment,
            FULFILMENT_COLUMNS,
            (outcomes, dialogues),
            Route(
                "/reports/fulfilment",
                "Fulfilment rate and mean compliance per dialogue and party",
                "Compliance on the G7/G20 Research Group scale, -1 to +1, where assessed.",
            ),
        ),
        Report(
            "frameworks",
            "Frameworks",
            "The frameworks (C5+1, TIFA …) outcomes refer to: outcomes adopted under each, "
            "open and fulfilled, dialogues, responsible parties, first and last adoption.",
            ("dialogue_id", "party"),
            _frameworks,
            FRAMEWORKS_COLUMNS,
            (outcomes,),
            Route(
                "/reports/frameworks",
                "The frameworks outcomes refer to, with what was adopted under each",
                "A framework is known by the exact name its outcomes give it (e.g. `C5+1`).",
            ),
        ),
        Report(
            "pledges",
            "Pledges",
            "Money pledged in outcomes, totalled by pledging party, currency, programme, "
            "framework and year of adoption; never converted between currencies.",
            ("dialogue_id", "party", "currency"),
            _pledges,
            PLEDGES_COLUMNS,
            (outcomes,),
            Route(
                "/reports/pledges",
                "Money pledged in outcomes, by party, currency, programme, framework and year",
                "Totals are per currency (never converted); `total` is a decimal string.",
            ),
        ),
        Report(
            "sessions",
            "Sessions",
            "Every session, planned or held, in date order.",
            ("party", "dialogue_id", "valid_from", "valid_to"),
            _listing("Sessions", "sessions", sessions),
            _columns_of(sessions),
            (sessions, dialogues),
        ),
        Report(
            "outcomes",
            "Outcomes with progress",
            "Every outcome with its status, latest progress and compliance.",
            ("party", "dialogue_id", "valid_from", "valid_to"),
            _listing("Outcomes", "outcomes", outcomes),
            _columns_of(outcomes),
            (outcomes,),
        ),
        Report(
            "visits",
            "Visits",
            "Every visit, planned or made.",
            ("party", "valid_from", "valid_to"),
            _listing("Visits", "visits", visits),
            _columns_of(visits),
            (visits,),
        ),
        Report(
            "indicators",
            "Indicators",
            "Every indicator with its period, value and unit.",
            ("party", "valid_from", "valid_to"),
            _listing("Indicators", "indicators", indicators),
            _columns_of(indicators),
            (indicators,),
        ),
        Report(
            "relationship-timeline",
            "Relationship timeline",
            "Every recorded change between parties, in log order.",
            ("pair", "party", "valid_from", "valid_to"),
            _listing("Relationship timeline", "timeline", timeline),
            tuple(c for c in _columns_of(timeline) if c.name not in AUDIT_FIELDS),
            (timeline,),
        ),
    )
}

"""The read-model listings the API serves, each registered once: its listing (table, sort
key and filters in reporting/listings.py), its path, the filters it takes as query
parameters, its typed columns, and its single-item route if it has one.

api/read_models.py makes the GET routes from this registry, as api/reports.py makes the
report routes from the catalogue; the typed rows describe the answers in the API schema.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, get_args

import msgspec

from domain.dialogue import DialogueStatus, SessionStatus
from domain.facts import OutcomeKind, OutcomeStatus
from domain.visit import VisitStatus
from reporting.catalogue import columns_of, row_type
from reporting.formats import Column
from reporting.listings import LISTINGS, calendar_query


@dataclass(frozen=True)
class Item:
    """The route answering one row of a listing by id: `{path}/{parameter}`."""

    parameter: str
    name: str
    summary: str
    notes: str


@dataclass(frozen=True)
class Served:
    """One listing as an endpoint: `name` names its handler (and so its operation id),
    `filters` the query (or path) parameters it takes, in order."""

    listing: str
    path: str
    name: str
    summary: str
    notes: str
    filters: tuple[str, ...]
    row: str
    item: Item | None = None
    vocabularies: tuple[tuple[str, Any], ...] = ()
    """The filters whose values come from a closed vocabulary, each with its Literal type,
    so that a value outside it is refused rather than answered with an empty page."""

    def vocabulary(self, name: str) -> Any | None:
        """The Literal type `name` takes its values from, if it is a closed vocabulary."""
        return dict(self.vocabularies).get(name)

    @property
    def columns(self) -> tuple[Column, ...]:
        """Every column a row of the listing may carry (audit fields for auditors only)."""
        return columns_of(LISTINGS[self.listing].query.selected_columns)


DATES = ("valid_from", "valid_to")


def shown(vocabulary: Any, *also: str) -> Any:
    """The values of a domain vocabulary a read-model row can carry: `unrecorded` is the
    state before a stream's first event, never a row's; `also` adds the row's own."""
    values = tuple(v for v in get_args(vocabulary) if v != "unrecorded") + also
    return Literal[values]  # type: ignore[valid-type]


SERVED: tuple[Served, ...] = (
    Served(
        "dialogues",
        "/dialogues",
        "list_dialogues",
        "Dialogues (read model)",
        "Sorted by name.",
        ("party", "status", "name"),
        "DialogueRow",
        vocabularies=(("status", shown(DialogueStatus)),),
    ),
    Served(
        "sessions",
        "/sessions",
        "list_sessions",
        "Sessions (read model)",
        "Sorted by the held date, else the planned date.",
        ("party", "status", "dialogue_id", "topic", *DATES),
        "SessionRow",
        Item(
            "session_id",
            "get_session",
            "One session (read model)",
            "404 until the projection has it (use after_position after a write).",
        ),
        vocabularies=(("status", shown(SessionStatus)),),
    ),
    Served(
        "outcomes",
        "/outcomes",
        "list_outcomes",
        "Outcomes (read model)",
        "Sorted by adoption date; `overdue_as_of` = open and past its target window then.",
        (
            "party",
            "status",
            "kind",
            "dialogue_id",
            "framework",
            "due_before",
            "overdue_as_of",
            *DATES,
        ),
        "OutcomeRow",
        Item(
            "outcome_id",
            "get_outcome",
            "One outcome (read model)",
            "With its latest progress and compliance per party.",
        ),
        vocabularies=(
            ("status", shown(OutcomeStatus, "retracted")),
            ("kind", shown(OutcomeKind)),
        ),
    ),
    Served(
        "visits",
        "/visits",
        "list_visits",
        "Visits (read model)",
        "Sorted by planned window.",
        ("party", "status", *DATES),
        "VisitRow",
        vocabularies=(("status", shown(VisitStatus)),),
    ),
    Served(
        "indicators",
        "/indicators",
        "list_indicators",
        "Indicators (read model)",
        "Sorted by period.",
        ("party", "name", *DATES),
        "IndicatorRow",
    ),
    Served(
        "timeline",
        "/relationships/{pair:str}/timeline",
        "get_timeline",
        "A pair's timeline (read model)",
        "One row per recorded change between the two parties, in log order; who made it"
        "\n(`actor`) is shown to auditors only.",
        ("pair", *DATES),
        "TimelineRow",
    ),
)
"""Every paged read-model listing the API serves, in the order of its routes."""


@cache
def page_type(served: Served) -> tuple[type[msgspec.Struct], type[msgspec.Struct]]:
    """The typed row of `served` and its page (`items`, `next_cursor`: null on the last);
    made once, so the listing and its item route share one schema."""
    row = row_type(served.row, served.columns)
    page = msgspec.defstruct(
        served.row.removesuffix("Row") + "Page",
        [("items", list[row]), ("next_cursor", str | None)],  # type: ignore[valid-type]
        kw_only=True,
        module=__name__,
    )
    return row, page


CALENDAR_ENTRY = row_type(
    "CalendarEntry", columns_of(calendar_query(dt.date.min, None, None).selected_columns)
)
"""A calendar entry: a session or a visit, one shape for both."""

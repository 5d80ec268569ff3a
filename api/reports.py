"""Report endpoints over the read models (reader role), one GET route per catalogue
report that has a `Route` (reporting/catalogue.py), made here as commands are made by
`command_route`: the catalogue names the path, parameters and typed columns once."""

from __future__ import annotations

import datetime as dt
import inspect
import uuid
from typing import Annotated, Any

from litestar import get
from litestar.handlers import HTTPRouteHandler
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncEngine

from api.freshness import ReadYourWrites
from api.parameters import FIRST_YEAR, LAST_YEAR, whole
from api.problems import problem_responses
from api.read_models import READS, signed
from reporting.catalogue import CATALOGUE, Report, ReportParameters, Route, row_type

TAG = "reports"
READ = {"permission": "read"}
Year = Annotated[int | None, Parameter(ge=FIRST_YEAR, le=LAST_YEAR)]
Currency = Annotated[
    str | None, Parameter(pattern=whole("^[A-Za-z]{3}$"), description="ISO 4217, any case")
]

QUERY_TYPES: dict[str, Any] = {
    "as_of": dt.date | None,
    "dialogue_id": uuid.UUID | None,
    "party": str | None,
    "year_from": Year,
    "year_to": Year,
    "currency": Currency,
}
"""How each report parameter is read from the query string."""

CHECKED = {"party", "currency", "valid_from", "valid_to", "year_from", "year_to"}
"""Parameters a domain rule may refuse (a 422 invalid-value: an unknown code, a range
given backwards)."""


def _parameters(report: Report) -> list[inspect.Parameter]:
    """The handler's parameters, from which Litestar reads the query parameters."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    return [
        *READS,
        *(
            inspect.Parameter(name, keyword, default=None, annotation=QUERY_TYPES[name])
            for name in report.parameters
        ),
        inspect.Parameter("after_position", keyword, default=None, annotation=str | None),
    ]


def report_route(report: Report, route: Route) -> HTTPRouteHandler:
    """The GET route answering `report`'s rows as JSON, once the read models have reached
    `after_position`."""
    rows = row_type(f"{report.name.title().replace('-', '')}Row", report.columns)
    names = [c.name for c in report.columns]

    async def handler(
        read_engine: AsyncEngine,
        read_your_writes: ReadYourWrites,
        after_position: str | None = None,
        **given: Any,
    ) -> list[dict[str, Any]]:
        parameters = ReportParameters(**given)
        await read_your_writes.read_models(after_position)
        async with read_engine.connect() as connection:
            table = await report.build(connection, parameters)
        return [dict(zip(names, row, strict=True)) for row in table.rows]

    name = route.path.rsplit("/", 1)[-1]
    signed(handler, name, route.notes, _parameters(report), list[rows])  # type: ignore[valid-type]
    problems = (400, 401, 403, *((422,) if CHECKED & set(report.parameters) else ()), 503)
    return get(
        route.path,
        summary=route.summary,
        tags=[TAG],
        opt=READ,
        responses=problem_responses(*problems),
    )(handler)


routes = [report_route(r, r.route) for r in CATALOGUE.values() if r.route is not None]

"""Query endpoints over the reporting read models (reader role), one paged GET route per
listing of reporting/served.py and one per item it names, made here as reports are made
by `report_route`: the registry names each path, filter and typed row once.

Lists are keyset-paginated: pass `next_cursor` back as `cursor`. Date filters (`from`,
`to`) are over valid time. Any query accepts `after_position` for read-your-writes.
"""

from __future__ import annotations

import datetime as dt
import inspect
import uuid
from typing import Annotated, Any, Literal

from litestar import Request, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth import sees_audit_trail
from api.conditional import REVALIDATE
from api.freshness import ReadYourWrites
from api.parameters import text
from api.problems import problem, problem_responses
from api.relationships import parse_pair
from domain.errors import InvalidValue
from domain.values import party_code
from reporting.catalogue import in_order
from reporting.disclosure import disclosed
from reporting.listings import Filters, calendar_rows, get_row, list_rows
from reporting.served import CALENDAR_ENTRY, SERVED, Item, Served, page_type

TAG = "read models"

FromDate = Annotated[dt.date | None, Parameter(query="from", description="valid time ≥")]
ToDate = Annotated[dt.date | None, Parameter(query="to", description="valid time <")]
Limit = Annotated[int, Parameter(ge=1, le=500)]
Order = Literal["asc", "desc"]

FILTER_TYPES: dict[str, Any] = {
    "party": str | None,
    "status": str | None,
    "kind": str | None,
    "topic": str | None,
    "name": str | None,
    "dialogue_id": uuid.UUID | None,
    "framework": Annotated[
        str | None, Parameter(description="a framework the outcome refers to, e.g. C5+1")
    ],
    "due_before": dt.date | None,
    "overdue_as_of": dt.date | None,
    "valid_from": FromDate,
    "valid_to": ToDate,
}
"""How each filter is read from the query string (`pair` is a path parameter)."""

PAGING: tuple[tuple[str, Any, Any], ...] = (
    ("cursor", str | None, None),
    ("limit", Limit, 100),
    ("order", Order, "asc"),
    ("after_position", str | None, None),
)
"""The query parameters every paged listing takes after its filters."""

FREE_TEXT_FILTERS = ("topic", "name", "framework")
READ = {"permission": "read"}
KEYWORD = inspect.Parameter.KEYWORD_ONLY


def party_filter(code: str | None) -> str | None:
    if code is None:
        return None
    try:
        return str(party_code(code.upper()))
    except InvalidValue as error:
        raise problem(422, str(error), kind="invalid-value") from None


def _filters(given: dict[str, Any]) -> Filters:
    """The listing's filters from its parameters, checked and spelled as stored."""
    for name in FREE_TEXT_FILTERS:
        text(given.get(name), name)
    in_order(("from", given.get("valid_from")), ("to", given.get("valid_to")))
    pair = given.pop("pair", None)
    return Filters(
        **{**given, "party": party_filter(given.get("party"))},
        parties=parse_pair(pair) if pair is not None else None,
    )


READS = (
    inspect.Parameter("read_engine", KEYWORD, annotation=AsyncEngine),
    inspect.Parameter("read_your_writes", KEYWORD, annotation=ReadYourWrites),
)
"""The dependencies every generated read handler takes (never documented): the read
database's engine and its read-your-writes check."""
REQUEST = inspect.Parameter(
    "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request[Any, Any, Any]
)
"""The request, whose key says whether audit fields are shown."""


def signed(
    handler: Any, name: str, notes: str, parameters: list[inspect.Parameter], out: Any
) -> Any:
    """Give a generated handler the signature Litestar reads its parameters and response
    schema from, and the name its operation id is made of."""
    signature = inspect.Signature(parameters, return_annotation=out)
    handler.__signature__ = signature
    handler.__annotations__ = {
        **{p.name: p.annotation for p in signature.parameters.values()},
        "return": out,
    }
    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = notes
    return handler


def _filter_parameter(served: Served, name: str) -> inspect.Parameter:
    """How the listing reads filter `name`: a closed vocabulary as its enum, so the
    document lists the values and anything else is refused."""
    if name == "pair":
        return inspect.Parameter(name, KEYWORD, annotation=str)
    vocabulary = served.vocabulary(name)
    annotation = FILTER_TYPES[name] if vocabulary is None else vocabulary | None
    return inspect.Parameter(name, KEYWORD, annotation=annotation, default=None)


def listing_route(served: Served) -> HTTPRouteHandler:
    """The paged GET route of one listing, answering once the read models have reached
    `after_position`."""
    _, page = page_type(served)

    async def handler(
        request: Request[Any, Any, Any],
        read_engine: AsyncEngine,
        read_your_writes: ReadYourWrites,
        cursor: str | None,
        limit: int,
        order: str,
        after_position: str | None,
        **given: Any,
    ) -> dict[str, Any]:
        filters = _filters(given)
        await read_your_writes.read_models(after_position)
        async with read_engine.connect() as connection:
            items, following = await list_rows(
                connection,
                served.listing,
                filters,
                cursor=cursor,
                limit=limit,
                descending=order == "desc",
            )
        audit = sees_audit_trail(request)
        return {"items": [disclosed(i, audit=audit) for i in items], "next_cursor": following}

    parameters = [
        REQUEST,
        *READS,
        *(_filter_parameter(served, name) for name in served.filters),
        *(inspect.Parameter(n, KEYWORD, annotation=a, default=d) for n, a, d in PAGING),
    ]
    return get(
        served.path,
        summary=served.summary,
        tags=[TAG],
        opt=READ,
        responses=problem_responses(400, 401, 403, 422, 503),
    )(signed(handler, served.name, served.notes, parameters, page))


def item_route(served: Served, item: Item) -> HTTPRouteHandler:
    """The GET route of one row of a listing by id; 404 until the projection has it."""
    row, _ = page_type(served)
    singular = served.listing[:-1]

    async def handler(
        request: Request[Any, Any, Any],
        read_engine: AsyncEngine,
        read_your_writes: ReadYourWrites,
        after_position: str | None = None,
        **ident: uuid.UUID,
    ) -> dict[str, Any]:
        await read_your_writes.read_models(after_position)
        key = ident[item.parameter]
        async with read_engine.connect() as connection:
            found = await get_row(connection, served.listing, key)
        if found is None:
            raise problem(404, f"no {singular} {key} in the read model")
        return disclosed(found, audit=sees_audit_trail(request))

    parameters = [
        REQUEST,
        *READS,
        inspect.Parameter(item.parameter, KEYWORD, annotation=uuid.UUID),
        inspect.Parameter("after_position", KEYWORD, annotation=str | None, default=None),
    ]
    return get(
        f"{served.path}/{{{item.parameter}:uuid}}",
        summary=item.summary,
        tags=[TAG],
        opt={**READ, "cache_control": REVALIDATE},
        responses=problem_responses(400, 401, 403, 404, 503),
    )(signed(handler, item.name, item.notes, parameters, row))


@get(
    "/calendar",
    summary="Upcoming sessions and visits",
    tags=[TAG],
    opt=READ,
    responses=problem_responses(400, 401, 403, 422, 503),
)
async def get_calendar(
    request: Request[Any, Any, Any],
    read_engine: AsyncEngine,
    read_your_writes: ReadYourWrites,
    valid_from: FromDate = None,
    valid_to: ToDate = None,
    party: str | None = None,
    after_position: str | None = None,
) -> list[CALENDAR_ENTRY]:  # type: ignore[valid-type]
    """Everything planned that has not ended before `from` (default: today, UTC)."""
    start = valid_from or dt.datetime.now(dt.UTC).date()
    in_order(("from", valid_from), ("to", valid_to))
    await read_your_writes.read_models(after_position)
    async with read_engine.connect() as connection:
        rows = await calendar_rows(connection, start, valid_to, party_filter(party))
    audit = sees_audit_trail(request)
    return [disclosed(r, audit=audit) for r in rows]  # type: ignore[misc]


routes = [
    *(
        route
        for served in SERVED
        for route in (
            listing_route(served),
            *((item_route(served, served.item),) if served.item else ()),
        )
    ),
    get_calendar,
]

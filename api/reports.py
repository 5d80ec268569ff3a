"""Report endpoints over the read models (reader role)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncConnection

from api.freshness import wait_for_position
from api.parameters import FIRST_YEAR, LAST_YEAR
from api.problems import problem_responses
from api.read_models import party_filter
from domain.values import currency_code
from reporting import reports

TAG = "reports"
READ = {"permission": "read"}
Rows = list[dict[str, Any]]
Year = Annotated[int | None, Parameter(ge=FIRST_YEAR, le=LAST_YEAR)]


async def _report(
    request: Request[Any, Any, Any],
    after_position: str | None,
    query: Callable[[AsyncConnection], Awaitable[Rows]],
) -> Rows:
    """Run one report over the read models, once they have reached `after_position`."""
    await wait_for_position(request, after_position)
    async with request.app.state.engine.connect() as connection:
        return await query(connection)


@get(
    "/reports/commitments",
    summary="Commitments status per dialogue and party, as of a date",
    tags=[TAG],
    opt=READ,
    responses=problem_responses(400, 401, 403, 422, 503),
)
async def commitments(
    request: Request[Any, Any, Any],
    as_of: dt.date | None = None,
    dialogue_id: uuid.UUID | None = None,
    party: str | None = None,
    after_position: str | None = None,
) -> Rows:
    """Open, due (target window contains as_of), overdue (window ended), fulfilled."""
    day, code = as_of or dt.datetime.now(dt.UTC).date(), party_filter(party)
    return await _report(
        request,
        after_position,
        lambda c: reports.commitments_status(c, day, dialogue_id=dialogue_id, party=code),
    )


@get(
    "/reports/activity",
    summary="Sessions held, outcomes adopted, visits made per year",
    tags=[TAG],
    opt=READ,
    responses=problem_responses(400, 401, 403, 503),
)
async def activity(
    request: Request[Any, Any, Any],
    year_from: Year = None,
    year_to: Year = None,
    dialogue_id: uuid.UUID | None = None,
    after_position: str | None = None,
) -> Rows:
    """One row per year and dialogue; visits count toward the dialogue whose outcome led to them."""
    return await _report(
        request,
        after_position,
        lambda c: reports.activity_per_year(
            c, year_from=year_from, year_to=year_to, dialogue_id=dialogue_id
        ),
    )


@get(
    "/reports/fulfilment",
    summary="Fulfilment rate and mean compliance per dialogue and party",
    tags=[TAG],
    opt=READ,
    responses=problem_responses(400, 401, 403, 422, 503),
)
async def fulfilment(
    request: Request[Any, Any, Any],
    dialogue_id: uuid.UUID | None = None,
    party: str | None = None,
    after_position: str | None = None,
) -> Rows:
    """Compliance on the G7/G20 Research Group scale, -1 to +1, where assessed."""
    code = party_filter(party)
    return await _report(
        request,
        after_position,
        lambda c: reports.fulfilment_and_compliance(c, dialogue_id=dialogue_id, party=code),
    )


@get(
    "/reports/frameworks",
    summary="The frameworks outcomes refer to, with what was adopted under each",
    tags=[TAG],
    opt=READ,
    responses=problem_responses(400, 401, 403, 422, 503),
)
async def frameworks(
    request: Request[Any, Any, Any],
    dialogue_id: uuid.UUID | None = None,
    party: str | None = None,
    after_position: str | None = None,
) -> Rows:
    """A framework is known by the exact name its outcomes give it (e.g. `C5+1`)."""
    code = party_filter(party)
    return await _report(
        request,
        after_position,
        lambda c: reports.frameworks_referred_to(c, dialogue_id=dialogue_id, party=code),
    )


@get(
    "/reports/pledges",
    summary="Money pledged in outcomes, by party, currency, programme, framework and year",
    tags=[TAG],
    opt=READ,
    responses=problem_responses(400, 401, 403, 422, 503),
)
async def pledges(
    request: Request[Any, Any, Any],
    dialogue_id: uuid.UUID | None = None,
    party: str | None = None,
    currency: Annotated[str | None, Parameter(pattern="^[A-Z]{3}$")] = None,
    after_position: str | None = None,
) -> Rows:
    """Totals are per currency (never converted); `total` is a decimal string."""
    code = party_filter(party)
    money = currency_code(currency) if currency is not None else None
    return await _report(
        request,
        after_position,
        lambda c: reports.pledges_totals(c, dialogue_id=dialogue_id, party=code, currency=money),
    )


routes = [commitments, activity, fulfilment, frameworks, pledges]

"""Report endpoints over the read models (reader role)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Request, get

from api.freshness import wait_for_position
from api.parameters import year
from api.problems import problem_responses
from api.read_models import party_filter
from reporting import reports

TAG = "reports"
READ = {"permission": "read"}


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
) -> list[dict[str, Any]]:
    """Open, due (target window contains as_of), overdue (window ended), fulfilled."""
    await wait_for_position(request, after_position)
    async with request.app.state.engine.connect() as connection:
        return await reports.commitments_status(
            connection,
            as_of or dt.datetime.now(dt.UTC).date(),
            dialogue_id=dialogue_id,
            party=party_filter(party),
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
    year_from: int | None = None,
    year_to: int | None = None,
    dialogue_id: uuid.UUID | None = None,
    after_position: str | None = None,
) -> list[dict[str, Any]]:
    """One row per year and dialogue; visits count toward the dialogue whose outcome led to them."""
    await wait_for_position(request, after_position)
    async with request.app.state.engine.connect() as connection:
        return await reports.activity_per_year(
            connection,
            year_from=year(year_from, "year_from"),
            year_to=year(year_to, "year_to"),
            dialogue_id=dialogue_id,
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
) -> list[dict[str, Any]]:
    """Compliance on the G7/G20 Research Group scale, -1 to +1, where assessed."""
    await wait_for_position(request, after_position)
    async with request.app.state.engine.connect() as connection:
        return await reports.fulfilment_and_compliance(
            connection, dialogue_id=dialogue_id, party=party_filter(party)
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
) -> list[dict[str, Any]]:
    """A framework is known by the exact name its outcomes give it (e.g. `C5+1`)."""
    await wait_for_position(request, after_position)
    async with request.app.state.engine.connect() as connection:
        return await reports.frameworks_referred_to(
            connection, dialogue_id=dialogue_id, party=party_filter(party)
        )


routes = [commitments, activity, fulfilment, frameworks]

"""Operating the projections over HTTP (admin role): status and blue/green rebuilds."""

from __future__ import annotations

from litestar import Response, get, post

from api.problems import problem, problem_responses
from projections.checkpoints import request_rebuild
from projections.registry import NAMES
from projections.status import ProjectionStatus, projection_status
from store.database import Pool
from store.supervision import SupervisedLoop

TAG = "projections"
ADMIN = {"permission": "admin"}


@get(
    "/projections",
    summary="Each projection's checkpoint, lag and state",
    tags=[TAG],
    opt=ADMIN,
    responses=problem_responses(401, 403),
)
async def status(pool: Pool, loops: list[SupervisedLoop]) -> list[ProjectionStatus]:
    """A rebuild in progress shows as `<name>:rebuild`; `state` is `failing`, `stalled`
    or (when this process runs the projection loop) `restarting` when work is not done."""
    loop = next((x for x in loops if x.name == "projections"), None)
    return await projection_status(pool, loop=loop.status() if loop is not None else None)


@post(
    "/projections/{name:str}/rebuild",
    summary="Rebuild a read model beside the live one",
    tags=[TAG],
    opt=ADMIN,
    status_code=202,
    responses=problem_responses(400, 401, 403, 404),
)
async def rebuild(pool: Pool, name: str) -> Response[dict[str, str]]:
    """Accepted: the worker that owns the projection builds it beside the live tables and
    swaps it in, in one transaction, once it has caught up. Readers never see a gap."""
    if name not in NAMES:
        raise problem(404, f"no projection {name!r}; there are {', '.join(NAMES)}")
    await request_rebuild(pool, name)
    return Response(
        {"projection": name, "status": "rebuild requested"},
        status_code=202,
        headers={"Location": "/projections"},
    )


routes = [status, rebuild]

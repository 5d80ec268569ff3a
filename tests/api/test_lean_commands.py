"""The command routes' lean path (api/commanding.py `lean_command`) answers exactly as the
Litestar route does: same status, headers and body, for good requests and bad.

Each case runs its requests twice on one database: through the app as served (lean) and
through an app whose command routes take Litestar's handler call (`lean_commands=False`),
each on streams of its own; the answers are compared with the ids and store positions of
each side put back to names.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

import msgspec
import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from api.app import create_app
from api.edge import LEAN
from domain import commands as c
from tests.api.command_scenario import body_of, ids
from tests.api.conftest import auth
from tests.unit import builders as b


class Post(NamedTuple):
    path: str
    body: Any
    """A command (sent as its JSON), bytes (sent as they are) or None (no body)."""
    headers: dict[str, str]


Case = Callable[[dict[str, uuid.UUID], dict[str, str]], list[Post]]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def framework_client(database_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    """The same app with every command route served by Litestar's handler call."""
    app = create_app(database_url, pool_size=5, lean_commands=False)
    async with AsyncTestClient(app=app) as client:
        yield client


def _launch(i: dict[str, uuid.UUID]) -> c.LaunchDialogue:
    return c.LaunchDialogue(dialogue_id=i["d"], charter=b.charter())


def _schedule(i: dict[str, uuid.UUID]) -> c.ScheduleSession:
    return c.ScheduleSession(dialogue_id=i["d"], session_id=i["s1"], plan=b.plan())


def _w(t: dict[str, str], **headers: str) -> dict[str, str]:
    return auth(t["writer"], **headers)


def _json(command: Any, **changes: Any) -> bytes:
    return msgspec.json.encode({**body_of(command), **changes})


def _at(i: dict[str, uuid.UUID], tail: str = "") -> str:
    return f"/dialogues/{i['d']}{tail}"


CASES: dict[str, Case] = {
    "launch, then launch again": lambda i, t: [
        Post("/dialogues", _launch(i), _w(t)),
        Post("/dialogues", _launch(i), _w(t)),
    ],
    "launch and schedule, with If-Match": lambda i, t: [
        Post("/dialogues", _launch(i), _w(t)),
        Post(_at(i, "/sessions"), _schedule(i), _w(t, **{"If-Match": '"1"'})),
        Post(_at(i, "/sessions"), _schedule(i), _w(t, **{"If-Match": '"1"'})),
        Post(_at(i, "/rename"), c.RenameDialogue(dialogue_id=i["d"], name="N"), _w(t)),
    ],
    "a stale, a malformed and a missing If-Match": lambda i, t: [
        Post("/dialogues", _launch(i), _w(t)),
        Post(
            _at(i, "/rename"),
            c.RenameDialogue(dialogue_id=i["d"], name="N"),
            _w(t, **{"If-Match": '"7"'}),
        ),
        Post(
            _at(i, "/rename"),
            c.RenameDialogue(dialogue_id=i["d"], name="N"),
            _w(t, **{"If-Match": "seven"}),
        ),
        Post(
            _at(i, "/corrections"),
            c.CorrectDialogue(dialogue_id=i["d"], charter=b.charter(), reason="typo"),
            _w(t),
        ),
        Post(
            _at(i, "/corrections"),
            c.CorrectDialogue(dialogue_id=i["d"], charter=b.charter(), reason="typo"),
            _w(t, **{"If-Match": '"1"'}),
        ),
    ],
    "idempotency keys: first, retry, reuse, malformed": lambda i, t: [
        Post("/dialogues", _launch(i), _w(t, **{"Idempotency-Key": f"k-{i['d']}"})),
        Post("/dialogues", _launch(i), _w(t, **{"Idempotency-Key": f"k-{i['d']}"})),
        Post(
            "/dialogues",
            c.LaunchDialogue(dialogue_id=i["d2"], charter=b.charter()),
            _w(t, **{"Idempotency-Key": f"k-{i['d']}"}),
        ),
        Post("/dialogues", _launch(i), _w(t, **{"Idempotency-Key": "no spaces"})),
    ],
    "no key, a bad key, a reader's key": lambda i, t: [
        Post("/dialogues", _launch(i), {}),
        Post("/dialogues", _launch(i), auth("not-a-key")),
        Post("/dialogues", _launch(i), auth(t["reader"])),
        Post("/dialogues", b"{", auth(t["reader"], **{"Content-Type": "text/plain"})),
    ],
    "bodies of the wrong kind": lambda i, t: [
        Post("/dialogues", b"{", _w(t, **{"Content-Type": "text/plain"})),
        Post("/dialogues", b'{"dialogue_id": ', _w(t)),
        Post("/dialogues", None, _w(t)),
        Post("/dialogues", b"", _w(t)),
        Post("/dialogues", b"[]", _w(t)),
        Post("/dialogues", b"[" * 40 + b"]" * 40, _w(t)),
        Post("/dialogues", b"x" * (300 * 1024), _w(t)),
    ],
    "bodies of the wrong shape or values": lambda i, t: [
        Post("/dialogues", _json(_launch(i), dialogue_id=5), _w(t)),
        Post(
            "/dialogues", _json(_launch(i), charter={**body_of(b.charter()), "cadence": 5}), _w(t)
        ),
        Post(
            "/dialogues",
            _json(_launch(i), charter={**body_of(b.charter()), "parties": ["KZ", "XX"]}),
            _w(t),
        ),
        Post("/dialogues", _json(_launch(i), colour="blue"), _w(t)),
        Post("/dialogues", _json(_launch(i), charter={"name": "Only a name"}), _w(t)),
        Post(
            "/dialogues",
            _json(_launch(i), charter={**body_of(b.charter()), "name": "a\u0000b"}),
            _w(t),
        ),
        Post(
            "/dialogues",
            _json(_launch(i), charter={**body_of(b.charter()), "name": "x" * 30_000}),
            _w(t),
        ),
        Post(_at(i, "/sessions"), _json(_schedule(i), plan={"planned": 2022, "host": "US"}), _w(t)),
    ],
    "the path and the body disagree, or name nothing": lambda i, t: [
        Post(f"/dialogues/{i['d2']}/sessions", _schedule(i), _w(t)),
        Post(_at(i, "/sessions"), _schedule(i), _w(t)),
        Post(f"/dialogues/{i['d']}x/sessions", _schedule(i), _w(t)),
    ],
}


def _names(i: dict[str, uuid.UUID]) -> dict[str, str]:
    return {str(value): f"<{name}>" for name, value in i.items()} | {
        value.hex: f"<{name}.hex>" for name, value in i.items()
    }


def _named(text: str, names: dict[str, str]) -> str:
    for value, name in names.items():
        text = text.replace(value, name)
    return text


def _answer(response: Any, i: dict[str, uuid.UUID]) -> dict[str, Any]:
    """What a response says, with this side's ids and store positions named."""
    names = _names(i)
    headers = [
        (name, "<position>" if name == "x-position" else _named(value, names))
        for name, value in response.headers.multi_items()
        if name not in ("content-length", "date")
    ]
    body: Any = _named(response.text, names)
    if response.headers.get("content-type", "").endswith("json"):
        body = msgspec.json.decode(body)
        if isinstance(body, dict) and "positions" in body:
            body["positions"] = len(body["positions"])
            body["position"] = body["position"] is not None
    return {"status": response.status_code, "headers": headers, "body": body}


async def _send(client: AsyncTestClient[Any], post: Post, request_id: str) -> Any:
    headers = {"X-Request-ID": request_id, **post.headers}
    if post.body is None:
        return await client.post(post.path, headers=headers)
    if isinstance(post.body, bytes):
        headers.setdefault("Content-Type", "application/json")
        return await client.post(post.path, content=post.body, headers=headers)
    return await client.post(post.path, json=body_of(post.body), headers=headers)


@pytest.mark.parametrize("case", list(CASES))
async def test_the_lean_path_answers_as_the_framework_does(
    client: Any, framework_client: Any, tokens: dict[str, str], case: str
) -> None:
    lean_ids, framework_ids = ids(f"lean/{case}"), ids(f"framework/{case}")
    lean_posts = CASES[case](lean_ids, tokens)
    framework_posts = CASES[case](framework_ids, tokens)
    for n, (lean_post, framework_post) in enumerate(zip(lean_posts, framework_posts, strict=True)):
        request_id = f"lean-{n}"
        lean = _answer(await _send(client, lean_post, request_id), lean_ids)
        framework = _answer(
            await _send(framework_client, framework_post, request_id), framework_ids
        )
        assert lean == framework, f"request {n} of {case!r}"
        assert lean["status"] < 500


def test_every_command_route_has_a_lean_path(client: Any) -> None:
    for route in client.app.routes:
        for handler in getattr(route, "route_handlers", []):
            if handler.opt.get("permission") == "write" and "POST" in handler.http_methods:
                assert callable(handler.opt.get(LEAN)), route.path


async def test_a_lean_command_is_counted_as_every_request(
    client: Any, tokens: dict[str, str]
) -> None:
    """entente_http_* by method, route template and status, as before."""
    labels = {"method": "POST", "path": "/dialogues", "status_code": "201", "app_name": "entente"}
    before = REGISTRY.get_sample_value("entente_http_requests_total", labels) or 0.0
    answer = await client.post(
        "/dialogues", json=body_of(_launch(ids("lean/counted"))), headers=_w(tokens)
    )
    assert answer.status_code == 201, answer.text
    assert REGISTRY.get_sample_value("entente_http_requests_total", labels) == before + 1

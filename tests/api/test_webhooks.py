"""Must-show (issue 16): webhooks reach a real receiver on 127.0.0.1 in log order, signed,
at least once through failures, never held up by another target; bad subscriptions are
refused with nothing stored.

The worker runs on the tests' loop (delivery/delivering.py) with short back-offs; the app
allows http targets on 127.0.0.1 only (TargetPolicy), as an operator would configure
ENTENTE_WEBHOOK_SCHEMES and ENTENTE_WEBHOOK_ALLOW_HOSTS for an internal receiver.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest_asyncio
from litestar.testing import AsyncTestClient
from standardwebhooks.webhooks import Webhook

from api.app import create_app
from delivery.delivering import LOCK_CLASS, DeliverySettings, running_deliveries
from delivery.targets import MAX_RESPONSE_BYTES, TargetPolicy, TargetRefused, check_target
from domain import commands as c
from store.records import Cursor
from store.sealing import KEY_ENV
from tests.api.command_scenario import Driver
from tests.api.conftest import auth
from tests.integration.test_lost_connections import within
from tests.receiver import Receiver
from tests.unit import builders as b

POLICY = TargetPolicy(schemes=("http", "https"), allow_hosts=("127.0.0.1",))
FAST = DeliverySettings(
    batch_size=10,
    timeout=0.5,
    max_failures=1000,
    retry_first=0.05,
    retry_max=0.3,
    idle_wait=0.2,
    policy=POLICY,
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(database_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    """The API, allowing webhook targets on 127.0.0.1 over http."""
    async with AsyncTestClient(
        app=create_app(database_url, pool_size=10, webhook_policy=POLICY)
    ) as client:
        yield client


async def subscribe(app: Any, admin: str, target: str, **body: Any) -> tuple[str, str]:
    """(subscription id, secret) of a new subscription, checked made."""
    response = await app.post(
        "/subscriptions", headers=auth(admin), json={"target_url": target, **body}
    )
    assert response.status_code == 201, response.text
    made = response.json()
    return made["subscription"]["subscription_id"], made["secret"]


async def record_indicators(app: Any, writer: str, pair: tuple[str, str], count: int) -> None:
    """`count` events appended through the API, one command each, on the pair's stream."""
    driver = Driver(app, writer)
    for n in range(count):
        command = c.RecordIndicator(
            parties=pair,  # type: ignore[arg-type]
            indicator_id=uuid.uuid4(),
            indicator=b.indicator(n),
        )
        response = await driver.send(command)
        assert response.status_code == 201, response.text


async def log_order(app: Any, reader: str, stream_prefix: str) -> list[str]:
    """Event ids of the prefix, in the order GET /events serves them."""
    ids: list[str] = []
    cursor = None
    while True:
        params = {"stream_prefix": stream_prefix, "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = (await app.get("/events", params=params, headers=auth(reader))).json()
        ids += [e["event_id"] for e in page["events"]]
        if not page["events"]:
            return ids
        cursor = page["next_cursor"]


def assert_no_gap_and_no_reorder(receiver: Receiver, expected: list[str]) -> None:
    """Every request carried the events right after the last acknowledged one: so a
    duplicate can only be a re-send of the batch that was in flight, and nothing was
    skipped or reordered; and in the end every event was acknowledged."""
    acknowledged = 0
    for request in receiver.requests:
        assert request.ids == expected[acknowledged : acknowledged + len(request.ids)], (
            acknowledged,
            request.ids,
        )
        if isinstance(request.answer, int) and request.answer < 300:
            acknowledged += len(request.ids)
    assert acknowledged == len(expected)


async def test_events_arrive_in_log_order_once_each_and_signed(app, tokens):
    receiver = Receiver()
    await receiver.start()
    sid, secret = await subscribe(
        app, tokens["admin"], receiver.url, filters={"stream_prefix": "relationship-KZ-TR"}
    )
    async with running_deliveries(app.app.state.database_url, FAST):
        await record_indicators(app, tokens["writer"], ("KZ", "TR"), 25)
        await receiver.wait_for(25)
        await asyncio.sleep(0.5)  # nothing more may come
    await receiver.stop()
    expected = await log_order(app, tokens["reader"], "relationship-KZ-TR")
    assert len(expected) == 25
    assert receiver.delivered_ids() == expected  # in log order, each exactly once
    assert all(r.answer == 200 for r in receiver.requests)
    assert len(receiver.requests) >= 3  # in batches of at most 10
    verifier = Webhook(secret)
    for request in receiver.requests:
        assert len(request.ids) <= FAST.batch_size
        verifier.verify(request.body, request.headers)  # raises if the signature is wrong
        assert request.headers["content-type"] == "application/cloudevents-batch+json"
    event = receiver.requests[0].events[0]
    assert event["specversion"] == "1.0" and event["source"] == "urn:entente:register"
    assert event["type"] == "IndicatorRecorded" and event["subject"] == "relationship-KZ-TR"
    assert event["time"].endswith("Z") and event["validfrom"] == "2019-01-01"
    assert "metadata" not in event and "actor" not in str(event)  # no audit trail for targets
    # the position resumes GET /events right after the event
    after = await app.get(
        "/events",
        params={"cursor": event["position"], "stream_prefix": "relationship-KZ-TR", "limit": 1},
        headers=auth(tokens["reader"]),
    )
    assert after.json()["events"][0]["event_id"] == expected[1]
    attempts = await app.get(f"/subscriptions/{sid}/deliveries", headers=auth(tokens["admin"]))
    assert attempts.status_code == 200
    assert sum(a["event_count"] for a in attempts.json()) == 25
    assert all(a["status_code"] == 200 and a["delivered"] for a in attempts.json())
    shown = (await app.get(f"/subscriptions/{sid}", headers=auth(tokens["admin"]))).json()
    assert shown["failures"] == 0 and shown["state"] == "active" and "secret" not in shown


async def test_failures_then_recovery_lose_nothing_and_list_the_errors(app, tokens):
    receiver = Receiver()
    receiver.script = [500, 503, "timeout", "close"]
    await receiver.start()
    sid, _ = await subscribe(
        app, tokens["admin"], receiver.url, filters={"stream_prefix": "relationship-KZ-UZ"}
    )
    async with running_deliveries(app.app.state.database_url, FAST):
        await record_indicators(app, tokens["writer"], ("KZ", "UZ"), 12)
        while receiver.script:  # the scripted failures
            await receiver.next_request()
        await receiver.stop()  # then connection refused for a while
        await record_indicators(app, tokens["writer"], ("KZ", "UZ"), 12)
        await asyncio.sleep(1.0)
        await receiver.start()  # and it recovers
        await receiver.wait_for(24)
        await asyncio.sleep(0.5)
    await receiver.stop()
    expected = await log_order(app, tokens["reader"], "relationship-KZ-UZ")
    assert len(expected) == 24
    assert_no_gap_and_no_reorder(receiver, expected)
    assert len(receiver.requests) > len(receiver.delivered())  # the failures did reach it
    attempts = (
        await app.get(
            f"/subscriptions/{sid}/deliveries",
            params={"limit": 500},
            headers=auth(tokens["admin"]),
        )
    ).json()
    errors = " | ".join(a["error"] for a in attempts if a["error"])
    for expected_error in ("HTTP 500", "HTTP 503", "timed out", "ConnectError"):
        assert expected_error in errors, errors
    assert {a["status_code"] for a in attempts if not a["delivered"]} >= {500, 503, None}
    shown = (await app.get(f"/subscriptions/{sid}", headers=auth(tokens["admin"]))).json()
    assert shown["state"] == "active" and shown["failures"] == 0


async def test_a_dead_target_does_not_delay_a_healthy_one(app, tokens):
    slow = Receiver(default="timeout", hold=60)  # holds every request
    healthy = Receiver()
    for receiver in (slow, healthy):
        await receiver.start()
    refused = Receiver()
    await refused.start()
    await refused.stop()  # a port nobody listens on
    prefix = {"stream_prefix": "relationship-KZ-TJ"}
    ids = [
        (await subscribe(app, tokens["admin"], r.url, filters=prefix))[0]
        for r in (slow, refused, healthy)
    ]
    patient = msgspec.structs.replace(FAST, timeout=8.0)
    async with running_deliveries(app.app.state.database_url, patient):
        started = time.monotonic()
        await record_indicators(app, tokens["writer"], ("KZ", "TJ"), 20)
        await healthy.wait_for(20, timeout=30)
        took = time.monotonic() - started
        assert slow.in_flight == 1  # the slow target is still holding its first batch
    for receiver in (slow, healthy):
        await receiver.stop()
    print(f"\n[webhooks] healthy target got 20 events in {took:.2f} s beside a dead one")
    # Had the healthy subscription waited for the slow one, it would have taken 8 s (the
    # slow target's time-out) per batch: generous bound, half of one time-out.
    assert took < patient.timeout / 2
    assert healthy.delivered_ids() == await log_order(app, tokens["reader"], "relationship-KZ-TJ")
    for sid in ids:
        assert (
            await app.delete(f"/subscriptions/{sid}", headers=auth(tokens["admin"]))
        ).status_code == 204


async def test_repeated_failures_pause_the_subscription_until_resumed(app, tokens):
    receiver = Receiver(default=500)
    await receiver.start()
    sid, _ = await subscribe(
        app, tokens["admin"], receiver.url, filters={"stream_prefix": "relationship-KG-KZ"}
    )
    settings = msgspec.structs.replace(FAST, max_failures=3, retry_max=0.1)
    admin = auth(tokens["admin"])
    async with running_deliveries(app.app.state.database_url, settings):
        await record_indicators(app, tokens["writer"], ("KZ", "KG"), 3)
        for _ in range(100):
            shown = (await app.get(f"/subscriptions/{sid}", headers=admin)).json()
            if shown["state"] == "failing":
                break
            await asyncio.sleep(0.1)
        assert shown["state"] == "failing" and shown["failures"] == 3, (shown, receiver.requests)
        assert shown["last_error"].startswith("HTTP 500")
        await asyncio.sleep(0.5)
        assert len(receiver.requests) == 3  # left alone while failing
        receiver.default = 200
        resumed = await app.patch(f"/subscriptions/{sid}", headers=admin, json={"state": "active"})
        assert resumed.status_code == 200 and resumed.json()["failures"] == 0
        await receiver.wait_for(3)
    await receiver.stop()
    assert receiver.delivered_ids() == await log_order(app, tokens["reader"], "relationship-KG-KZ")


async def test_replay_delivers_again_from_a_position_and_pause_stops(app, tokens):
    receiver = Receiver()
    await receiver.start()
    sid, _ = await subscribe(
        app,
        tokens["admin"],
        receiver.url,
        filters={
            "stream_kind": "relationship",
            "parties": ["am"],
            "event_types": ["IndicatorRecorded"],
        },
        start="beginning",
    )
    admin = auth(tokens["admin"])
    async with running_deliveries(app.app.state.database_url, FAST):
        await record_indicators(app, tokens["writer"], ("AM", "KZ"), 4)
        await record_indicators(app, tokens["writer"], ("KZ", "RU"), 2)  # not AM's
        await receiver.wait_for(4)
        expected = await log_order(app, tokens["reader"], "relationship-AM-KZ")
        assert receiver.delivered_ids() == expected
        first = receiver.requests[0].events[0]["position"]
        replayed = await app.post(
            f"/subscriptions/{sid}/replay", headers=admin, json={"position": first}
        )
        assert replayed.status_code == 200, replayed.text
        await receiver.wait_for(7)
        assert receiver.delivered_ids() == expected + expected[1:]
        paused = await app.patch(f"/subscriptions/{sid}", headers=admin, json={"state": "paused"})
        assert paused.json()["state"] == "paused"
        await asyncio.sleep(0.5)
        await record_indicators(app, tokens["writer"], ("AM", "KZ"), 1)
        await asyncio.sleep(0.8)
        assert len(receiver.delivered_ids()) == 7  # paused: nothing more
        await app.patch(f"/subscriptions/{sid}", headers=admin, json={"state": "active"})
        await receiver.wait_for(8)
    await receiver.stop()
    assert (await app.delete(f"/subscriptions/{sid}", headers=admin)).status_code == 204
    assert (await app.get(f"/subscriptions/{sid}", headers=admin)).status_code == 404


async def subscription_rows(pool: Any) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM webhooks.subscriptions"))


async def test_bad_subscriptions_are_refused_and_nothing_is_stored(app, tokens, pool):
    admin = auth(tokens["admin"])
    before = await subscription_rows(pool)
    good = "http://127.0.0.1:9/hook"
    head = await app.get("/events", params={"limit": 1000}, headers=auth(tokens["reader"]))
    beyond = head.json()["next_cursor"]
    far = Cursor(Cursor.decode(beyond).transaction_id + 10_000, 0).encode()
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"target_url": "not a url"}, 422, "spaces"),
        ({"target_url": "ftp://example.org/x"}, 422, "absolute http(s)"),
        ({"target_url": "http://169.254.169.254/latest/meta-data"}, 422, "metadata"),
        ({"target_url": "http://[fe80::1]/hook"}, 422, "internal"),
        ({"target_url": "http://127.0.0.2/hook"}, 422, "internal"),
        ({"target_url": "http://10.1.2.3/hook"}, 422, "internal"),
        ({"target_url": "http://localhost:8080/hook"}, 422, "internal"),
        ({"target_url": "http://metadata.google.internal/x"}, 422, "internal"),
        ({"target_url": "http://user:pw@127.0.0.1/x"}, 422, "credentials"),
        ({"target_url": good, "filters": {"event_types": ["NoSuchThing"]}}, 422, "NoSuchThing"),
        ({"target_url": good, "filters": {"parties": ["XX"]}}, 422, "XX"),
        (
            {"target_url": good, "filters": {"stream_kind": "visit", "stream_prefix": "dialogue-"}},
            422,
            "stream_kind",
        ),
        ({"target_url": good, "filters": {"colour": "red"}}, 422, "colour"),
        ({"target_url": good, "start": far}, 422, "beyond the head"),
        ({"target_url": good, "start": "garbage"}, 400, "cursor"),
        ({"target_url": good, "owner": "nobody-yet"}, 422, "names no live API key"),
        ({}, 400, "target_url"),
    ]
    for body, status, words in cases:
        response = await app.post("/subscriptions", headers=admin, json=body)
        assert response.status_code == status, (body, response.text)
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert words in problem["detail"] or words in str(problem.get("errors")), (body, problem)
    assert await subscription_rows(pool) == before
    # a replay beyond the head is refused and leaves the cursor where it was
    sid, _ = await subscribe(app, tokens["admin"], good, filters={"stream_prefix": "nothing-"})
    cursor = (await app.get(f"/subscriptions/{sid}", headers=admin)).json()["cursor"]
    refused = await app.post(f"/subscriptions/{sid}/replay", headers=admin, json={"position": far})
    assert refused.status_code == 422 and "beyond the head" in refused.json()["detail"]
    assert (await app.get(f"/subscriptions/{sid}", headers=admin)).json()["cursor"] == cursor
    changed = await app.patch(
        f"/subscriptions/{sid}", headers=admin, json={"filters": {"event_types": ["Nope"]}}
    )
    assert changed.status_code == 422
    assert (await app.get(f"/subscriptions/{sid}", headers=admin)).json()["filters"] == {
        "stream_prefix": "nothing-",
        "event_types": None,
        "parties": None,
    }
    await app.delete(f"/subscriptions/{sid}", headers=admin)


async def test_owners_read_their_subscriptions_only_admins_change_them(app, tokens):
    admin, reader = auth(tokens["admin"]), auth(tokens["reader"])
    sid, _ = await subscribe(
        app,
        tokens["admin"],
        "http://127.0.0.1:9/x",
        owner="test-reader",
        filters={"stream_prefix": "nothing-"},
    )
    other, _ = await subscribe(
        app, tokens["admin"], "http://127.0.0.1:9/y", filters={"stream_prefix": "nothing-"}
    )
    listed = await app.get("/subscriptions", headers=reader)
    assert [s["subscription_id"] for s in listed.json()] == [sid]
    assert (await app.get(f"/subscriptions/{sid}/deliveries", headers=reader)).status_code == 200
    assert (await app.get(f"/subscriptions/{other}", headers=reader)).status_code == 404
    assert (
        await app.patch(f"/subscriptions/{sid}", headers=reader, json={"state": "paused"})
    ).status_code == 403
    assert (await app.delete(f"/subscriptions/{sid}", headers=reader)).status_code == 403
    for made in (sid, other):
        assert (await app.delete(f"/subscriptions/{made}", headers=admin)).status_code == 204


async def test_the_default_policy_refuses_loopback_and_plain_http():
    for url in ("https://127.0.0.1/x", "http://example.org/x", "https://[::1]/x"):
        try:
            await check_target(url, TargetPolicy())
        except TargetRefused:
            continue
        raise AssertionError(f"{url} was allowed")
    await check_target(
        "http://127.0.0.1:1/x", TargetPolicy(schemes=("http",), allow_hosts=("127.0.0.0/8",))
    )


async def test_a_sealing_key_keeps_secrets_out_of_the_database(
    app, tokens, owner_pool, monkeypatch
):
    monkeypatch.setenv(KEY_ENV, base64.b64encode(os.urandom(32)).decode())
    receiver = Receiver()
    await receiver.start()
    sid, secret = await subscribe(
        app, tokens["admin"], receiver.url, filters={"stream_prefix": "relationship-KZ-MN"}
    )
    stored = await owner_pool.fetchval(
        "SELECT secret FROM webhooks.subscriptions WHERE subscription_id = $1", uuid.UUID(sid)
    )
    assert stored.startswith("sealed:v1:") and secret.removeprefix("whsec_") not in stored
    async with running_deliveries(app.app.state.database_url, FAST):
        await record_indicators(app, tokens["writer"], ("KZ", "MN"), 2)
        await receiver.wait_for(2)
    for request in receiver.requests:
        Webhook(secret).verify(request.body, request.headers)  # signed with the real secret
    # without the key the worker cannot sign: it says so, and sends nothing unsigned
    monkeypatch.delenv(KEY_ENV)
    sent = len(receiver.requests)
    async with running_deliveries(app.app.state.database_url, FAST):
        await record_indicators(app, tokens["writer"], ("KZ", "MN"), 1)
        admin = auth(tokens["admin"])
        for _ in range(100):
            shown = (await app.get(f"/subscriptions/{sid}", headers=admin)).json()
            if shown["failures"]:
                break
            await asyncio.sleep(0.1)
    await receiver.stop()
    assert shown["last_error"].startswith("not signed:") and KEY_ENV in shown["last_error"]
    assert len(receiver.requests) == sent
    assert (await app.delete(f"/subscriptions/{sid}", headers=admin)).status_code == 204


DELIVERY_LOCKS = """SELECT DISTINCT pid FROM pg_locks
WHERE locktype = 'advisory' AND classid = $1 AND database = (
    SELECT oid FROM pg_database WHERE datname = current_database())"""


async def test_a_worker_that_lost_its_lock_connection_stops_and_owns_again(app, tokens, owner_pool):
    """Killed under it, the lock is free for any worker: deliveries stop until this one has
    taken it again, on a new session, and go on from the stored cursor, in order."""
    receiver = Receiver()
    await receiver.start()
    await subscribe(
        app, tokens["admin"], receiver.url, filters={"stream_prefix": "relationship-KZ-TM"}
    )

    async def holders() -> set[int]:
        return {row["pid"] for row in await owner_pool.fetch(DELIVERY_LOCKS, LOCK_CLASS)}

    async with running_deliveries(app.app.state.database_url, FAST):
        (first,) = await within(10, holders)
        await owner_pool.execute("SELECT pg_terminate_backend($1)", first)
        await record_indicators(app, tokens["writer"], ("KZ", "TM"), 12)
        await receiver.wait_for(12)
        assert first not in await within(10, holders)
    await receiver.stop()
    assert_no_gap_and_no_reorder(
        receiver, await log_order(app, tokens["reader"], "relationship-KZ-TM")
    )


REBINDING = "rebind.entente.test"


class RebindingResolver:
    """socket.getaddrinfo, except that REBINDING resolves to the next of `answers` and,
    once they are used up, to `later`: a name with a short TTL re-pointed at will."""

    def __init__(self, later: str) -> None:
        self.real = socket.getaddrinfo
        self.answers: list[str] = []
        self.later = later
        self.asked = 0

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode("ascii") if isinstance(host, bytes) else host
        if name != REBINDING:
            return self.real(host, port, *args, **kwargs)
        self.asked += 1
        answer = self.answers.pop(0) if self.answers else self.later
        return self.real(answer, port, *args, **kwargs)


async def test_a_delivery_connects_to_the_address_its_check_approved(app, tokens, monkeypatch):
    """DNS rebinding: the name answers 127.0.0.1 (allowed) to the check, and 127.0.0.2
    (refused, and nobody listens there) to any later question. The POST still goes to
    127.0.0.1, under the name, because nobody asks again: the HTTP client resolves nothing."""
    resolver = RebindingResolver(later="127.0.0.2")
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    receiver = Receiver()
    await receiver.start()
    resolver.answers = ["127.0.0.1"]  # for the API's check of the new subscription
    target = f"http://{REBINDING}:{receiver.port}/hook"
    sid, secret = await subscribe(
        app, tokens["admin"], target, filters={"stream_prefix": "relationship-KZ-MD"}
    )
    assert resolver.asked == 1
    await record_indicators(app, tokens["writer"], ("KZ", "MD"), 3)  # one batch
    resolver.answers = ["127.0.0.1"]  # for the worker's check before the delivery
    admin = auth(tokens["admin"])

    async def attempts() -> list[dict[str, Any]]:
        logged = await app.get(f"/subscriptions/{sid}/deliveries", headers=admin)
        return list(logged.json())

    async with running_deliveries(app.app.state.database_url, FAST):
        await receiver.wait_for(3, timeout=10)
        logged = await within(10, attempts)
    await receiver.stop()
    assert resolver.asked == 2  # the worker's check, and nothing after it
    (request,) = receiver.requests
    assert request.headers["host"] == f"{REBINDING}:{receiver.port}"
    Webhook(secret).verify(request.body, request.headers)
    assert [(a["status_code"], a["delivered"]) for a in logged] == [(200, True)]
    assert (await app.delete(f"/subscriptions/{sid}", headers=admin)).status_code == 204


class Flood:
    """A target that answers every request 500 with a `size`-byte body, and counts how much
    of it each connection took before the client hung up; with `drip`, a byte at a time,
    that many seconds apart."""

    def __init__(self, size: int, drip: float | None = None) -> None:
        self.size = size
        self.drip = drip
        self.taken: list[int] = []
        self.hung_up = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/hook"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        taken = 0
        chunk = b"x" * 65536
        # a small send buffer, so that what left the target is near what the client read
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            writer.write(
                b"HTTP/1.1 500 Flood\r\ncontent-type: text/plain\r\n"
                + f"content-length: {self.size}\r\nconnection: close\r\n\r\n".encode()
            )
            if self.drip is not None:
                chunk = b"x"
            while taken < self.size:
                writer.write(chunk)
                await writer.drain()
                taken += len(chunk)
                if self.drip is not None:
                    await asyncio.sleep(self.drip)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.taken.append(taken)
            self.hung_up.set()
            writer.close()


async def attempts_against(
    app: Any, tokens: dict[str, str], flood: Flood, partner: str
) -> tuple[str, list[dict[str, Any]]]:
    """(subscription id, its logged attempts) once the worker has hung up on `flood`, after
    one event on the KZ-`partner` stream."""
    target = await flood.start()
    sid, _ = await subscribe(
        app, tokens["admin"], target, filters={"stream_prefix": f"relationship-KZ-{partner}"}
    )
    await record_indicators(app, tokens["writer"], ("KZ", partner), 1)

    async def attempts() -> list[dict[str, Any]]:
        logged = await app.get(f"/subscriptions/{sid}/deliveries", headers=auth(tokens["admin"]))
        return list(logged.json())

    async with running_deliveries(app.app.state.database_url, FAST):
        await asyncio.wait_for(flood.hung_up.wait(), 10)
        logged = await within(10, attempts)
    await flood.stop()
    return sid, logged


async def test_a_huge_answer_is_not_read_whole(app, tokens):
    """A target answering 64 MB: the worker reads at most MAX_RESPONSE_BYTES (beyond that
    only what the sockets' buffers held was sent), hangs up, and logs 200 characters."""
    size = 64 * 1024 * 1024
    flood = Flood(size)
    sid, logged = await attempts_against(app, tokens, flood, "MC")
    print(f"\n[webhooks] a 64 MB answer: {flood.taken[0]} bytes left the target")
    assert MAX_RESPONSE_BYTES <= flood.taken[0] < size // 4, flood.taken  # far from whole
    assert all(a["status_code"] == 500 for a in logged)
    assert logged[0]["error"] == "HTTP 500: " + "x" * 200
    admin = auth(tokens["admin"])
    assert (await app.delete(f"/subscriptions/{sid}", headers=admin)).status_code == 204


async def test_a_target_dripping_its_answer_is_cut_off_at_the_timeout(app, tokens):
    """Each byte comes well within the per-read timeout; the whole answer never does."""
    drip = Flood(1_000_000, drip=0.05)
    sid, logged = await attempts_against(app, tokens, drip, "MT")
    assert logged[0]["error"] == f"timed out after {FAST.timeout:g} s"
    assert logged[0]["latency_ms"] < FAST.timeout * 1000 * 3
    assert drip.taken[0] < 100  # 0.05 s a byte: cut off after about FAST.timeout
    admin = auth(tokens["admin"])
    assert (await app.delete(f"/subscriptions/{sid}", headers=admin)).status_code == 204

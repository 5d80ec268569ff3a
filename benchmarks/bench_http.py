"""Commands over HTTP beside the same commands in-process, same run: commands/s, p50/p99
and CPU per command at 1, 8 and 32 clients, for each server stack measured.

Not a test: it prints a table for docs/PERFORMANCE.md. Two workloads: launching dialogues
(a new stream per command) and scheduling sessions on dialogues launched beforehand (a
short replay per command), each client on dialogues of its own so no command conflicts.
Every side runs the same number of commands (BENCH_HTTP_COMMANDS per level) on
equally fresh dialogues, after an unmeasured warm-up.

The load generator runs in a process of its own (never in the server's): keep-alive
HTTP/1.1 connections, one per client, written to and read from raw asyncio streams with
the requests prepared up front, so the client costs a few tens of microseconds per
request and is not what is measured; its CPU per command is printed to show it. The
in-process side runs the commands through the same function the API calls, in a process
of its own as well. CPU per command is read from /proc for every API process (and, for
the in-process side, the process itself), so the ratio HTTP/in-process is the cost the
HTTP layer adds whatever else runs on the machine.

Stacks (BENCH_HTTP_STACKS, comma-separated): `serve` is `entente serve --workers N` as
shipped; `h11` is uvicorn on plain asyncio with h11 (the stack before), `granian` the
Rust ASGI server when installed (skipped otherwise). BENCH_HTTP_WORKERS sets N.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from benchmarks.common import fresh_database, percentile

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = int(os.environ.get("BENCH_HTTP_COMMANDS", "2000"))
CLIENTS = [int(n) for n in os.environ.get("BENCH_HTTP_CLIENTS", "1,8,32").split(",")]
WORKERS = int(os.environ.get("BENCH_HTTP_WORKERS", "1"))
STACKS = os.environ.get("BENCH_HTTP_STACKS", "h11,serve").split(",")
DIALOGUES = 256
"""Dialogues prepared for each scheduling level, shared out among its clients."""
WARM_UP = 100
PORT = int(os.environ.get("BENCH_HTTP_PORT", "8711"))
METADATA = {"actor": "bench", "command": "bench"}
TICKS = os.sysconf("SC_CLK_TCK")


def launch(dialogue_id: uuid.UUID) -> Any:
    """A LaunchDialogue command: a new stream."""
    from domain import commands as c
    from domain.facts import Charter

    charter = Charter(
        name=f"Bench {dialogue_id.hex[:8]}",
        acronym="BD",
        format="bilateral",
        parties=("KZ", "UZ"),
        cadence="annual",
    )
    return c.LaunchDialogue(dialogue_id=dialogue_id, charter=charter)


def schedule(dialogue_id: uuid.UUID) -> Any:
    """A ScheduleSession command on an existing dialogue."""
    from domain import commands as c
    from domain.facts import SessionPlan
    from domain.values import PartialDate

    plan = SessionPlan(planned=PartialDate.parse("2027"), host="KZ")
    return c.ScheduleSession(dialogue_id=dialogue_id, session_id=uuid.uuid4(), plan=plan)


def commands_for(kind: str, clients: int, count: int, dialogues: list[uuid.UUID]) -> list[Any]:
    """`count` commands of one kind; client i takes commands i, i+clients, …, and for
    scheduling only dialogues whose index ≡ i (mod clients), so no two clients conflict."""
    if kind == "launch":
        return [launch(uuid.uuid4()) for _ in range(count)]
    per_client = [dialogues[i::clients] for i in range(clients)]
    return [
        schedule(per_client[n % clients][(n // clients) % len(per_client[n % clients])])
        for n in range(count)
    ]


def path_of(command: Any) -> str:
    """The route a command is posted to."""
    if type(command).__name__ == "LaunchDialogue":
        return "/dialogues"
    return f"/dialogues/{command.dialogue_id}/sessions"


# --- CPU accounting ------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """`pid` and every process descended from it (the API's worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, as `uptime` prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


# --- the load generator (a process of its own) ---------------------------------------


def _request(command: Any, host: str, token: str) -> bytes:
    body = msgspec.json.encode(command)
    head = (
        f"POST {path_of(command)} HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """One request on a keep-alive connection; the response's status."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def drive(
    base: str, token: str, requests: list[bytes], clients: int, server_pids: list[int]
) -> dict[str, Any]:
    """Send `requests` over `clients` connections (client i sends i, i+clients, …); the
    first WARM_UP of each client's share are not measured."""
    host, port = base.removeprefix("http://").split(":")
    connections = [await asyncio.open_connection(host, int(port)) for _ in range(clients)]
    latencies: list[float] = []
    failures: dict[int, int] = {}
    warm = asyncio.Barrier(clients + 1)
    measured = asyncio.Barrier(clients + 1)

    async def client(i: int) -> None:
        reader, writer = connections[i]
        mine = requests[i::clients]
        for request in mine[: WARM_UP // clients]:
            await _exchange(reader, writer, request)
        await warm.wait()
        await measured.wait()
        for request in mine[WARM_UP // clients :]:
            started = time.perf_counter()
            status = await _exchange(reader, writer, request)
            latencies.append(time.perf_counter() - started)
            if status >= 300:
                failures[status] = failures.get(status, 0) + 1
        writer.close()

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    await warm.wait()
    server_before, own_before = cpu_seconds(server_pids), time.process_time()
    started = time.perf_counter()
    await measured.wait()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    return {
        "commands": len(latencies),
        "seconds": elapsed,
        "latencies": latencies,
        "failures": failures,
        "server_cpu": cpu_seconds(server_pids) - server_before,
        "client_cpu": time.process_time() - own_before,
    }


def load_main(spec: dict[str, Any]) -> None:
    """The load generator's entry: a JSON spec on the command line, a JSON result out."""
    host = spec["base"].removeprefix("http://")
    dialogues = [uuid.UUID(d) for d in spec.get("dialogues", [])]
    count = spec["count"] + WARM_UP
    commands = commands_for(spec["kind"], spec["clients"], count, dialogues)
    requests = [_request(command, host, spec["token"]) for command in commands]
    result = _run(
        drive(spec["base"], spec["token"], requests, spec["clients"], spec["server_pids"])
    )
    print(json.dumps(result))


# --- the same commands in-process (a process of its own) -----------------------------


async def in_process(spec: dict[str, Any]) -> dict[str, Any]:
    """The commands through service.handling.handle, as the API runs them, with the API's
    pool size; same shares, warm-up and measurements as the load generator."""
    from service.handling import handle
    from store.database import create_pool
    from store.event_store import EventStore

    pool = await create_pool(spec["url"], max_size=10)
    store = EventStore(pool)
    clients = spec["clients"]
    dialogues = [uuid.UUID(d) for d in spec.get("dialogues", [])]
    commands = commands_for(spec["kind"], clients, spec["count"] + WARM_UP, dialogues)
    latencies: list[float] = []
    warm, measured = asyncio.Barrier(clients + 1), asyncio.Barrier(clients + 1)

    async def client(i: int) -> None:
        mine = commands[i::clients]
        for command in mine[: WARM_UP // clients]:
            await handle(store, command, metadata=METADATA)
        await warm.wait()
        await measured.wait()
        for command in mine[WARM_UP // clients :]:
            started = time.perf_counter()
            await handle(store, command, metadata=METADATA)
            latencies.append(time.perf_counter() - started)

    try:
        tasks = [asyncio.create_task(client(i)) for i in range(clients)]
        await warm.wait()
        cpu_before, started = time.process_time(), time.perf_counter()
        await measured.wait()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
    finally:
        await store.settle()
        await pool.close()
    return {
        "commands": len(latencies),
        "seconds": elapsed,
        "latencies": latencies,
        "failures": {},
        "server_cpu": cpu,
        "client_cpu": 0.0,
    }


def in_process_main(spec: dict[str, Any]) -> None:
    """The in-process side's entry, as load_main."""
    print(json.dumps(_run(in_process(spec))))


def _run(work: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(work)
    return uvloop.run(work)


# --- the app over ASGI, no server (a process of its own) ------------------------------

ASGI_ROUNDS = 5
ASGI_CLIENTS = 8


def _asgi_request(app: Any, token: str, body: bytes, statuses: list[int]) -> Any:
    """One POST /dialogues through the app's ASGI interface, as a server would send it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/dialogues",
        "raw_path": b"/dialogues",
        "root_path": "",
        "query_string": b"",
        "server": ("127.0.0.1", PORT),
        "client": ("127.0.0.1", 50000),
        "headers": [
            (b"host", f"127.0.0.1:{PORT}".encode()),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Any:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    return app(scope, receive, send)


async def asgi_costs(spec: dict[str, Any]) -> dict[str, Any]:
    """CPU ms per launch through the app over ASGI (no server: the HTTP layer's own share
    beside the command), with the lean command path and through Litestar's handler call,
    and through `handle` alone; interleaved rounds in one process, medians. Steadier under
    a loaded machine than the served figures, whose CPU per command moves with scheduling."""
    import gc
    import statistics
    from contextlib import AsyncExitStack

    from api.app import create_app
    from service.handling import handle

    apps = {
        "lean": create_app(spec["url"], lean_commands=True),
        "litestar": create_app(spec["url"], lean_commands=False),
    }
    async with AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.lifespan())
        gc.collect()
        gc.freeze()  # as `entente serve` does once started
        store = apps["lean"].state.store

        async def through_app(app: Any, count: int) -> float:
            bodies = [msgspec.json.encode(launch(uuid.uuid4())) for _ in range(count)]
            statuses: list[int] = []

            async def client(i: int) -> None:
                for body in bodies[i::ASGI_CLIENTS]:
                    await _asgi_request(app, spec["token"], body, statuses)

            started = time.process_time()
            await asyncio.gather(*(client(i) for i in range(ASGI_CLIENTS)))
            if set(statuses) != {201}:
                raise SystemExit(f"the app answered {sorted(set(statuses))}")
            return (time.process_time() - started) / count * 1000

        async def through_handle(count: int) -> float:
            commands = [launch(uuid.uuid4()) for _ in range(count)]

            async def client(i: int) -> None:
                for command in commands[i::ASGI_CLIENTS]:
                    await handle(store, command, metadata=METADATA)

            started = time.process_time()
            await asyncio.gather(*(client(i) for i in range(ASGI_CLIENTS)))
            return (time.process_time() - started) / count * 1000

        sides: dict[str, Callable[[int], Any]] = {
            **{name: functools.partial(through_app, app) for name, app in apps.items()},
            "handle": through_handle,
        }
        for run_side in sides.values():
            await run_side(WARM_UP)
        cpu: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(ASGI_ROUNDS):
            for name, run_side in sides.items():
                cpu[name].append(await run_side(spec["count"]))
    return {name: statistics.median(values) for name, values in cpu.items()}


def asgi_main(spec: dict[str, Any]) -> None:
    """The ASGI measurement's entry, as load_main."""
    print(json.dumps(_run(asgi_costs(spec))))


# --- the servers ----------------------------------------------------------------------

H11_SERVER = """
import sys
import uvicorn
from api.serving import Server, server_config
config = server_config(sys.argv[1], "127.0.0.1", int(sys.argv[2]), loop="asyncio", http="h11")
Server(config).run()
"""

GRANIAN_SERVER = """
import os, sys
from granian.constants import Interfaces, Loops
from granian.server import Server
from api.serving import URL_ENV
os.environ[URL_ENV] = sys.argv[1]
Server("api.serving:served_app", address="127.0.0.1", port=int(sys.argv[2]),
       interface=Interfaces.ASGI, workers=int(sys.argv[3]), loop=Loops.uvloop, factory=True,
       log_access=True).serve()
"""


def server_command(stack: str, url: str, port: int) -> list[str] | None:
    """How to start one stack, or None when it is not installed here."""
    if stack == "serve":
        return [
            sys.executable,
            "-m",
            "api.cli",
            "--app-database-url",
            url,
            "serve",
            "--port",
            str(port),
            "--workers",
            str(WORKERS),
        ]
    if stack == "h11":
        return [sys.executable, "-c", H11_SERVER, url, str(port)]
    if stack == "granian":
        try:
            import granian  # noqa: F401
        except ImportError:
            return None
        return [sys.executable, "-c", GRANIAN_SERVER, url, str(port), str(WORKERS)]
    raise SystemExit(f"unknown stack {stack!r} (serve, h11, granian)")


@contextmanager
def serving(command: list[str], port: int, processes: int) -> Iterator[tuple[str, list[int]]]:
    """(base URL, pids of the server's processes) once `processes` have started the app."""

    log = ROOT / ".data" / "bench-http-server.log"
    with log.open("w") as err:
        server = subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
            command,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "ENTENTE_LOG_FORMAT": "json"},
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # spawned interpreters start slowly on a busy host
        while not _started(base, log, processes):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start: see {log}")
            time.sleep(0.5)
        yield base, process_tree(server.pid)
    finally:
        server.terminate()  # every stack stops its workers on SIGTERM
        server.wait(timeout=60)


def _started(base: str, log: Path, processes: int) -> bool:
    """Whether the server answers and (uvicorn) each process has said its app started."""
    import httpx

    try:
        if httpx.get(f"{base}/health", timeout=2).status_code != 200:
            return False
    except httpx.TransportError:
        return False
    said = log.read_text().count("Application startup complete")
    return said >= processes or "uvicorn" not in log.read_text()


def _load(extra: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    return child("load", {**spec, **extra})


def child(role: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run the load generator or the in-process side in a process of its own."""
    done = subprocess.run(  # noqa: S603 -- our own interpreter and arguments
        [sys.executable, "-m", "benchmarks.bench_http", role, json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"{role} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the access line ------------------------------------------------------------------


def access_line_cost(lines: int = 20_000) -> float:
    """CPU microseconds per access line through the handlers `serve` installs (JSON, to
    /dev/null, a request's ids bound): the logging share of a request, without the noise
    of a server under load."""
    import logging.config

    from api.log_redaction import logging_config
    from api.structured_logs import bind_request, unbind_request

    os.environ["ENTENTE_LOG_FORMAT"] = "json"
    logging.config.dictConfig(logging_config())
    access = logging.getLogger("uvicorn.access")
    with open(os.devnull, "w") as sink:
        for handler in access.handlers:
            handler.setStream(sink)  # type: ignore[attr-defined]
        tokens = bind_request(uuid.uuid4().hex, uuid.uuid4().hex)
        started = time.process_time()
        for _ in range(lines):
            access.info(
                '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", "/dialogues", "1.1", 201
            )
        cost = (time.process_time() - started) / lines * 1e6
        unbind_request(tokens)
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    return cost


# --- the run --------------------------------------------------------------------------


async def _prepare(owner_url: str) -> tuple[str, str]:
    """The serving login's URL and a writer key."""
    from store.api_keys import create_key
    from store.database import create_pool
    from store.roles import app_url, provision_login_role

    url = app_url(owner_url)
    await provision_login_role(owner_url, url)
    pool = await create_pool(url, max_size=2)
    try:
        _, token = await create_key(pool, f"bench-{uuid.uuid4().hex[:6]}", ["writer"])
    finally:
        await pool.close()
    return url, token


async def _launch_dialogues(url: str, count: int) -> list[str]:
    """Dialogues for a scheduling level, launched in-process (not measured)."""
    from service.handling import handle
    from store.database import create_pool
    from store.event_store import EventStore

    pool = await create_pool(url, max_size=4)
    store = EventStore(pool)
    ids = [uuid.uuid4() for _ in range(count)]
    try:
        for start in range(0, count, 16):
            await asyncio.gather(
                *(handle(store, launch(d), metadata=METADATA) for d in ids[start : start + 16])
            )
    finally:
        await store.settle()
        await pool.close()
    return [str(d) for d in ids]


def row(side: str, kind: str, clients: int, result: dict[str, Any]) -> dict[str, Any]:
    """One line of the table."""
    n = result["commands"]
    return {
        "side": side,
        "kind": kind,
        "clients": clients,
        "per_second": n / result["seconds"],
        "p50_ms": percentile(result["latencies"], 0.5),
        "p99_ms": percentile(result["latencies"], 0.99),
        "cpu_ms": result["server_cpu"] / n * 1000,
        "client_cpu_ms": result["client_cpu"] / n * 1000,
        "failures": result["failures"],
        "load": load_average(),
    }


def scenario_spec(url: str, kind: str, clients: int) -> dict[str, Any]:
    """What one level runs: the kind, the clients, and for scheduling fresh dialogues."""
    spec: dict[str, Any] = {"kind": kind, "clients": clients, "count": COMMANDS}
    if kind == "schedule":
        spec["dialogues"] = asyncio.run(_launch_dialogues(url, DIALOGUES))
    return spec


def measure(
    side: str, url: str, run_one: Callable[[dict[str, Any]], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every kind at every level for one side."""
    rows = []
    for kind in ("launch", "schedule"):
        for clients in CLIENTS:
            rows.append(row(side, kind, clients, run_one(scenario_spec(url, kind, clients))))
            print(_format(rows[-1]), flush=True)
    return rows


def _format(r: dict[str, Any]) -> str:
    fails = f"  failures {r['failures']}" if r["failures"] else ""
    return (
        f"{r['side']:<16} {r['kind']:<9} {r['clients']:>3} clients  {r['per_second']:>7.0f}/s"
        f"  p50 {r['p50_ms']:>6.1f} ms  p99 {r['p99_ms']:>6.1f} ms"
        f"  CPU {r['cpu_ms']:.2f} ms/cmd (client {r['client_cpu_ms']:.2f})"
        f"  load {r['load']}{fails}"
    )


def main() -> None:
    """Prepare a database, measure in-process, then every stack over HTTP."""
    print(
        f"bench-http: {COMMANDS} commands per level, clients {CLIENTS},"
        f" {WORKERS} API processes, stacks {STACKS}; load {load_average()}",
        flush=True,
    )
    print(f"access line: {access_line_cost():.1f} µs CPU per line (JSON)", flush=True)
    context = fresh_database("bench_http")
    loop = asyncio.new_event_loop()
    owner_url = loop.run_until_complete(context.__aenter__())
    try:
        url, token = asyncio.run(_prepare(owner_url))
        asgi = child("asgi", {"url": url, "token": token, "count": min(COMMANDS, 500)})
        print(
            f"app over ASGI, no server, launches at {ASGI_CLIENTS} clients (median of"
            f" {ASGI_ROUNDS} interleaved rounds): lean command path {asgi['lean']:.3f} ms CPU,"
            f" through Litestar's handler {asgi['litestar']:.3f}, handle alone"
            f" {asgi['handle']:.3f} (x{asgi['lean'] / asgi['handle']:.2f} /"
            f" x{asgi['litestar'] / asgi['handle']:.2f}); load {load_average()}",
            flush=True,
        )
        rows = measure("in-process", url, lambda spec: child("in-process", {**spec, "url": url}))
        for stack in STACKS:
            command = server_command(stack, url, PORT)
            if command is None:
                print(f"{stack}: not installed here, skipped", flush=True)
                continue
            side = f"http {stack}" + (f" x{WORKERS}" if stack != "h11" else " x1")
            processes = 1 if stack == "h11" else WORKERS
            with serving(command, PORT, processes) as (base, pids):
                extra = {"base": base, "token": token, "server_pids": pids}
                rows += measure(side, url, functools.partial(_load, extra))
        _summary(rows)
    finally:
        loop.run_until_complete(context.__aexit__(None, None, None))
        loop.close()


def _summary(rows: list[dict[str, Any]]) -> None:
    """HTTP against in-process, per kind and level: throughput and CPU ratios."""
    base = {(r["kind"], r["clients"]): r for r in rows if r["side"] == "in-process"}
    print("\nratios to in-process (same run): throughput, CPU per command")
    for r in rows:
        if r["side"] == "in-process":
            continue
        b = base[(r["kind"], r["clients"])]
        print(
            f"{r['side']:<16} {r['kind']:<9} {r['clients']:>3} clients"
            f"  x{r['per_second'] / b['per_second']:.2f} throughput"
            f"  x{r['cpu_ms'] / b['cpu_ms']:.2f} CPU/command"
        )
    out = ROOT / ".data" / "bench-http.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps([{k: v for k, v in r.items()} for r in rows], indent=1))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "load":
        load_main(json.loads(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "in-process":
        in_process_main(json.loads(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "asgi":
        asgi_main(json.loads(sys.argv[2]))
    else:
        main()

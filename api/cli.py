"""The `entente` command line: serve, migrate, keys, calendar tokens, demo, verify, the
transparency log's key and audit bundles, and `run` for make run.

A mistake (an unknown report, a bad cron expression, an unreachable database) prints one
line starting `entente:` and exits non-zero; ENTENTE_DEBUG=1 shows the traceback instead.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

from api.log_redaction import redact
from store.api_keys import ROLES, LastAdminKey, authenticate, create_key, list_keys, revoke_key
from store.availability import database_unavailable, summary
from store.database import READ_URL_ENV, create_pool
from store.local_postgres import DEFAULT_DATA_DIR, start_embedded
from store.migrate import upgrade
from store.roles import (
    APP_URL_ENV,
    ServingRoleRefused,
    app_url,
    check_serving_role,
    provision_login_role,
)
from store.verification import verify

DEBUG_ENV = "ENTENTE_DEBUG"

LOCAL_KEY_FILE = DEFAULT_DATA_DIR / "local-admin-key"
LOCAL_LOG_KEY_FILE = DEFAULT_DATA_DIR / "log-key"
LOCAL_WITNESS_DIR = DEFAULT_DATA_DIR / "witness"


def database_url(args: argparse.Namespace) -> str:
    """--database-url, else DATABASE_URL, else the embedded server under .data/."""
    url = args.database_url or os.environ.get("DATABASE_URL")
    if url:
        return str(url)
    return start_embedded(DEFAULT_DATA_DIR / "postgres", keep_running=True)


def serving_url(args: argparse.Namespace, owner: str | None = None) -> str:
    """The URL every command but `migrate` connects with: a least-privilege login.

    --app-database-url, else ENTENTE_APP_DATABASE_URL, else the owner URL with the user
    swapped for entente_service (made by `entente migrate`). Exits when that login is a
    superuser, replication or BYPASSRLS role (store/roles.py).
    """
    explicit = args.app_database_url or os.environ.get(APP_URL_ENV)
    url = explicit or app_url(owner or database_url(args))
    asyncio.run(check_serving_role(url))
    return url


def read_serving_url(args: argparse.Namespace) -> str | None:
    """--read-database-url, else ENTENTE_READ_DATABASE_URL: a streaming replica for reads,
    refused like the serving URL when its login is privileged; None when not given."""
    url = args.read_database_url or os.environ.get(READ_URL_ENV)
    if url:
        asyncio.run(check_serving_role(url))
    return url or None


def migrate(args: argparse.Namespace) -> str:
    """Migrate as the owner, then make the serving login role when the owner may."""
    owner = database_url(args)
    upgrade(owner)
    if not asyncio.run(provision_login_role(owner, app_url(owner, args.app_database_url))):
        print(
            "note: the owner may not create roles; the serving login role must exist already"
            " (docs/OPERATIONS.md)",
            file=sys.stderr,
        )
    return owner


def cli_actor() -> str:
    """Who a key change made from the command line is recorded as."""
    return f"cli:{getpass.getuser()}"


async def _with_pool(url: str, work: Callable[[Any], Awaitable[Any]]) -> Any:
    pool = await create_pool(url, max_size=4)
    try:
        return await work(pool)
    finally:
        await pool.close()


def serve(url: str, host: str, port: int, **options: Any) -> None:
    """Serve the API (api/serving.py: uvicorn on uvloop and httptools, `workers`
    processes, the background loops in each when asked); imported here, not at the top,
    so that the other commands start without the server stack."""
    from api.serving import serve as serve_api

    serve_api(url, host, port, **options)


async def _ensure_local_key(pool: Any) -> str:
    """The local all-roles key, created on first run and kept in .data/ for later runs;
    made again when the kept one is not a live key of this database (revoked, or made
    for another DATABASE_URL), so the key make run prints always opens the tour."""
    if LOCAL_KEY_FILE.exists():
        kept = LOCAL_KEY_FILE.read_text().strip()
        key = await authenticate(pool, kept)
        if key is not None and set(key.roles) == set(ROLES):
            return kept
    names = {key.name for key in await list_keys(pool)}
    name = "local-admin" if "local-admin" not in names else f"local-admin-{len(names)}"
    _, token = await create_key(pool, name, list(ROLES), actor=cli_actor())
    LOCAL_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    LOCAL_KEY_FILE.write_text(token + "\n")
    LOCAL_KEY_FILE.chmod(0o600)
    return token


def _ensure_log_key() -> None:
    """make run signs checkpoints with a local key under .data/ (made on first run) and
    writes them to .data/witness/, unless the environment names others."""
    from store.transparency import KEY_ENV, KEY_FILE_ENV, WITNESS_DIR_ENV, create_key_file

    if not (os.environ.get(KEY_ENV) or os.environ.get(KEY_FILE_ENV)):
        if not LOCAL_LOG_KEY_FILE.exists():
            create_key_file(LOCAL_LOG_KEY_FILE)
        os.environ[KEY_FILE_ENV] = str(LOCAL_LOG_KEY_FILE)
    os.environ.setdefault(WITNESS_DIR_ENV, str(LOCAL_WITNESS_DIR))


def run(args: argparse.Namespace) -> None:
    """make run: database, migrations (as the owner), then as the serving login role:
    demo data once, a local key, and the API."""
    from api.demo import load_demo

    url = serving_url(args, migrate(args))
    _ensure_log_key()

    async def prepare(pool: Any) -> tuple[int, str]:
        return await load_demo(pool), await _ensure_local_key(pool)

    written, token = asyncio.run(_with_pool(url, prepare))
    base = f"http://{args.host}:{args.port}"
    print(
        f"\nEntente: demo data {'loaded' if written else 'already present'}"
        f" ({written} new events)\n  API:   {base}\n  docs:  {base}/docs\n"
        f"  key:   {token}\n  try:   curl -H 'Authorization: Bearer {token}' "
        f"{base}/relationships/KZ-US/history\n",
        flush=True,
    )
    serve(url, args.host, args.port, with_worker=not args.without_worker)


def keys(args: argparse.Namespace) -> None:
    """keys create NAME --roles r,w | keys list | keys revoke NAME."""
    url = serving_url(args)

    async def work(pool: Any) -> None:
        if args.action == "create":
            key, token = await create_key(pool, args.name, args.roles.split(","), actor=cli_actor())
            print(json.dumps({"name": key.name, "roles": key.roles, "token": token}))
        elif args.action == "list":
            for key in await list_keys(pool):
                state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "live"
                print(f"{key.name}\t{','.join(key.roles)}\t{state}")
        else:
            try:
                revoked = await revoke_key(pool, args.name, actor=cli_actor())
            except LastAdminKey:
                sys.exit(f"{args.name!r} is the last live admin key; create another first")
            if not revoked:
                sys.exit(f"no live key named {args.name!r}")

    asyncio.run(_with_pool(url, work))


def calendar_tokens_command(args: argparse.Namespace) -> None:
    """calendar-tokens create NAME [--party KZ] [--owner WHO] | list | revoke TOKEN_ID."""
    from store.calendar_tokens import create_token, list_tokens, revoke_token

    url = serving_url(args)

    async def work(pool: Any) -> None:
        if args.action == "create":
            party = args.party.upper() if args.party else None
            made, token = await create_token(pool, args.name, args.owner, party)
            print(json.dumps({"token_id": made.token_id, "party": party, "token": token}))
        elif args.action == "list":
            for t in await list_tokens(pool):
                state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "live"
                print(f"{t.token_id}\t{t.name}\t{t.owner}\t{t.party or '*'}\t{state}")
        elif not await revoke_token(pool, args.name):
            sys.exit(f"no live calendar token {args.name!r}")

    asyncio.run(_with_pool(url, work))


def verify_command(args: argparse.Namespace) -> None:
    """Recompute every hash chain (and, for the whole log, the transparency tree against
    the events and the latest checkpoint); exit 1 when anything is broken."""
    report = asyncio.run(_with_pool(serving_url(args), lambda p: verify(p, args.stream)))
    print(f"{report.streams_checked} streams, {report.events_checked} events checked")
    for link in report.broken:
        print(f"BROKEN {link.stream_id} v{link.version} (position {link.position}): {link.reason}")
    if report.tree is not None:
        tree = report.tree
        print(
            f"tree: {tree.leaves_checked} leaves checked, latest checkpoint"
            f" {tree.checkpoint_size or 'none'}"
            f"{', root matches' if tree.checkpoint_root_matches else ''}"
        )
        for p in tree.problems:
            where = f" {p.stream_id} v{p.version} (position {p.position}, leaf {p.leaf_index})"
            print(f"TREE{where if p.leaf_index is not None else ''}: {p.reason}")
    sys.exit(0 if report.intact else 1)


def log_key_command(args: argparse.Namespace) -> None:
    """log-key create [--out FILE] [--origin NAME] | log-key show [--out FILE]: the
    checkpoint signing key lives in a file, never in the database."""
    from entente_verify.note import Signer
    from store.transparency import DEFAULT_ORIGIN, create_key_file

    path = Path(args.out)
    if args.action == "create":
        try:
            signer = create_key_file(path, args.origin or DEFAULT_ORIGIN)
        except FileExistsError:
            sys.exit(f"{path} exists; not overwriting a signing key")
        print(f"wrote {path}; start the worker with ENTENTE_LOG_KEY_FILE={path}", file=sys.stderr)
    else:
        signer = Signer.parse(path.read_text())
    print(signer.verifier.text())


def audit_bundle_command(args: argparse.Namespace) -> None:
    """audit-bundle (--pair KZ-US | --stream ID) --out FILE [--known-size N …]."""
    from api.relationships import parse_pair
    from reporting.bundles import relationship_events
    from store.event_store import EventStore
    from store.transparency import TreeUnavailable, bundle

    if bool(args.pair) == bool(args.stream):
        sys.exit("audit-bundle needs --pair or --stream (one of them)")

    async def work(pool: Any) -> bytes:
        if args.pair:
            a, b = parse_pair(args.pair)
            return await bundle(
                pool, f"{a}-{b}", lambda: relationship_events(pool, a, b), args.known_size
            )
        return await bundle(
            pool, args.stream, lambda: EventStore(pool).read_stream(args.stream), args.known_size
        )

    try:
        content = asyncio.run(_with_pool(serving_url(args), work))
    except TreeUnavailable as error:
        sys.exit(f"entente: {error}")
    Path(args.out).write_bytes(content)
    events = len(content.splitlines()) - 1
    print(f"{events} events -> {args.out}; check them with python -m entente_verify")


def demo(args: argparse.Namespace) -> None:
    """Load the golden scenario (idempotent)."""
    from api.demo import load_demo

    progress = Progress("demo load", "commands")
    written = asyncio.run(
        _with_pool(serving_url(args), lambda pool: load_demo(pool, progress=progress.show))
    )
    progress.done()
    print(f"demo: {written} new events")


def projections_command(args: argparse.Namespace) -> None:
    """projections status | rebuild NAME [--wait] | catch-up."""
    from projections import running
    from projections.registry import NAMES
    from projections.status import projection_status

    url = serving_url(args)
    if args.action == "status":
        for s in asyncio.run(_with_pool(url, projection_status)):
            print(
                f"{s.projection}\t{s.state}\tapplied={s.events_applied}"
                f"\tlag={s.lag_events} events/{s.lag_seconds}s"
            )
    elif args.action == "catch-up":
        print(f"applied {asyncio.run(running.catch_up(url))} events")
    elif args.name not in NAMES:
        sys.exit(f"entente: rebuild which projection? one of: {', '.join(NAMES)}")
    elif args.wait:
        asyncio.run(_rebuild_and_wait(url, args.name))
        print(f"rebuilt {args.name} and swapped it in")
    elif asyncio.run(running.rebuild(url, args.name)):
        print(f"rebuilt {args.name} and swapped it in")
    else:
        print(
            f"rebuild of {args.name} requested; the worker that owns it will swap it in"
            " (add --wait to watch it)"
        )


class Progress:
    """A progress bar on a terminal, plain lines otherwise (a log, a CI job): one line
    each time the fraction moves by a tenth, so a file gets a handful of lines."""

    def __init__(self, what: str, unit: str, out: TextIO | None = None) -> None:
        self.what, self.unit = what, unit
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self._shown = -1

    def show(self, done: int, total: int) -> None:
        """Report `done` of `total` (total 0: nothing to do yet)."""
        tenth = 10 * done // total if total else 10
        if self.tty:
            bar = "#" * (30 * done // total if total else 30)
            self.out.write(f"\r{self.what} [{bar:<30}] {done}/{total} {self.unit}")
            self.out.flush()
        elif tenth != self._shown:
            print(f"{self.what}: {done}/{total} {self.unit}", file=self.out, flush=True)
        self._shown = tenth

    def done(self) -> None:
        """End the bar's line on a terminal."""
        if self.tty:
            self.out.write("\n")
            self.out.flush()


async def _rebuild_and_wait(url: str, name: str, poll: float = 0.5) -> None:
    """Rebuild `name` (here, or by the worker that owns it) and show the shadow's
    progress until the rebuilt tables are swapped in."""
    from projections import running
    from projections.rebuild import shadow_name
    from projections.status import projection_status

    progress = Progress(f"rebuild {name}", "events")
    rebuilding = asyncio.create_task(running.rebuild(url, name))
    pool = await create_pool(url, max_size=2)
    try:
        while True:
            found = {s.projection: s for s in await projection_status(pool)}
            shadow, live = found.get(shadow_name(name)), found.get(name)
            if shadow is not None:
                progress.show(shadow.events_applied, shadow.events_applied + shadow.lag_events)
            if rebuilding.done() and live is not None:
                rebuilt_here = rebuilding.result()
                if rebuilt_here or (shadow is None and live.rebuild_requested_at is None):
                    progress.show(live.events_applied, live.events_applied + live.lag_events)
                    break
            await asyncio.sleep(poll)
    finally:
        progress.done()
        await pool.close()


def export_command(args: argparse.Namespace) -> None:
    """export REPORT --format F --out FILE [--param k=v …] [--position TOKEN]."""
    import msgspec

    from projections.registry import create_engine
    from reporting.catalogue import ReportParameters
    from reporting.exporting import produce
    from store.event_store import EventStore
    from store.records import Cursor

    url = serving_url(args)
    params = dict(item.split("=", 1) for item in args.param)
    parameters = msgspec.convert(params, ReportParameters, strict=False)
    position = Cursor.decode(args.position) if args.position else None

    async def work(pool: Any) -> Any:
        engine = create_engine(url, pool_size=2)
        try:
            return await produce(
                engine, EventStore(pool), url, args.report, parameters, args.format, position
            )
        finally:
            await engine.dispose()

    export = asyncio.run(_with_pool(url, work))
    out = Path(args.out)
    out.write_bytes(export.content)
    manifest = out.with_name(out.name + ".manifest.json")
    manifest.write_bytes(msgspec.json.format(msgspec.json.encode(export.manifest), indent=2))
    print(
        f"{export.manifest.row_count} rows at position {export.manifest.position}"
        f" -> {out} (sha256 {export.manifest.sha256})"
    )


def schedules_command(args: argparse.Namespace) -> None:
    """schedules list | create NAME … | pause NAME | resume NAME | delete NAME."""
    import datetime as dt

    import msgspec

    from reporting import schedules as s

    url = serving_url(args)

    async def work(pool: Any) -> None:
        found = {x.name: x for x in await s.list_schedules(pool)}
        if args.action == "list":
            for x in found.values():
                state = "paused" if x.paused else f"next {x.next_run_at:%Y-%m-%d %H:%M} UTC"
                print(
                    f"{x.name}\t{x.cron} {x.timezone}\t{x.report}.{x.format}"
                    f" -> {x.destination}\t{state}"
                )
            return
        now = dt.datetime.now(dt.UTC)
        if args.action == "create":
            spec = s.ScheduleSpec(
                name=args.name,
                cron=args.cron,
                timezone=args.timezone,
                report=args.report,
                format=args.format,
                destination=args.destination or args.name,
                retention=args.retention,
            )
            print(f"created; first run {(await s.create_schedule(pool, spec, now)).next_run_at}")
            return
        if args.name not in found:
            sys.exit(f"no schedule named {args.name!r}")
        schedule = found[args.name]
        if args.action == "delete":
            await s.delete_schedule(pool, schedule.schedule_id)
            return
        fields = {
            k: v
            for k, v in msgspec.to_builtins(schedule).items()
            if k in s.ScheduleSpec.__struct_fields__
        }
        spec = msgspec.convert(
            {**fields, "paused": args.action == "pause"}, s.ScheduleSpec, strict=False
        )
        await s.replace_schedule(pool, schedule.schedule_id, spec, now)

    asyncio.run(_with_pool(url, work))


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parser() -> argparse.ArgumentParser:
    """The argument parser, one sub-command per job."""
    top = argparse.ArgumentParser(prog="entente", description=__doc__)
    top.add_argument(
        "--database-url", default=None, help="the owner (migrations); default DATABASE_URL"
    )
    top.add_argument(
        "--app-database-url",
        default=None,
        help="the least-privilege login everything else uses; default ENTENTE_APP_DATABASE_URL,"
        " else the owner URL as user entente_service",
    )
    top.add_argument(
        "--read-database-url",
        default=None,
        help=f"serve: a streaming replica for reads (a least-privilege login); default"
        f" {READ_URL_ENV}, else every read goes to the primary",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in ("run", "serve"):
        p = sub.add_parser(
            name,
            help="migrate, load the demo, make a local key and serve (make run)"
            if name == "run"
            else "serve the API (uvicorn on uvloop and httptools, --workers N processes)",
            description=run.__doc__ if name == "run" else serve.__doc__,
        )
        p.add_argument(
            "--host", default=os.environ.get("HOST", "127.0.0.1"), help="default: HOST or 127.0.0.1"
        )
        p.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("PORT", "8000")),
            help="default: PORT or 8000",
        )
        p.add_argument(
            "--with-worker" if name == "serve" else "--without-worker",
            action="store_true",
            help="run the background loops (projections, exports, checkpoints, webhooks)"
            " inside this process"
            if name == "serve"
            else "do not run the background loops here (run `entente worker` instead)",
        )
        if name == "serve":
            p.add_argument(
                "--workers",
                type=_positive,
                default=int(os.environ.get("ENTENTE_WORKERS", "1")),
                help="API processes sharing the port (default: ENTENTE_WORKERS or 1);"
                " see docs/OPERATIONS.md 'Several API processes'",
            )
    sub.add_parser(
        "migrate",
        help="migrate the database to the latest schema (as the owner)",
        description=migrate.__doc__,
    )
    k = sub.add_parser("keys", help="create, list or revoke API keys", description=keys.__doc__)
    k.add_argument("action", choices=["create", "list", "revoke"])
    k.add_argument("name", nargs="?", help="the key's name (create, revoke)")
    k.add_argument(
        "--roles",
        default="reader",
        help=f"comma-separated, of {', '.join(ROLES)} (default: reader)",
    )
    ct = sub.add_parser(
        "calendar-tokens",
        help="calendar feed tokens (never API keys in URLs)",
        description=calendar_tokens_command.__doc__,
    )
    ct.add_argument("action", choices=["create", "list", "revoke"])
    ct.add_argument("name", nargs="?", help="create: a name; revoke: the token id")
    ct.add_argument("--party", default=None, help="show only this party's feed")
    ct.add_argument("--owner", default="cli", help="who the token is for (default: cli)")
    w = sub.add_parser(
        "worker",
        help="run the background loops: projections, exports, checkpoints, webhooks",
        description="Projections, exports, the transparency checkpointer and webhook"
        " deliveries as supervised loops, until SIGTERM.",
    )
    w.add_argument(
        "--health-port",
        type=int,
        default=int(os.environ["ENTENTE_WORKER_HEALTH_PORT"])
        if os.environ.get("ENTENTE_WORKER_HEALTH_PORT")
        else None,
        help="answer /health/live, /health/ready and /metrics on this port",
    )
    pj = sub.add_parser(
        "projections",
        help="projection status, rebuild, catch-up",
        description=projections_command.__doc__,
    )
    pj.add_argument("action", choices=["status", "rebuild", "catch-up"])
    pj.add_argument("name", nargs="?", help="rebuild: the projection's name")
    pj.add_argument(
        "--wait",
        action="store_true",
        help="rebuild: show progress and return once the rebuilt tables are swapped in",
    )
    e = sub.add_parser(
        "export",
        help="write one report to a file (and its manifest)",
        description=export_command.__doc__,
    )
    e.add_argument("report", help="a report name (GET /reports/catalogue lists them)")
    e.add_argument(
        "--format", default="csv", choices=["csv", "ndjson", "xlsx", "parquet"], help="default csv"
    )
    e.add_argument("--out", required=True, help="the file to write")
    e.add_argument("--param", action="append", default=[], help="name=value, repeatable")
    e.add_argument("--position", default=None, help="a position token (default: now)")
    sc = sub.add_parser(
        "schedules", help="manage export schedules", description=schedules_command.__doc__
    )
    sc.add_argument("action", choices=["list", "create", "pause", "resume", "delete"])
    sc.add_argument("name", nargs="?", help="the schedule's name (all but list)")
    sc.add_argument(
        "--cron", default="0 8 * 1,4,7,10 1#1", help="five-field cron expression or @alias"
    )
    sc.add_argument("--timezone", default="Asia/Almaty", help="IANA time zone of --cron")
    sc.add_argument("--report", default="commitments-status", help="the report to export")
    sc.add_argument("--format", default="csv", help="csv, ndjson, xlsx or parquet")
    sc.add_argument("--destination", default=None, help="folder name (default: the name)")
    sc.add_argument("--retention", type=int, default=10, help="files kept (default 10)")
    d = sub.add_parser("demo", help="load the demo scenario (idempotent)", description=demo.__doc__)
    d.add_argument("action", choices=["load"])
    v = sub.add_parser(
        "verify", help="recompute every hash chain", description=verify_command.__doc__
    )
    v.add_argument("--stream", default=None, help="check one stream only")
    lk = sub.add_parser(
        "log-key",
        help="the transparency log's signing key (a file)",
        description=log_key_command.__doc__,
    )
    lk.add_argument("action", choices=["create", "show"])
    lk.add_argument("--out", default=str(LOCAL_LOG_KEY_FILE), help="the key file")
    lk.add_argument("--origin", default=None, help="the log's name (default entente.local/…)")
    ab = sub.add_parser(
        "audit-bundle",
        help="events with inclusion proofs and the checkpoint",
        description=audit_bundle_command.__doc__,
    )
    ab.add_argument("--pair", default=None, help="a pair's relationship stream, e.g. KZ-US")
    ab.add_argument("--stream", default=None, help="one stream by id")
    ab.add_argument("--out", required=True, help="the bundle file to write")
    ab.add_argument(
        "--known-size",
        type=int,
        action="append",
        default=[],
        help="a checkpoint size you hold, for a consistency proof (repeatable)",
    )
    return top


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `entente` console script."""
    args = parser().parse_args(argv)
    try:
        command(args)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:
        if os.environ.get(DEBUG_ENV):
            raise
        sys.exit(f"entente: {redact(one_line(error))}")


def one_line(error: Exception) -> str:
    """What went wrong, in one line a user can act on (no traceback)."""
    if database_unavailable(error):
        return f"the database does not answer ({summary(error)})"
    if isinstance(error, ServingRoleRefused | ValueError):
        lines = str(error).strip().splitlines()  # a mistake the message explains
        return lines[0] if lines else type(error).__name__
    return f"{summary(error)} (set {DEBUG_ENV}=1 for the traceback)"


def command(args: argparse.Namespace) -> None:
    """Run one sub-command."""
    if args.command == "run":
        run(args)
    elif args.command == "serve":
        serve(
            serving_url(args),
            args.host,
            args.port,
            with_worker=args.with_worker,
            workers=args.workers,
            read_url=read_serving_url(args),
        )
    elif args.command == "migrate":
        migrate(args)
        print("migrated to head")
    elif args.command == "keys":
        if args.action != "list" and not args.name:
            sys.exit("keys create/revoke need a NAME")
        keys(args)
    elif args.command == "calendar-tokens":
        if args.action != "list" and not args.name:
            sys.exit("calendar-tokens create/revoke need a NAME or TOKEN_ID")
        calendar_tokens_command(args)
    elif args.command == "demo":
        demo(args)
    elif args.command == "worker":
        from api.background import serve_worker
        from api.log_redaction import install

        install()

        asyncio.run(serve_worker(serving_url(args), args.health_port))
    elif args.command == "projections":
        projections_command(args)
    elif args.command == "export":
        export_command(args)
    elif args.command == "schedules":
        if args.action != "list" and not args.name:
            sys.exit("schedules create/pause/resume/delete need a NAME")
        schedules_command(args)
    elif args.command == "log-key":
        log_key_command(args)
    elif args.command == "audit-bundle":
        audit_bundle_command(args)
    else:
        verify_command(args)


if __name__ == "__main__":
    main()

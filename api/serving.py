"""How `entente serve` runs the API: uvicorn on uvloop and httptools, in one process or in
several sharing one listening socket.

Why this stack (measured beside plain asyncio + h11 and granian, docs/OPERATIONS.md): the
C event loop and parser take most of the server's own cost off each request, and uvicorn
keeps the logging set-up and the stream-closing shutdown the service already relies on.
Its httptools protocol is used with each response's writes joined into one `send()`
(api/coalescing.py).

Several processes: the parent binds the port once and forks N children that all accept
on that socket (forked before any event loop, thread or connection exists in the parent,
so a child inherits nothing it could share by mistake, and starts at once where a spawned
interpreter would import everything again); the kernel hands each new connection to
whichever child accepts first, so a busy child takes fewer. Each child builds its own app
(pools, event store, metrics) after it starts. When a child exits by itself the parent
stops the others and exits non-zero, leaving restarts to the process manager (systemd,
Docker, Kubernetes) rather than looping on a broken start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
from typing import Any

import uvicorn

from api.coalescing import CoalescingHttpTools
from api.feed import close_streams
from api.log_redaction import logging_config

URL_ENV = "ENTENTE_SERVE_DATABASE_URL"
"""How the serving URL reaches the app factory, which uvicorn imports by name in every
process (it cannot be handed an app object across a spawn)."""
READ_URL_ENV = "ENTENTE_SERVE_READ_DATABASE_URL"
"""The read database (a streaming replica) for every serving process, if any."""
WITH_WORKER_ENV = "ENTENTE_SERVE_WITH_WORKER"
"""`1`: each serving process also runs the background loops (`serve --with-worker`)."""

log = logging.getLogger("entente.serving")


def served_app() -> Any:
    """The app one server process serves, built in that process.

    A process that serves only (no background loops) freezes what is alive once the app
    has started (`create_app(freeze_after_startup=True)`).
    """
    from api.app import create_app

    with_worker = os.environ.get(WITH_WORKER_ENV) == "1"
    return create_app(
        os.environ[URL_ENV],
        run_projections=with_worker,
        read_database_url=os.environ.get(READ_URL_ENV) or None,
        freeze_after_startup=not with_worker,
    )


def _litestar_app(config: uvicorn.Config) -> Any:
    """The Litestar app inside uvicorn's wrappers, once loaded."""
    app = getattr(config, "loaded_app", None)
    while app is not None and not hasattr(app, "state"):
        app = getattr(app, "app", None)
    return app


class Server(uvicorn.Server):
    """uvicorn, ending the live event streams first when asked to stop: it waits for
    open connections before shutting the app down, and a stream would never end."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        """End the streams (api/feed.py), then stop as uvicorn does."""
        app = _litestar_app(self.config)
        if app is not None:
            with contextlib.suppress(RuntimeError):  # no loop running: nothing streams
                asyncio.get_running_loop().call_soon_threadsafe(close_streams, app)
        super().handle_exit(sig, frame)


def server_config(url: str, host: str, port: int, **stack: Any) -> uvicorn.Config:
    """uvicorn's settings: uvloop and httptools (one write per response, api/coalescing.py)
    unless `stack` says otherwise (the benchmark measures the old stack with it); every
    line, the access log's included, through RedactSecrets and structlog
    (api/log_redaction.py, api/structured_logs.py)."""
    os.environ[URL_ENV] = url
    settings: dict[str, Any] = {"loop": "uvloop", "http": CoalescingHttpTools, **stack}
    return uvicorn.Config(
        "api.serving:served_app",
        factory=True,
        host=host,
        port=port,
        log_level="info",
        log_config=logging_config(),
        **settings,
    )


def serve(
    url: str,
    host: str,
    port: int,
    *,
    with_worker: bool = False,
    workers: int = 1,
    read_url: str | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT, in `workers` processes on one port."""
    os.environ[WITH_WORKER_ENV] = "1" if with_worker else "0"
    os.environ[READ_URL_ENV] = read_url or ""
    config = server_config(url, host, port)
    if workers <= 1:
        Server(config).run()
        return
    sys.exit(_serve_in_processes(config, workers))


def _serve_in_processes(config: uvicorn.Config, workers: int) -> int:
    """Run `workers` children on one bound socket until a signal (0) or a child's own exit
    (1, the others stopped)."""
    sock = config.bind_socket()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    fork = multiprocessing.get_context("fork")
    children = [
        fork.Process(target=Server(config).run, kwargs={"sockets": [sock]}, daemon=False)
        for _ in range(workers)
    ]
    for child in children:
        child.start()
    log.info("serving on %s:%d in %d processes", config.host, config.port, workers)
    status = 0
    while not stop.wait(0.5):
        if any(not child.is_alive() for child in children):
            log.error("a serving process exited by itself; stopping the others")
            status = 1
            break
    for child in children:
        if child.is_alive() and child.pid is not None:
            os.kill(child.pid, signal.SIGTERM)
    for child in children:
        child.join()
    sock.close()
    return status

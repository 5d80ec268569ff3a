"""Loading the golden scenario through the same command path the API uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.demo import golden_scenario
from service.handling import handle
from store.event_store import EventStore

DEMO_ACTOR = "demo-loader"


async def load_demo(pool: Any, progress: Callable[[int, int], None] | None = None) -> int:
    """Run every command of the article once; returns how many events were written.

    Each command carries a fixed idempotency key, so loading twice writes nothing new.
    `progress(done, total)` hears about each command (the CLI shows a bar).
    """
    store = EventStore(pool)
    written = 0
    commands = list(golden_scenario())
    for number, command in enumerate(commands, start=1):
        decision = await handle(
            store,
            command,
            metadata={
                "actor": DEMO_ACTOR,
                "request_id": f"demo-{number}",
                "correlation_id": "demo",
                "command": type(command).__name__,
            },
            idempotency_key=f"{DEMO_ACTOR}:{number}",
            fingerprint=type(command).__name__.encode() + str(number).encode(),
        )
        written += 0 if decision.replayed else len(decision.positions)
        if progress is not None:
            progress(number, len(commands))
    await store.settle()
    return written

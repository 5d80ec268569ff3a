"""Python's cycle collector, kept out of a projection batch's way.

A batch allocates tens of thousands of short-lived objects (records, events, states, rows),
and the collections they trigger walk every object still alive: the batch's own page and
steps, and the cached states. Measured, that was ~40 % of a catch-up's CPU with the
collector on during batches, and still ~20 % when it ran once after each batch (a young
generation of a whole batch's survivors walked every time).

So the collector is off for the length of a batch, and what the batch leaves alive goes
straight to the oldest generation without being walked (`gc.freeze` then `gc.unfreeze`,
which moves objects between generations without examining them). The states and events a
batch leaves behind hold no reference cycles and are freed by reference counting when
they are dropped; whatever cyclic garbage a batch does leave (transactions, futures) is
swept by a full collection every `SWEEP_EVERY` batches, so it stays bounded.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

SWEEP_EVERY = 64
"""Batches between two full collections (~100k events: one full walk, tens of ms)."""


class Collector:
    """Pauses the cycle collector around batches; one per runner."""

    def __init__(self) -> None:
        self._batches = 0

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """The collector off for one batch (unless someone else turned it off already)."""
        enabled = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            if enabled:
                self._settle()
                gc.enable()

    def _settle(self) -> None:
        """The batch's survivors to the oldest generation, unwalked; a full sweep now and
        then. Left alone when objects are frozen on purpose (a pre-fork server's)."""
        self._batches += 1
        if self._batches % SWEEP_EVERY == 0:
            gc.collect()
        elif not gc.get_freeze_count():
            gc.freeze()
            gc.unfreeze()

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
they are dropped; whatever cyclic garbage a batch does leave (transactions, futures: about
a dozen objects a batch, measured) is swept by a full collection now and then, so it
stays bounded.

A full collection walks every object alive, the cached states above all: ~1 s at 400k
events (1.3M objects), growing with the cache. At a fixed interval (it was every 64
batches) that was ~15 % of a catch-up's CPU at 400k events and more beyond, and a
worker applying live batches of a few events paused for that second every 64 of them.
So a sweep waits until the batches since the last one have cost `1 / SWEEP_SHARE` times
what that sweep cost: its share of the CPU stays under `SWEEP_SHARE` however large the
cache, while the garbage it waits for stays small (`SWEEP_AT_MOST` batches at most, and
`SWEEP_SECONDS` at most: in a process that also serves HTTP, as `entente run` does, the
requests' cyclic garbage alive at a batch's end is frozen with the batch's, and requests,
unlike batches, are not bounded in number).
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import AsyncIterator

SWEEP_EVERY = 64
"""Batches at least between two full collections (a full walk of a small cache costs tens
of ms; a catch-up's batches are `runner.BATCH_SIZE` events each)."""
SWEEP_SHARE = 0.02
"""The largest share of the batches' CPU time that full collections may take."""
SWEEP_AT_MOST = 4096
"""Batches at most between two full collections: ~50k garbage objects, a few MB."""
SWEEP_SECONDS = 300.0
"""Wall-clock seconds at most between two full collections, once `SWEEP_EVERY` batches
have run: a bound on the garbage of whatever else the process does meanwhile."""


class Collector:
    """Pauses the cycle collector around batches; one per runner."""

    def __init__(self) -> None:
        self._batches = 0
        """Batches since the last full collection."""
        self._work = 0.0
        """CPU seconds those batches took."""
        self._sweep = 0.0
        """CPU seconds the last full collection took."""
        self._swept_at = time.monotonic()
        """When the last full collection ran (or the collector was made)."""

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """The collector off for one batch (unless someone else turned it off already)."""
        enabled = gc.isenabled()
        gc.disable()
        started = time.process_time()
        try:
            yield
        finally:
            if enabled:
                self._work += time.process_time() - started
                self._settle()
                gc.enable()

    def _settle(self) -> None:
        """The batch's survivors to the oldest generation, unwalked; a full sweep when one
        is due. Left alone when objects are frozen on purpose (a pre-fork server's)."""
        self._batches += 1
        since = time.monotonic() - self._swept_at
        if sweep_due(self._batches, self._work, self._sweep, since):
            started = time.process_time()
            gc.collect()
            self._sweep = time.process_time() - started
            self._swept_at = time.monotonic()
            self._batches, self._work = 0, 0.0
        elif not gc.get_freeze_count():
            gc.freeze()
            gc.unfreeze()


def sweep_due(batches: int, work: float, sweep: float, since: float = 0.0) -> bool:
    """Whether a full collection is due after `batches` batches that took `work` CPU
    seconds in the `since` wall-clock seconds since the last one, which took `sweep`."""
    if batches < SWEEP_EVERY:
        return False
    return batches >= SWEEP_AT_MOST or since >= SWEEP_SECONDS or work * SWEEP_SHARE >= sweep

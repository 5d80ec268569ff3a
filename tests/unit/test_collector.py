"""When the projections' runner sweeps the cycle collector's garbage (projections.collector).

A full collection walks every cached state, so its cost grows with the cache: it must wait
until the batches since the last one have cost enough that it stays a small share of
the CPU, yet never wait so long that a batch's leftover cyclic garbage piles up.
"""

from __future__ import annotations

import gc

from projections.collector import (
    SWEEP_AT_MOST,
    SWEEP_EVERY,
    SWEEP_SECONDS,
    SWEEP_SHARE,
    Collector,
    sweep_due,
)


def test_no_sweep_before_the_fewest_batches():
    assert not sweep_due(SWEEP_EVERY - 1, work=1e6, sweep=0.0)
    assert sweep_due(SWEEP_EVERY, work=0.0, sweep=0.0)


def test_a_costly_sweep_waits_for_batches_that_cost_more():
    sweep = 1.0
    enough = sweep / SWEEP_SHARE
    assert not sweep_due(SWEEP_EVERY, work=enough / 2, sweep=sweep)
    assert sweep_due(SWEEP_EVERY, work=enough, sweep=sweep)


def test_garbage_never_waits_longer_than_the_most_batches():
    assert sweep_due(SWEEP_AT_MOST, work=0.0, sweep=1e6)


def test_garbage_never_waits_longer_than_the_most_seconds():
    """Other work in the process (HTTP in `entente run`) leaves garbage the batches freeze."""
    assert not sweep_due(SWEEP_EVERY, work=0.0, sweep=1e6, since=SWEEP_SECONDS / 2)
    assert sweep_due(SWEEP_EVERY, work=0.0, sweep=1e6, since=SWEEP_SECONDS)
    assert not sweep_due(SWEEP_EVERY - 1, work=0.0, sweep=1e6, since=SWEEP_SECONDS * 10)


async def test_the_collector_is_off_during_a_batch_and_on_after_it():
    collector = Collector()
    for _ in range(SWEEP_EVERY + 1):  # a sweep among them
        async with collector.paused():
            assert not gc.isenabled()
        assert gc.isenabled()
    assert gc.get_freeze_count() == 0

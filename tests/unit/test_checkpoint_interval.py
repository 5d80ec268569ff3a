"""The checkpoint signing interval comes from ENTENTE_CHECKPOINT_INTERVAL when set."""

from __future__ import annotations

import pytest

from store.transparency import CHECKPOINT_INTERVAL, INTERVAL_ENV, checkpoint_interval


def test_without_the_variable_the_default_interval_applies():
    assert checkpoint_interval({}) == CHECKPOINT_INTERVAL
    assert checkpoint_interval({INTERVAL_ENV: " "}) == CHECKPOINT_INTERVAL


@pytest.mark.parametrize(("text", "seconds"), [("0.25", 0.25), ("10", 10.0), (" 3 ", 3.0)])
def test_the_variable_sets_the_interval_in_seconds(text: str, seconds: float):
    assert checkpoint_interval({INTERVAL_ENV: text}) == seconds


@pytest.mark.parametrize("text", ["0", "-1", "soon", "nan", "inf"])
def test_anything_but_a_positive_number_of_seconds_is_refused(text: str):
    with pytest.raises(ValueError, match=INTERVAL_ENV):
        checkpoint_interval({INTERVAL_ENV: text})

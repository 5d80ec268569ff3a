"""Numbers from the environment are checked once, at start (store/settings.py)."""

from __future__ import annotations

import pytest

from delivery.delivering import DeliverySettings
from projections.status import max_lag_seconds
from store.settings import positive_number


@pytest.mark.parametrize("text", ["0", "-1", "soon", "nan", "inf", "1e400"])
def test_a_positive_number_is_positive_and_finite(monkeypatch, text):
    monkeypatch.setenv("ENTENTE_X", text)
    with pytest.raises(ValueError, match="ENTENTE_X"):
        positive_number("ENTENTE_X", "1")


def test_zero_is_taken_only_where_it_turns_a_check_off(monkeypatch):
    monkeypatch.setenv("ENTENTE_READY_MAX_LAG_SECONDS", "0")
    assert max_lag_seconds() == 0
    monkeypatch.setenv("ENTENTE_READY_MAX_LAG_SECONDS", "soon")
    with pytest.raises(ValueError, match="ENTENTE_READY_MAX_LAG_SECONDS"):
        max_lag_seconds()


@pytest.mark.parametrize("name", ["ENTENTE_WEBHOOK_BATCH_SIZE", "ENTENTE_WEBHOOK_MAX_FAILURES"])
def test_webhook_counts_are_positive_whole_numbers(monkeypatch, name):
    monkeypatch.setenv(name, "0")
    with pytest.raises(ValueError, match=name):
        DeliverySettings.from_env()
    monkeypatch.setenv(name, "2.5")
    with pytest.raises(ValueError, match=name):
        DeliverySettings.from_env()
    monkeypatch.setenv(name, "3")
    assert 3 in (DeliverySettings.from_env().batch_size, DeliverySettings.from_env().max_failures)


def test_the_app_does_not_start_with_a_malformed_readiness_bound(monkeypatch):
    """Not a 500 on every readiness probe later: the process stops at start, saying why."""
    from api.app import create_app

    monkeypatch.setenv("ENTENTE_READY_MAX_LAG_SECONDS", "one minute")
    with pytest.raises(ValueError, match="ENTENTE_READY_MAX_LAG_SECONDS"):
        create_app("postgresql://entente@127.0.0.1:1/never")

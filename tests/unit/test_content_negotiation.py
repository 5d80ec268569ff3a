"""Which form the change feed answers in, from the Accept header (api/audit.py)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        ("application/cloudevents-batch+json", True),
        ("application/cloudevents-batch+json;q=0.5, application/json", True),
        ("Application/CloudEvents-Batch+JSON", True),
        ("application/cloudevents-batch+json;q=0", False),
        ("application/cloudevents-batch+json; q=0.0", False),
        ("application/cloudevents-batch+json;q=x", False),
        ("*/*", False),
        ("", False),
    ],
)
def test_the_change_feed_answers_cloudevents_only_when_asked(accept, chosen):
    from api.audit import asks_for

    assert asks_for(accept, "application/cloudevents-batch+json") is chosen

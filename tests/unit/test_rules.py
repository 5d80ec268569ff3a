"""The status rules the read models store (issue 12), decided once in the domain."""

from __future__ import annotations

from typing import get_args

from domain import dialogue, visit


def test_a_session_is_upcoming_while_it_may_still_take_place() -> None:
    upcoming = {s for s in get_args(dialogue.SessionStatus) if dialogue.is_upcoming(s)}
    assert upcoming == {"scheduled", "postponed"}


def test_a_visit_is_open_while_it_may_still_be_made() -> None:
    statuses = ("planned", "confirmed", "postponed", "completed", "cancelled", "retracted")
    assert {s for s in statuses if visit.is_open(s)} == {"planned", "confirmed", "postponed"}

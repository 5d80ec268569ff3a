"""How deep a JSON body nests, measured before anything decodes it."""

from __future__ import annotations

import json

import pytest

from api.request_checks import MAX_JSON_DEPTH, json_depth


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"{}", 1),
        (b'"text"', 0),
        (b"7", 0),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"a": "[[[[[[[[[[", "b": "}}}"}', 1),
        (b'{"a": "\\"[[[[", "b": [[]]}', 3),
        (b'["\\\\", [[]]]', 3),
    ],
)
def test_depth_counts_brackets_outside_strings(body, depth):
    assert json_depth(body) == depth


def test_depth_stops_counting_past_the_limit():
    assert json_depth(b"[" * 100_000) == MAX_JSON_DEPTH + 1


def test_a_body_at_the_limit_measures_the_limit():
    body = json.dumps(json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)).encode()
    assert json_depth(body) == MAX_JSON_DEPTH

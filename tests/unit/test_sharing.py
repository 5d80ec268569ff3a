"""A state's map behaves as the dict it stands for, whether copied or shared.

`with_entry` and `without_entry` switch to `domain.sharing.SharedMap` once a map is large;
folds must give the same states and the same order either way (row order comes from it),
and every earlier version must stay as it was: a projection holds the state before and
after each event of a batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.decider import EMPTY, SHARED_FROM, with_entry, without_entry
from domain.sharing import SharedMap

Operation = tuple[bool, int, int]
"""(set or remove, key, value)."""

operations = st.lists(
    st.tuples(st.booleans(), st.integers(0, 3 * SHARED_FROM), st.integers()),
    max_size=400,
)


def _apply(operations: list[Operation]) -> list[tuple[Mapping[int, int], dict[int, int]]]:
    """Every version of the map beside the dict the same operations give."""
    mapping: Mapping[int, int] = EMPTY
    plain: dict[int, int] = {}
    versions = []
    for put, key, value in operations:
        if put:
            mapping, plain = with_entry(mapping, key, value), {**plain, key: value}
        else:
            mapping = without_entry(mapping, key)
            plain = {k: v for k, v in plain.items() if k != key}
        versions.append((mapping, plain))
    return versions


@settings(max_examples=200, deadline=None)
@given(operations)
def test_every_version_is_the_dict_it_stands_for(operations: list[Operation]) -> None:
    for mapping, plain in _apply(operations):
        assert list(mapping.items()) == list(plain.items())  # order included
        assert len(mapping) == len(plain)
        assert mapping == plain
        for key in range(3 * SHARED_FROM + 1):
            assert (key in mapping) == (key in plain)
            assert mapping.get(key) == plain.get(key)


def test_a_large_map_is_shared_and_keeps_earlier_versions() -> None:
    mapping: Mapping[Any, int] = EMPTY
    versions = []
    for n in range(1000):
        mapping = with_entry(mapping, n, n)
        versions.append(mapping)
    assert isinstance(mapping, SharedMap)
    assert [len(v) for v in versions] == list(range(1, 1001))
    assert dict(versions[499]) == {n: n for n in range(500)}
    removed = without_entry(mapping, 10)
    assert 10 not in removed and 10 in mapping
    back = with_entry(removed, 10, -1)
    assert list(back)[-1] == 10  # a removed key that comes back goes last, as in a dict
    assert list(with_entry(mapping, 10, -1))[10] == 10  # an updated key keeps its place

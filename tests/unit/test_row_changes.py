"""Which rows a batch rewrites: `projections.dialogues.changed` against the plain diff.

The dialogues projection replaces only the rows of entities that changed between the
state before a batch and the state after it. `changed` compares by identity first (an
untouched map or entity is the same object in both versions) and looks keys up only when
it must; whatever the shortcut, it must give what comparing the two maps as dicts gives,
for maps copied or shared (`domain.sharing`), entries added, changed, removed and
brought back, and entities that stop or start having a row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.decider import EMPTY, SHARED_FROM, with_entry, without_entry
from projections.dialogues import changed

Operation = tuple[bool, int, int]
"""(set or remove, key, value)."""

operations = st.lists(
    st.tuples(st.booleans(), st.integers(0, 2 * SHARED_FROM), st.integers(0, 5)), max_size=120
)


def _fold(start: Mapping[int, int], operations: list[Operation]) -> Mapping[int, int]:
    mapping = start
    for put, key, value in operations:
        mapping = with_entry(mapping, key, value) if put else without_entry(mapping, key)
    return mapping


def _kept(value: int) -> bool:
    return value % 3 != 0  # an entity that has no row (a retracted one)


def _plain(before: Mapping[int, int], after: Mapping[int, int]) -> tuple[set[int], dict[int, int]]:
    """The diff of the two maps' rows as dicts: rows that go, rows that come."""
    old = {k: v for k, v in before.items() if _kept(v)}
    new = {k: v for k, v in after.items() if _kept(v)}
    gone = {k for k in old if k not in new or old[k] != new[k]}
    come = {k: v for k, v in new.items() if k not in old or old[k] != v}
    return gone, come


@settings(max_examples=300, deadline=None)
@given(operations, operations)
def test_changed_is_the_plain_diff_of_the_rows(history: list[Operation], batch: list[Operation]):
    before = _fold(EMPTY, history)
    after = _fold(before, batch)
    gone, come = changed(before, after, _kept)
    assert len(gone) == len(set(gone)), "a row is deleted once"
    assert (set(gone), dict(come)) == _plain(before, after)
    assert len(come) == len(dict(come))


def test_an_untouched_map_has_nothing_to_rewrite():
    before = _fold(EMPTY, [(True, k, 1) for k in range(3 * SHARED_FROM)])
    assert changed(before, before, _kept) == ([], [])


def test_equal_entities_that_are_not_the_same_object_keep_their_rows():
    before: Mapping[str, Any] = with_entry(EMPTY, "a", [1, 2])
    after = with_entry(before, "a", [1, 2])
    assert changed(before, after, lambda _: True) == ([], [])

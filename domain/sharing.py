"""A read-only mapping that shares its entries with the mapping it was made from.

A state's maps are replaced, never changed: evolving adds one entry to a copy. Copying a
whole dict per event makes a stream's fold quadratic in its length, and some streams grow
with the register's history (a relationship's indicators: thousands of entries per pair at
a million events). ``SharedMap`` keeps a frozen base dict and a small overlay of what
changed since; a new version copies only the overlay, and the base is rebuilt once the
overlay has grown to about the square root of its size, so an update costs O(√n) instead
of O(n). It behaves as the dict it stands for, insertion order included (an updated key
keeps its place; a removed key that comes back goes last), so folds give the same states
and the same row order as with plain dicts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from math import isqrt
from typing import Any, Generic, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

_NONE: frozenset[Any] = frozenset()
_MISSING: Any = object()


class SharedMap(Mapping[K, V], Generic[K, V]):
    """An immutable ordered mapping: ``base`` with ``changed`` values for some of its keys,
    ``removed`` keys, then ``added`` keys (new ones, or removed ones that came back)."""

    __slots__ = ("_added", "_base", "_changed", "_len", "_removed")

    def __init__(
        self,
        base: dict[K, V],
        changed: dict[K, V] | None = None,
        removed: frozenset[K] = _NONE,
        added: dict[K, V] | None = None,
    ) -> None:
        self._base = base
        self._changed: dict[K, V] = changed or {}
        self._removed = removed
        self._added: dict[K, V] = added or {}
        self._len = len(base) - len(removed) + len(self._added)

    def __getitem__(self, key: K) -> V:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value  # type: ignore[no-any-return]

    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, default: V | T, /) -> V | T: ...
    def get(self, key: K, default: Any = None) -> Any:
        added = self._added.get(key, _MISSING)
        if added is not _MISSING:
            return added
        if key in self._removed:
            return default
        changed = self._changed.get(key, _MISSING)
        return self._base.get(key, default) if changed is _MISSING else changed

    def __contains__(self, key: object) -> bool:
        return self.get(key, _MISSING) is not _MISSING  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[K]:
        removed = self._removed
        for key in self._base:
            if key not in removed:
                yield key
        yield from self._added

    def __len__(self) -> int:
        return self._len

    def __repr__(self) -> str:
        return f"SharedMap({dict(self.items())!r})"

    def with_entry(self, key: K, value: V) -> SharedMap[K, V]:
        """A new version with `key` set to `value`; this one is left as it is."""
        changed, removed, added = self._changed, self._removed, self._added
        if key in added or key in removed or key not in self._base:
            added = {**added, key: value}
        else:
            changed = {**changed, key: value}
        return self._next(changed, removed, added)

    def without_entry(self, key: K) -> SharedMap[K, V]:
        """A new version without `key` (the same one when it has no such key)."""
        changed, removed, added = self._changed, self._removed, self._added
        if key in added:
            added = {k: v for k, v in added.items() if k != key}
        elif key in self._base and key not in removed:
            removed = removed | {key}
            changed = {k: v for k, v in changed.items() if k != key}
        else:
            return self
        return self._next(changed, removed, added)

    def _next(
        self, changed: dict[K, V], removed: frozenset[K], added: dict[K, V]
    ) -> SharedMap[K, V]:
        if len(changed) + len(removed) + len(added) <= max(16, isqrt(len(self._base))):
            return SharedMap(self._base, changed, removed, added)
        base = self._base.copy()  # a dict's copy keeps the keys' hashes: none computed again
        for key in removed:
            del base[key]
        base.update(changed)
        base.update(added)
        return SharedMap(base)

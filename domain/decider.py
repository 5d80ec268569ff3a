"""The functional decider every aggregate follows, and the few moves they all share.

An aggregate is ``decide(state, command) -> events`` plus ``evolve(state, event) -> state``
from an ``initial_state``; loading is a fold of the stream. Keeping the three as plain
functions lets the store drive any aggregate the same way: load → fold → decide → append.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import reduce
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import msgspec

from domain.errors import AlreadyExists, NotFound, NothingChanges
from domain.sharing import SharedMap
from domain.values import check_partial_dates

S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E")
K = TypeVar("K")
V = TypeVar("V")

EMPTY: Mapping[Any, Any] = MappingProxyType({})


@dataclass(frozen=True)
class Decider(Generic[S, C, E]):
    name: str
    initial_state: S
    decide: Callable[[S, C], list[E]]
    evolve: Callable[[S, E], S]

    def fold(self, events: Iterable[E], state: S | None = None) -> S:
        return reduce(self.evolve, events, self.initial_state if state is None else state)


def dispatch(table: Mapping[type, Callable[..., Any]], message: object) -> Callable[..., Any]:
    """The handler for a command or event; a stray message is a programming error."""
    try:
        return table[type(message)]
    except KeyError:
        raise TypeError(f"{type(message).__name__} does not belong here") from None


def decided(table: Mapping[type, Callable[..., list[E]]], state: S, command: object) -> list[E]:
    """What a command causes: the checks every command passes (its partial dates'
    precision), then its own decision, which names any rule it would break."""
    check_partial_dates(command)
    return dispatch(table, command)(state, command)  # type: ignore[no-any-return]


def echo(event_type: Callable[..., E], command: msgspec.Struct, **facts: object) -> E:
    """Most events restate their command as a fact; the names of the fields are the same."""
    return event_type(**{**msgspec.structs.asdict(command), **facts})


SHARED_FROM = 32
"""Entries from which a state's map shares them between versions (domain.sharing) rather
than being copied whole: below it a copy is cheaper than the bookkeeping."""


def with_entry(mapping: Mapping[K, V], key: K, value: V) -> Mapping[K, V]:
    """A new version of a state's map with `key` set; the old one stays as it was."""
    if isinstance(mapping, SharedMap):
        return mapping.with_entry(key, value)
    copy = _copy(mapping)
    if len(copy) >= SHARED_FROM:
        return SharedMap(copy).with_entry(key, value)
    copy[key] = value
    return MappingProxyType(copy)


def without_entry(mapping: Mapping[K, V], key: K) -> Mapping[K, V]:
    """A new version of a state's map without `key`."""
    if isinstance(mapping, SharedMap):
        return mapping.without_entry(key)
    copy = _copy(mapping)
    copy.pop(key, None)
    return MappingProxyType(copy)


def _copy(mapping: Mapping[K, V]) -> dict[K, V]:
    """A dict of the mapping's entries; a read-only view's is copied with the hashes its
    dict keeps, where rebuilding one would hash every key again (uuids: in Python)."""
    if isinstance(mapping, MappingProxyType | dict):
        return mapping.copy()
    return dict(mapping)


def entry(mapping: Mapping[K, V], key: K, kind: str) -> V:
    if key not in mapping:
        raise NotFound(kind, key)
    return mapping[key]


def once(existing: object, wanted: object, kind: str, ident: object, events: list[E]) -> list[E]:
    """Creation is idempotent: the same fact again is a no-op, a different one is refused."""
    if existing is None:
        return events
    if existing == wanted:
        return []
    raise AlreadyExists(kind, ident)


def must_change(current: object, wanted: object, what: str) -> None:
    """A correction or change that repeats the record would only add noise to the history."""
    if current == wanted:
        raise NothingChanges(what)

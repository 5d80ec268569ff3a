"""The API-key cache: a key found live is trusted for a bounded time, never longer, never
for another secret, and never as a refusal (store/api_keys.py KeyCache)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from store.api_keys import CACHE_ENTRIES, ApiKey, KeyCache

CREATED = datetime(2026, 12, 2, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def key(key_id: str = "0a0a0a0a0a0a", name: str = "reader") -> ApiKey:
    return ApiKey(name=name, key_id=key_id, roles=["reader"], created_at=CREATED)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def test_a_key_is_trusted_until_the_bound_counted_from_before_its_lookup():
    clock = Clock()
    cache = KeyCache(5, clock)
    looked_up_at = cache.now()
    clock.now += 2  # a slow lookup: the bound still counts from its start
    cache.put(digest("s3cret"), key(), looked_up_at)
    clock.now = looked_up_at + 4.9
    assert cache.get("0a0a0a0a0a0a", digest("s3cret")) == key()
    clock.now = looked_up_at + 5
    assert cache.get("0a0a0a0a0a0a", digest("s3cret")) is None
    clock.now = looked_up_at + 4.9  # an expired entry is gone, not hidden
    assert cache.get("0a0a0a0a0a0a", digest("s3cret")) is None


def test_another_secret_with_a_cached_key_id_is_not_trusted():
    cache = KeyCache(5, Clock())
    cache.put(digest("s3cret"), key(), cache.now())
    assert cache.get("0a0a0a0a0a0a", digest("guessed")) is None
    assert cache.get("0a0a0a0a0a0a", digest("s3cret")) == key()  # the guess evicted nothing


def test_the_cache_holds_the_hash_never_the_secret():
    cache = KeyCache(5, Clock())
    cache.put(digest("plain-s3cret"), key(), cache.now())
    assert "plain-s3cret" not in repr(cache._entries)
    assert b"plain-s3cret" not in b"".join(entry[0] for entry in cache._entries.values())


def test_a_zero_bound_remembers_nothing():
    cache = KeyCache(0, Clock())
    cache.put(digest("s3cret"), key(), cache.now())
    assert cache.get("0a0a0a0a0a0a", digest("s3cret")) is None


def test_forgetting_a_revoked_key_drops_only_that_key():
    cache = KeyCache(5, Clock())
    cache.put(digest("a"), key("aaaaaaaaaaaa", "first"), cache.now())
    cache.put(digest("b"), key("bbbbbbbbbbbb", "second"), cache.now())
    cache.forget("first")
    assert cache.get("aaaaaaaaaaaa", digest("a")) is None
    assert cache.get("bbbbbbbbbbbb", digest("b")) == key("bbbbbbbbbbbb", "second")


def test_the_cache_is_bounded_in_size():
    cache = KeyCache(5, Clock())
    for n in range(CACHE_ENTRIES + 10):
        cache.put(digest(str(n)), key(f"{n:012x}", f"k{n}"), cache.now())
    assert len(cache._entries) == CACHE_ENTRIES
    assert cache.get(f"{0:012x}", digest("0")) is None  # the oldest went first
    last = CACHE_ENTRIES + 9
    assert cache.get(f"{last:012x}", digest(str(last))) == key(f"{last:012x}", f"k{last}")

"""The RFC 9162 Merkle tree: hashing, proofs and their verification (standard library only).

Shared by the server (which stores the tree's complete subtrees and answers proofs from
them) and the offline verifier (which trusts none of the server's code paths but these
few functions, short enough to read against RFC 9162 section 2.1).

A tree over n leaves is addressed by complete subtrees: node (level, index) covers leaves
[index * 2**level, (index + 1) * 2**level). Every subtree a proof needs is a range
[start, end) of the RFC's recursive split; such a range is a run of complete subtrees
(`subtrees`), so a proof is computed from a handful of stored nodes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

Range = tuple[int, int]
Node = tuple[int, int]


def leaf_hash(leaf: bytes) -> bytes:
    """MTH of one leaf: SHA-256(0x00 || leaf)."""
    return hashlib.sha256(LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The subtrees whose hashes form PATH(index, D[0:size]), in proof order."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[Range] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            path.append((start + k, end))
            end = start + k
        else:
            path.append((start, start + k))
            start, m = start + k, m - k
    path.reverse()
    return path


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The subtrees whose hashes form PROOF(first, D[0:second]), in proof order."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    path: list[Range] = []
    start, end, m, whole = 0, second, first, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            path.append((start + k, end))
            end = start + k
        else:
            path.append((start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        path.append((start, end))
    path.reverse()
    return path


def subtrees(start: int, end: int) -> list[Node]:
    """The complete subtrees (level, index) that make up [start, end), left to right."""
    pieces: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start % (1 << level):
            level -= 1
        pieces.append((level, start >> level))
        start += 1 << level
    return pieces


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its complete subtrees' hashes (as `subtrees` lists them)."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _shift_until_odd(fn: int, sn: int) -> tuple[int, int]:
    while fn & 1 == 0 and fn != 0:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to (RFC 9162 2.1.3.2), or None if malformed."""
    if not 0 <= index < size:
        return None
    fn, sn, result = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            fn, sn = _shift_until_odd(fn, sn)
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    return result if sn == 0 else None


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    """Whether `leaf` (a leaf hash) is leaf `index` of the tree of `size` with `root`."""
    return root_from_inclusion(index, size, leaf, path) == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> bool:
    """Whether the tree of `second` extends the tree of `first` (RFC 9162 2.1.4.2)."""
    if first == second:
        return not path and first_root == second_root
    if not 0 < first < second or not path:
        return first == 0 and not path
    proof = list(path)
    if first & (first - 1) == 0:
        proof.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_until_odd(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


STRIDE = 4
"""The server stores complete subtrees only at levels 0, 4, 8, …: a node between two
stored levels is folded from at most 2**(STRIDE-1) = 8 stored ones below it, and the
table holds about n/15 nodes instead of n."""


def stored_parts(level: int, index: int) -> list[Node]:
    """The stored subtrees (at a level that is a multiple of STRIDE) that make up node
    (level, index), left to right: the node itself when its level is stored."""
    base = level - level % STRIDE
    width = 1 << (level - base)
    return [(base, index * width + k) for k in range(width)]


def complete_hash(hashes: Sequence[bytes]) -> bytes:
    """The hash of a complete subtree from its 2**k equal-sized parts, left to right."""
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


class Frontier:
    """The right edge of a growing tree: the complete subtrees of its current size.

    Appending a leaf returns the interior nodes it completes, so whoever builds the tree
    stores each node exactly once, and the root of any size is folded from the frontier.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != len(subtrees(0, size)):
            raise ValueError("a frontier holds one hash per complete subtree of its size")
        self.size = size
        self._hashes = list(hashes)
        self._levels = [level for level, _ in subtrees(0, size)]

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; the (level, index, hash) nodes it completes, level >= 1."""
        self.size += 1
        made: list[tuple[int, int, bytes]] = []
        level, current = 0, leaf
        while self._levels and self._levels[-1] == level:
            self._levels.pop()
            current = node_hash(self._hashes.pop(), current)
            level += 1
            made.append((level, (self.size >> level) - 1, current))
        self._levels.append(level)
        self._hashes.append(current)
        return made

    def root(self) -> bytes:
        """MTH of the whole tree so far."""
        return fold(self._hashes)

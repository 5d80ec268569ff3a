"""Must-show 5: the RFC 9162 tree, its proofs and their verification.

The production code computes proofs from ranges of complete subtrees (what the database
stores); the reference here is RFC 9162's recursive definitions written out literally
(MTH, PATH, SUBPROOF), so the two are independent. The hashing is pinned to the test
vectors of an independent implementation (transparency-dev/merkle, testonly).
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from entente_verify.merkle import (
    EMPTY_ROOT,
    STRIDE,
    Frontier,
    complete_hash,
    consistency_ranges,
    fold,
    inclusion_ranges,
    leaf_hash,
    stored_parts,
    subtrees,
    verify_consistency,
    verify_inclusion,
)

# transparency-dev/merkle testonly/constants.go: leaf inputs and the roots of trees of
# sizes 1..8 built from them with RFC 6962/9162 hashing.
LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, literally (leaves are leaf inputs)."""
    if not leaves:
        return _h(b"")
    if len(leaves) == 1:
        return _h(b"\x00" + leaves[0])
    k = _k(len(leaves))
    return _h(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(m, D[n])."""
    if len(leaves) <= 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """RFC 9162 2.1.4.1 SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if whole else [mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, leaves[:k], whole), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


class Stored:
    """What the database holds: every complete subtree's hash, built by a Frontier."""

    def __init__(self, leaves: list[bytes]) -> None:
        frontier = Frontier()
        self.nodes: dict[tuple[int, int], bytes] = {}
        for i, leaf in enumerate(leaves):
            self.nodes[(0, i)] = leaf_hash(leaf)
            for level, index, value in frontier.append(leaf_hash(leaf)):
                self.nodes[(level, index)] = value
        self.root = frontier.root()

    def hashes(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        return [fold([self.nodes[n] for n in subtrees(a, b)]) for a, b in ranges]


leaf_lists = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


def test_roots_match_the_independent_test_vectors():
    for size in range(1, 9):
        assert mth(LEAF_INPUTS[:size]).hex() == ROOTS[size - 1]
        assert Stored(LEAF_INPUTS[:size]).root.hex() == ROOTS[size - 1]
    assert (
        Frontier().root()
        == EMPTY_ROOT
        == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    )


def test_proofs_over_the_test_vectors_match_the_rfc_definitions():
    tree = Stored(LEAF_INPUTS)
    root = bytes.fromhex(ROOTS[7])
    for m in range(8):
        proof = tree.hashes(inclusion_ranges(m, 8))
        assert proof == path(m, LEAF_INPUTS)
        assert verify_inclusion(m, 8, leaf_hash(LEAF_INPUTS[m]), proof, root)
    for first in range(1, 8):
        proof = tree.hashes(consistency_ranges(first, 8))
        assert proof == subproof(first, LEAF_INPUTS, True)
        old = bytes.fromhex(ROOTS[first - 1])
        assert verify_consistency(first, 8, old, root, proof)


@given(leaf_lists, st.data())
def test_inclusion_proofs_verify_and_match_the_rfc(leaves, data):
    size = len(leaves)
    m = data.draw(st.integers(0, size - 1))
    tree = Stored(leaves)
    assert tree.root == mth(leaves)
    proof = tree.hashes(inclusion_ranges(m, size))
    assert proof == path(m, leaves)
    assert verify_inclusion(m, size, leaf_hash(leaves[m]), proof, tree.root)


@given(leaf_lists, st.data())
def test_an_inclusion_proof_for_a_wrong_leaf_index_or_size_fails(leaves, data):
    size = len(leaves)
    m = data.draw(st.integers(0, size - 1))
    tree = Stored(leaves)
    proof = tree.hashes(inclusion_ranges(m, size))
    other = data.draw(st.binary(max_size=8))
    assume(other != leaves[m])
    assert not verify_inclusion(m, size, leaf_hash(other), proof, tree.root)
    wrong_index = data.draw(st.integers(0, size + 3))
    assume(wrong_index != m and leaves[wrong_index % size] != leaves[m])
    assert not verify_inclusion(wrong_index, size, leaf_hash(leaves[m]), proof, tree.root)
    wrong_size = data.draw(st.integers(1, size + 5))
    assume(wrong_size != size)
    other_tree = mth((leaves + [b"extra"] * 5)[:wrong_size])
    assert not verify_inclusion(m, wrong_size, leaf_hash(leaves[m]), proof, other_tree)
    if proof:
        flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
        assert not verify_inclusion(m, size, leaf_hash(leaves[m]), flipped, tree.root)


@given(leaf_lists, st.data())
def test_consistency_proofs_verify_and_match_the_rfc(leaves, data):
    second = len(leaves)
    first = data.draw(st.integers(1, second))
    tree = Stored(leaves)
    old = mth(leaves[:first])
    proof = tree.hashes(consistency_ranges(first, second)) if first < second else []
    if first < second:
        assert proof == subproof(first, leaves, True)
    assert verify_consistency(first, second, old, tree.root, proof)


@given(leaf_lists, st.data())
def test_a_consistency_proof_fails_for_a_rewritten_prefix_or_wrong_size(leaves, data):
    second = len(leaves)
    assume(second >= 2)
    first = data.draw(st.integers(1, second - 1))
    tree = Stored(leaves)
    proof = tree.hashes(consistency_ranges(first, second))
    victim = data.draw(st.integers(0, first - 1))
    replacement = data.draw(st.binary(max_size=8))
    assume(replacement != leaves[victim])
    rewritten = [*leaves[:victim], replacement, *leaves[victim + 1 :]]
    assert not verify_consistency(first, second, mth(rewritten[:first]), tree.root, proof)
    assert not verify_consistency(first, second, mth(leaves[:first]), mth(rewritten), proof)
    wrong = data.draw(st.integers(1, second))
    assume(wrong != first and mth(leaves[:wrong]) != mth(leaves[:first]))
    assert not verify_consistency(wrong, second, mth(leaves[:first]), tree.root, proof)


def test_a_tree_that_shrank_is_never_consistent():
    leaves = LEAF_INPUTS
    assert not verify_consistency(8, 5, mth(leaves), mth(leaves[:5]), [])
    assert not verify_consistency(3, 8, mth(leaves[:3]), mth(leaves), [])


def test_no_proof_outside_the_tree():
    with pytest.raises(ValueError):
        inclusion_ranges(5, 5)
    with pytest.raises(ValueError):
        consistency_ranges(6, 5)
    with pytest.raises(ValueError):
        Frontier(3, [EMPTY_ROOT])


@given(leaf_lists)
def test_every_complete_subtree_folds_from_the_stored_levels(leaves):
    """The server keeps only levels 0, 4, 8, …; every other node folds from those."""
    tree = Stored(leaves)
    kept = {node: value for node, value in tree.nodes.items() if node[0] % STRIDE == 0}
    for (level, index), value in tree.nodes.items():
        assert complete_hash([kept[p] for p in stored_parts(level, index)]) == value

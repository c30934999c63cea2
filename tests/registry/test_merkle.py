"""The RFC 9162 Merkle tree: reference vectors, the RFC's own definitions, properties, cost."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openward.registry.merkle import (
    EMPTY_ROOT,
    Frontier,
    Perfect,
    completed_nodes,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    subtree_hash,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

# The Certificate Transparency reference vectors, as published (data only) by
# transparency-dev/merkle: testonly/constants.go (leaf inputs, node hashes per level, roots
# per size, compact ranges) and proof/verify_test.go (inclusion and consistency proofs;
# its inclusion vectors number leaves from 1, converted to 0-based indexes here). The same
# values appear in google/trillian and certificate-transparency-go.
LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [  # by tree size, 0..8
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
NODES = [  # NODES[level][index]: every perfect subtree of the 8-leaf tree
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]
INCLUSION = [  # (index, size, PATH)
    (0, 1, []),
    (0, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (5, 8, ["bc1a0643", "ca854ea1", "d37ee418"]),
    (2, 3, ["fac54203"]),
    (1, 5, ["6e340b9c", "5f083f0a", "bc1a0643"]),
]
CONSISTENCY = [  # (old size, new size, PROOF)
    (1, 1, []),
    (1, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (6, 8, ["0ebc5d34", "ca854ea1", "d37ee418"]),
    (2, 5, ["5f083f0a", "bc1a0643"]),
    (6, 7, ["0ebc5d34", "b08693ec", "d37ee418"]),
]
# The proofs above are written as prefixes of the node hashes they are made of.
_BY_PREFIX = {h[:8]: bytes.fromhex(h) for level in NODES for h in level}


def _unabbreviate(prefixes: Sequence[str]) -> list[bytes]:
    return [_BY_PREFIX[p] for p in prefixes]


class Store:
    """Every perfect node of a tree, kept as leaves are appended (what a log's database does)."""

    def __init__(self, leaves: Sequence[bytes] = ()) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.size = 0
        for leaf in leaves:
            self.append(leaf)

    def append(self, leaf: bytes) -> None:
        self.nodes[0, self.size] = leaf
        for level, index, h in completed_nodes(self.size, leaf, self.perfect):
            self.nodes[level, index] = h
        self.size += 1

    def perfect(self, level: int, index: int) -> bytes:
        return self.nodes[level, index]

    def bounded(self, size: int) -> Perfect:
        """The store as seen by a tree of ``size`` leaves: asking beyond it is a bug."""

        def perfect(level: int, index: int) -> bytes:
            assert level >= 0 and index >= 0 and (index + 1) << level <= size, (level, index, size)
            return self.nodes[level, index]

        return perfect


REF_LEAVES = [leaf_hash(d) for d in LEAF_INPUTS]
REF = Store(REF_LEAVES)
LEAVES = [leaf_hash(i.to_bytes(2, "big")) for i in range(300)]
STORE = Store(LEAVES)


# The RFC 9162 §2.1 definitions, transcribed recursively: the yardstick for the real code.
def _k(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def rfc_mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return EMPTY_ROOT
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return node_hash(rfc_mth(d[:k]), rfc_mth(d[k:]))


def rfc_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*rfc_path(m, d[:k]), rfc_mth(d[k:])]
    return [*rfc_path(m - k, d[k:]), rfc_mth(d[:k])]


def rfc_subproof(m: int, d: Sequence[bytes], whole: bool) -> list[bytes]:
    if m == len(d):
        return [] if whole else [rfc_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*rfc_subproof(m, d[:k], whole), rfc_mth(d[k:])]
    return [*rfc_subproof(m - k, d[k:], False), rfc_mth(d[:k])]


# --- the reference vectors ---------------------------------------------------------------


def test_hashes_are_rfc_6962s() -> None:
    assert EMPTY_ROOT.hex() == ROOTS[0]
    assert leaf_hash(b"").hex() == ROOTS[1]
    assert node_hash(REF_LEAVES[0], REF_LEAVES[1]).hex() == ROOTS[2]


def test_reference_roots_and_nodes() -> None:
    for size, want in enumerate(ROOTS):
        assert root_of(REF_LEAVES[:size]).hex() == want
        assert tree_root(size, REF.bounded(size)).hex() == want
    assert {k: v.hex() for k, v in REF.nodes.items()} == {
        (level, i): h for level, row in enumerate(NODES) for i, h in enumerate(row)
    }


def test_reference_frontiers() -> None:
    # constants.go CompactTrees: the right edge after each append.
    n = NODES
    want = [[], [n[0][0]], [n[1][0]], [n[1][0], n[0][2]], [n[2][0]], [n[2][0], n[0][4]]]
    want += [[n[2][0], n[1][2]], [n[2][0], n[1][2], n[0][6]], [n[3][0]]]
    frontier = Frontier()
    for size, leaf in enumerate([*REF_LEAVES, None]):
        assert [h.hex() for h in frontier.hashes] == want[size]
        assert frontier.root().hex() == ROOTS[size]
        assert Frontier.from_perfect(size, REF.bounded(size)).hashes == frontier.hashes
        if leaf is not None:
            frontier.append(leaf)


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_reference_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    want = _unabbreviate(path)
    assert inclusion_proof(index, size, REF.bounded(size)) == want
    root = bytes.fromhex(ROOTS[size])
    assert verify_inclusion(REF_LEAVES[index], index, size, want, root)
    for probe in _inclusion_corruptions(REF_LEAVES[index], index, size, want, root):
        assert not verify_inclusion(*probe), probe


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_reference_consistency_proofs(old: int, new: int, proof: list[str]) -> None:
    want = _unabbreviate(proof)
    assert consistency_proof(old, new, REF.bounded(new)) == want
    old_root, new_root = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new])
    assert verify_consistency(old, new, old_root, new_root, want)
    for probe in _consistency_corruptions(old, new, old_root, new_root, want):
        assert not verify_consistency(*probe), probe


def test_completed_nodes_example() -> None:
    done = completed_nodes(3, REF_LEAVES[3], REF.perfect)
    assert [(level, i) for level, i, _ in done] == [(1, 1), (2, 0)]
    assert [h.hex() for *_, h in done] == [NODES[1][1], NODES[2][0]]
    assert completed_nodes(4, REF_LEAVES[4], REF.perfect) == []


# --- corruptions: every one of them must fail ----------------------------------------------

_OTHER = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _flip(proof: list[bytes], i: int) -> list[bytes]:
    return [bytes([p[0] ^ 8, *p[1:]]) if j == i else p for j, p in enumerate(proof)]


def _inclusion_corruptions(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> list[tuple[Any, ...]]:
    probes: list[tuple[Any, ...]] = [
        (leaf, index - 1, size, proof, root),
        (leaf, index + 1, size, proof, root),
        (leaf, index ^ 2, size, proof, root),
        (leaf, index, size * 2, proof, root),
        (leaf, index, size // 2, proof, root),
        (leaf, index, index, proof, root),
        (_OTHER, index, size, proof, root),
        (leaf[:31], index, size, proof, root),
        (leaf, index, size, proof, EMPTY_ROOT),
        (leaf, index, size, proof, root + b"\x00"),
        (leaf, index, size, [*proof, root], root),
        (leaf, index, size, [root, *proof], root),
        (leaf, index, size, [*proof, b""], root),
        (leaf, index, size, [b"", *proof], root),
        *((leaf, index, size, _flip(proof, i), root) for i in range(len(proof))),
    ]
    if proof:
        probes.append((leaf, index, size, proof[:-1], root))
        probes.append((leaf, index, size, proof[1:], root))
        probes.append((leaf, index, size, [*proof[:1], _OTHER, *proof[1:]], root))
    return probes


def _consistency_corruptions(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> list[tuple[Any, ...]]:
    if not proof:  # equal sizes: only the roots can be wrong, or a proof given
        return [
            (old, new, old_root, _OTHER, proof),
            (old, new, _OTHER, new_root, proof),
            (old, new, old_root, new_root, [old_root]),
            (old, new + 1, old_root, new_root, proof),
        ]
    probes: list[tuple[Any, ...]] = [
        (old - 1, new, old_root, new_root, proof),
        (old + 1, new, old_root, new_root, proof),
        (old ^ 2, new, old_root, new_root, proof),
        (old, new * 2, old_root, new_root, proof),
        (old, new // 2, old_root, new_root, proof),
        (new, old, old_root, new_root, proof),
        (old, new, _OTHER, new_root, proof),
        (old, new, old_root, _OTHER, proof),
        (old, new, new_root, old_root, proof),
        (old, new, old_root[:31], new_root, proof),
        (old, new, old_root, new_root, []),
        (old, new, old_root, new_root, proof[:-1]),
        (old, new, old_root, new_root, [*proof, old_root]),
        (old, new, old_root, new_root, [*proof, new_root]),
        (old, new, old_root, new_root, [old_root, *proof]),
        (old, new, old_root, new_root, [proof[0], *proof]),
        (old, new, old_root, new_root, [*proof, b""]),
        *((old, new, old_root, new_root, _flip(proof, i)) for i in range(len(proof))),
    ]
    return probes


# --- against the RFC's definitions, and as properties ----------------------------------------


def test_every_proof_matches_the_rfc_definitions_up_to_40_leaves() -> None:
    for n in range(1, 41):
        d, perfect = LEAVES[:n], STORE.bounded(n)
        assert tree_root(n, perfect) == rfc_mth(d) == root_of(d)
        for m in range(n):
            assert inclusion_proof(m, n, perfect) == rfc_path(m, d)
        for m in range(1, n):
            assert consistency_proof(m, n, perfect) == rfc_subproof(m, d, True)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.data())
def test_all_proofs_of_a_tree_verify(size: int, data: st.DataObject) -> None:
    perfect = STORE.bounded(size)
    root = tree_root(size, perfect)
    assert root == root_of(LEAVES[:size])
    bound = math.ceil(math.log2(size)) + 1
    for index in range(size):
        proof = inclusion_proof(index, size, perfect)
        assert len(proof) <= bound
        assert verify_inclusion(LEAVES[index], index, size, proof, root)
    for old in range(size + 1):
        old_root = root_of(LEAVES[:old])
        proof = consistency_proof(old, size, perfect)
        assert len(proof) <= bound
        assert verify_consistency(old, size, old_root, root, proof)

    index = data.draw(st.integers(0, size - 1), label="tampered index")
    proof = inclusion_proof(index, size, perfect)
    for probe in _inclusion_corruptions(LEAVES[index], index, size, proof, root):
        assert not verify_inclusion(*probe), probe
    old = data.draw(st.integers(0, size), label="tampered old size")
    proof = consistency_proof(old, size, perfect)
    old_root = root_of(LEAVES[:old])
    if proof:
        for cprobe in _consistency_corruptions(old, size, old_root, root, proof):
            assert not verify_consistency(*cprobe), cprobe
    elif old < size:  # old == 0: only the empty tree's root, with nothing to prove
        assert not verify_consistency(old, size, _OTHER, root, proof)
        assert not verify_consistency(old, size, old_root, root, [root])


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 300))
def test_a_store_from_completed_nodes_holds_every_perfect_node(size: int) -> None:
    store = Store(LEAVES[:size])
    assert tree_root(size, store.bounded(size)) == root_of(LEAVES[:size])
    want = {(0, i) for i in range(size)}
    want |= {(lv, i) for lv in range(1, 10) for i in range(size >> lv)}
    assert set(store.nodes) == want
    assert all(store.nodes[k] == STORE.nodes[k] for k in want)


def test_frontier_follows_the_tree_and_survives_json() -> None:
    frontier = Frontier()
    for size in range(301):
        assert frontier.size == size
        assert frontier.root() == root_of(LEAVES[:size])
        copy = Frontier.from_json(json.loads(json.dumps(frontier.to_json())))
        assert (copy.size, copy.hashes, copy.root()) == (size, frontier.hashes, frontier.root())
        if size < 300:
            frontier.append(LEAVES[size])
    # A client that kept the frontier extends it with only the new leaves.
    resumed = Frontier.from_perfect(100, STORE.bounded(100))
    for leaf in LEAVES[100:]:
        resumed.append(leaf)
    assert resumed.root() == frontier.root()


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        {},
        {"size": 3},
        {"size": -1, "hashes": []},
        {"size": True, "hashes": ["00" * 32]},
        {"size": 3, "hashes": ["00" * 32]},
        {"size": 1, "hashes": ["00" * 31]},
        {"size": 1, "hashes": ["zz" * 32]},
        {"size": 1, "hashes": [0]},
        {"size": "1", "hashes": ["00" * 32]},
    ],
)
def test_frontier_rejects_malformed_json(doc: Any) -> None:
    with pytest.raises(ValueError):
        Frontier.from_json(doc)


def test_frontier_rejects_non_hashes() -> None:
    with pytest.raises(ValueError):
        Frontier().append(b"leaf")


# --- misuse ------------------------------------------------------------------------------


def test_generation_rejects_out_of_range_arguments() -> None:
    perfect = STORE.bounded(8)
    bad: list[Callable[[], object]] = [
        lambda: inclusion_proof(8, 8, perfect),
        lambda: inclusion_proof(-1, 8, perfect),
        lambda: inclusion_proof(0, 0, perfect),
        lambda: consistency_proof(9, 8, perfect),
        lambda: consistency_proof(-1, 8, perfect),
        lambda: tree_root(-1, perfect),
        lambda: subtree_hash(3, 3, perfect),
        lambda: subtree_hash(1, 3, perfect),  # [1, 3) is no node of any MTH recursion
        lambda: completed_nodes(-1, LEAVES[0], perfect),
        lambda: Frontier.from_perfect(-1, perfect),
    ]
    for call in bad:
        with pytest.raises(ValueError):
            call()
    assert consistency_proof(0, 8, perfect) == consistency_proof(8, 8, perfect) == []
    assert tree_root(0, perfect) == EMPTY_ROOT


def test_trivial_consistency() -> None:
    root = tree_root(8, REF.perfect)
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 8, EMPTY_ROOT, root, [])
    assert verify_consistency(8, 8, root, root, [])
    assert not verify_consistency(8, 8, root, EMPTY_ROOT, [])
    assert not verify_consistency(0, 8, root, root, [])
    assert not verify_consistency(8, 0, root, EMPTY_ROOT, [])


_junk = st.one_of(
    st.integers(-3, 10),
    st.integers(),
    st.none(),
    st.booleans(),
    st.text(max_size=3),
    st.binary(max_size=40),
    st.floats(),
)
_hashish = st.one_of(st.binary(min_size=32, max_size=32), _junk)
_proofish = st.one_of(st.lists(_hashish, max_size=6), _junk)


@settings(max_examples=300, deadline=None)
@given(_hashish, _junk, _junk, _proofish, _hashish)
def test_verify_inclusion_never_raises(
    leaf: Any, index: Any, size: Any, proof: Any, root: Any
) -> None:
    assert verify_inclusion(leaf, index, size, proof, root) in (True, False)


@settings(max_examples=300, deadline=None)
@given(_junk, _junk, _hashish, _hashish, _proofish)
def test_verify_consistency_never_raises(old: Any, new: Any, r1: Any, r2: Any, proof: Any) -> None:
    assert verify_consistency(old, new, r1, r2, proof) in (True, False)


# --- cost: a million leaves, a few dozen lookups ---------------------------------------------


def test_proofs_at_a_million_leaves_cost_o_log_n_lookups() -> None:
    size = 1_000_000
    memo: dict[tuple[int, int], bytes] = {}

    def node(level: int, index: int) -> bytes:  # synthetic leaf hashes, real interior nodes
        if level == 0:
            return index.to_bytes(32, "big")
        if (level, index) in memo:
            return memo[level, index]
        h = node_hash(node(level - 1, 2 * index), node(level - 1, 2 * index + 1))
        if level >= 8:
            memo[level, index] = h
        return h

    calls = 0

    def perfect(level: int, index: int) -> bytes:
        nonlocal calls
        calls += 1
        assert (index + 1) << level <= size
        return node(level, index)

    def counted(make: Callable[[], list[bytes]]) -> list[bytes]:
        nonlocal calls
        calls = 0
        proof = make()
        assert calls < 200, calls
        return proof

    root = tree_root(size, perfect)
    assert calls == bin(size).count("1")
    for index in (0, 1, 524_287, 524_288, 777_777, 999_998, 999_999):
        proof = counted(lambda: inclusion_proof(index, size, perfect))  # noqa: B023
        assert verify_inclusion(node(0, index), index, size, proof, root)
    for old in (1, 2, 3, 524_288, 524_289, 777_777, 999_999):
        proof = counted(lambda: consistency_proof(old, size, perfect))  # noqa: B023
        old_root = Frontier.from_perfect(old, perfect).root()
        assert verify_consistency(old, size, old_root, root, proof)

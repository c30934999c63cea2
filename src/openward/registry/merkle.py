"""The RFC 9162 (Certificate Transparency v2) Merkle tree, with SHA-256 and nothing else.

How the code maps onto the RFC:

* §2.1.1 hashing: ``leaf_hash`` is HASH(0x00 || d), ``node_hash`` is HASH(0x01 || l || r), the
  empty tree's root is HASH() (``EMPTY_ROOT``), and MTH(D[n]) splits at the largest power of
  two k < n. ``root_of`` computes MTH over leaf hashes held in memory, iteratively.
* Stored trees are reached through a ``Perfect`` callback giving the hash of the perfect, aligned
  subtree (level, index), covering leaves [index * 2**level, (index + 1) * 2**level). Every range
  that MTH, PATH and PROOF recurse into starts at a multiple of the largest power of two not above
  its length, so ``subtree_hash`` writes MTH(D[start:end]) as at most log2(n) perfect nodes folded
  right to left, exactly as the MTH recursion would combine them.
* §2.1.3.1 PATH(m, D[n]) is ``inclusion_proof``, §2.1.4.1 PROOF(m, D[n]) is
  ``consistency_proof``: both walk the RFC's recursion top-down and cost O(log n) callback calls.
* §2.1.3.2 and §2.1.4.2 verification are ``verify_inclusion`` and ``verify_consistency``,
  transcribed step by step; they return False on any malformed input and never raise.
* ``completed_nodes`` says which perfect nodes an append completes (so a store can keep all of
  them), and ``Frontier`` is the right edge of a tree (one perfect node per set bit of the size):
  enough to compute the root and to append further leaves without the earlier ones.

Every ``leaf`` argument is a leaf *hash* (the output of ``leaf_hash``), never the entry itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeAlias

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "Frontier",
    "Perfect",
    "completed_nodes",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_of",
    "subtree_hash",
    "tree_root",
    "verify_consistency",
    "verify_inclusion",
]

LEAF_PREFIX: Final = b"\x00"
NODE_PREFIX: Final = b"\x01"
HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()

# (level, index) -> the hash of the perfect subtree of leaves [index << level, (index+1) << level)
Perfect: TypeAlias = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """HASH(0x00 || data): the hash of one log entry."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """HASH(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2): where MTH splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Combine perfect subtrees of decreasing size, right to left, as MTH does."""
    root = hashes[-1]
    for h in reversed(hashes[:-1]):
        root = node_hash(h, root)
    return root


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over the given leaf hashes (RFC 9162 §2.1.1), in O(n) time and O(log n) memory."""
    frontier = Frontier()
    for h in leaf_hashes:
        frontier.append(h)
    return frontier.root()


def subtree_hash(start: int, end: int, perfect: Perfect) -> bytes:
    """MTH(D[start:end]) from at most log2(end - start) + 1 perfect-node lookups.

    The range must be one the RFC recursion can reach: ``start`` a multiple of the largest power
    of two not above ``end - start`` (true of every whole tree, and of every part of a proof).
    """
    if not 0 <= start < end:
        raise ValueError(f"empty or negative range [{start}, {end})")
    parts: list[bytes] = []
    pos = start
    while pos < end:
        level = (end - pos).bit_length() - 1
        if pos & ((1 << level) - 1):
            raise ValueError(f"range [{start}, {end}) is not made of aligned perfect subtrees")
        parts.append(perfect(level, pos >> level))
        pos += 1 << level
    return _fold(parts)


def tree_root(size: int, perfect: Perfect) -> bytes:
    """MTH(D[size]): the root of the first ``size`` leaves."""
    if size < 0:
        raise ValueError(f"negative tree size {size}")
    return EMPTY_ROOT if size == 0 else subtree_hash(0, size, perfect)


def inclusion_proof(index: int, size: int, perfect: Perfect) -> list[bytes]:
    """PATH(index, D[size]) (RFC 9162 §2.1.3.1): sibling hashes, the leaf's neighbour first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:  # PATH(m, D[0:k]) : MTH(D[k:n])
            path.append(subtree_hash(lo + k, hi, perfect))
            hi = lo + k
        else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            path.append(subtree_hash(lo, lo + k, perfect))
            lo += k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, perfect: Perfect) -> list[bytes]:
    """PROOF(old_size, D[new_size]) (RFC 9162 §2.1.4.1); empty when old == new or old == 0."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    proof: list[bytes] = []
    if old_size in (0, new_size):
        return proof
    lo, hi, whole = 0, new_size, True  # SUBPROOF(old - lo, D[lo:hi], whole)
    while old_size != hi:
        k = _split(hi - lo)
        if old_size - lo <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            proof.append(subtree_hash(lo + k, hi, perfect))
            hi = lo + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            proof.append(subtree_hash(lo, lo + k, perfect))
            lo, whole = lo + k, False
    if not whole:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        proof.append(subtree_hash(lo, hi, perfect))
    proof.reverse()
    return proof


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_path(proof: object) -> bool:
    return isinstance(proof, Sequence) and all(_is_hash(p) for p in proof)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree ``root`` of ``size``.

    The RFC 9162 §2.1.3.2 algorithm; False (never an exception) on any malformed input.
    """
    if not (_is_size(index) and _is_size(size) and index < size):
        return False
    if not (_is_hash(leaf) and _is_hash(root) and _is_path(proof)):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree (old_size, old_root) is a prefix of (new_size, new_root).

    The RFC 9162 §2.1.4.2 algorithm for 0 < old < new. Equal sizes need an empty proof and equal
    roots; an empty old tree needs an empty proof and ``EMPTY_ROOT``. Never raises.
    """
    if not (_is_size(old_size) and _is_size(new_size) and old_size <= new_size):
        return False
    if not (_is_hash(old_root) and _is_hash(new_root) and _is_path(proof)):
        return False
    if old_size == new_size:
        return len(proof) == 0 and old_root == new_root
    if old_size == 0:
        return len(proof) == 0 and old_root == EMPTY_ROOT
    if len(proof) == 0:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a node itself
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


def completed_nodes(index: int, leaf: bytes, perfect: Perfect) -> list[tuple[int, int, bytes]]:
    """The perfect nodes (level >= 1, index, hash) that appending leaf hash ``leaf`` at ``index``
    completes, lowest first; ``perfect`` supplies the left siblings, already stored."""
    if index < 0:
        raise ValueError(f"negative leaf index {index}")
    done: list[tuple[int, int, bytes]] = []
    h, level, pos = leaf, 0, index
    while pos & 1:  # a right child: its parent is complete now
        h = node_hash(perfect(level, pos - 1), h)
        level, pos = level + 1, pos >> 1
        done.append((level, pos, h))
    return done


class Frontier:
    """The right edge of a tree: the perfect subtrees making up its size, largest first.

    What a client keeps to follow a log: the root of the tree it verified, and the means to
    extend that tree with new leaf hashes without holding (or fetching) the earlier ones.
    """

    __slots__ = ("_hashes", "size")

    def __init__(self) -> None:
        self.size = 0
        self._hashes: list[bytes] = []

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    @classmethod
    def from_perfect(cls, size: int, perfect: Perfect) -> Frontier:
        """The frontier of a stored tree of ``size`` leaves (popcount(size) lookups)."""
        if size < 0:
            raise ValueError(f"negative tree size {size}")
        frontier = cls()
        for level in reversed(range(size.bit_length())):
            if size >> level & 1:
                frontier._hashes.append(perfect(level, (size >> level) - 1))
        frontier.size = size
        return frontier

    def nodes(self) -> list[tuple[int, int, bytes]]:
        """The right edge as perfect nodes (level, index, hash), largest first: what
        :func:`completed_nodes` needs to append the next leaf without a store."""
        out, offset, hashes = [], 0, iter(self._hashes)
        for level in reversed(range(self.size.bit_length())):
            if self.size >> level & 1:
                out.append((level, offset >> level, next(hashes)))
                offset += 1 << level
        return out

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash at index ``size``."""
        if not _is_hash(leaf):
            raise ValueError("a leaf hash is 32 bytes")
        h, n = leaf, self.size
        while n & 1:
            h = node_hash(self._hashes.pop(), h)
            n >>= 1
        self._hashes.append(h)
        self.size += 1

    def root(self) -> bytes:
        return _fold(self._hashes) if self._hashes else EMPTY_ROOT

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "hashes": [h.hex() for h in self._hashes]}

    @classmethod
    def from_json(cls, doc: Any) -> Frontier:
        """The frontier ``to_json`` wrote; ValueError on anything inconsistent."""
        try:
            size, hexes = doc["size"], doc["hashes"]
            hashes = [bytes.fromhex(h) for h in hexes]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a Merkle frontier: {exc}") from exc
        if not _is_size(size) or len(hashes) != size.bit_count():
            raise ValueError("a frontier holds one hash per set bit of its size")
        if not all(_is_hash(h) for h in hashes):
            raise ValueError("a frontier hash is 32 bytes")
        frontier = cls()
        frontier.size, frontier._hashes = size, hashes
        return frontier

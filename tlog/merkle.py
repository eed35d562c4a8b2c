"""RFC 6962 / RFC 9162 Merkle trees: hashing, proofs from stored subtrees, and proof verification.

A tree is addressed by its perfect subtrees: ``(level, index)`` names the subtree over the ``2**level``
leaves ``[index * 2**level, (index + 1) * 2**level)``. Once complete such a subtree never changes, so a
store can keep one row per ``(level, index)`` (what ``CompactRange.append`` yields) and answer every
proof here with O(log n) reads through a ``SubtreeHash`` accessor. The subtrees that are not perfect,
along the right edge of a tree whose size is not a power of two, are recomputed from perfect ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

# Hash of the perfect subtree (level, index); it must exist in the tree being proven.
SubtreeHash = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A Merkle proof is malformed, or does not lead from what it claims to the expected root."""


@dataclass(frozen=True)
class Node:
    """A perfect subtree and its hash: one row of a node table."""

    level: int
    index: int
    hash: bytes


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes, by the recursive definition of RFC 9162 section 2.1.1."""
    for position, value in enumerate(leaf_hashes):
        _require_hash(value, f"leaf hash {position}")
    return _merkle_root_of(leaf_hashes, 0, len(leaf_hashes)) if leaf_hashes else EMPTY_ROOT


def _merkle_root_of(leaf_hashes: Sequence[bytes], begin: int, end: int) -> bytes:
    if end - begin == 1:
        return leaf_hashes[begin]
    middle = begin + _split_point(end - begin)
    return node_hash(_merkle_root_of(leaf_hashes, begin, middle), _merkle_root_of(leaf_hashes, middle, end))


def _split_point(size: int) -> int:
    """The largest power of two smaller than size (size >= 2): where RFC 9162 splits a tree."""
    return 1 << ((size - 1).bit_length() - 1)


def perfect_subtrees(begin: int, end: int) -> list[tuple[int, int]]:
    """The fewest perfect subtrees covering leaves [begin, end), left to right, as (level, index).

    For [0, n) there is one per set bit of n, largest first, and the tree of size n is their
    right-to-left fold with node_hash.
    """
    if not 0 <= begin <= end:
        raise ValueError(f"not a range of leaves: [{begin}, {end})")
    subtrees = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        if begin:
            # A subtree starts at a multiple of its own size.
            level = min(level, (begin & -begin).bit_length() - 1)
        subtrees.append((level, begin >> level))
        begin += 1 << level
    return subtrees


def root_from(size: int, subtree_hash: SubtreeHash) -> bytes:
    """Root of the tree of the given size, from popcount(size) stored subtrees."""
    if size < 0:
        raise ValueError(f"negative tree size {size}")
    return _subtree_root(0, size, subtree_hash) if size else EMPTY_ROOT


def _subtree_root(begin: int, end: int, subtree_hash: SubtreeHash) -> bytes:
    """MTH of leaves [begin, end), a subtree in the RFC's recursion: perfect, or on the right edge.

    Such a range starts at a multiple of a power of two at least its size, so its decomposition into
    perfect subtrees mirrors that of its size, and folding it from the right rebuilds the MTH.
    """
    subtrees = perfect_subtrees(begin, end)
    root = _read(subtree_hash, *subtrees[-1])
    for level, index in reversed(subtrees[:-1]):
        root = node_hash(_read(subtree_hash, level, index), root)
    return root


def _read(subtree_hash: SubtreeHash, level: int, index: int) -> bytes:
    value = subtree_hash(level, index)
    if len(value) != HASH_SIZE:
        raise ValueError(f"subtree ({level}, {index}) has a {len(value)}-byte hash, not {HASH_SIZE}")
    return value


def inclusion_proof(index: int, size: int, subtree_hash: SubtreeHash) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 section 2.1.3.1, ordered from the leaf up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    proof: list[bytes] = []
    _inclusion_path(index, 0, size, subtree_hash, proof)
    return proof


def _inclusion_path(index: int, begin: int, end: int, subtree_hash: SubtreeHash, proof: list[bytes]) -> None:
    if end - begin == 1:
        return
    middle = begin + _split_point(end - begin)
    if index < middle:
        _inclusion_path(index, begin, middle, subtree_hash, proof)
        proof.append(_subtree_root(middle, end, subtree_hash))
    else:
        _inclusion_path(index, middle, end, subtree_hash, proof)
        proof.append(_subtree_root(begin, middle, subtree_hash))


def consistency_proof(old_size: int, new_size: int, subtree_hash: SubtreeHash) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 section 2.1.4.1; empty when the sizes are equal.

    The RFC defines it for 0 < old_size: every tree extends the empty one, with nothing to prove.
    """
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}: need 0 < old <= new")
    proof: list[bytes] = []
    _consistency_subproof(old_size, 0, new_size, True, subtree_hash, proof)
    return proof


def _consistency_subproof(
    old_size: int, begin: int, end: int, old_root_known: bool, subtree_hash: SubtreeHash, proof: list[bytes]
) -> None:
    """SUBPROOF(old_size, D[begin:end], old_root_known), old_size counted from begin."""
    if old_size == end - begin:
        if not old_root_known:
            proof.append(_subtree_root(begin, end, subtree_hash))
        return
    middle = begin + _split_point(end - begin)
    if begin + old_size <= middle:
        _consistency_subproof(old_size, begin, middle, old_root_known, subtree_hash, proof)
        proof.append(_subtree_root(middle, end, subtree_hash))
    else:
        _consistency_subproof(old_size - (middle - begin), middle, end, False, subtree_hash, proof)
        proof.append(_subtree_root(begin, middle, subtree_hash))


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that an inclusion proof leads to, by the algorithm of RFC 9162 section 2.1.3.2."""
    _require_hash(leaf, "leaf hash")
    _require_proof_hashes(proof)
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    fn, sn = index, size - 1
    root = leaf
    for sibling in proof:
        if sn == 0:
            raise ProofError(f"inclusion proof has more hashes than leaf {index} of a tree of size {size} needs")
        if fn & 1 or fn == sn:
            root = node_hash(sibling, root)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            root = node_hash(root, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"inclusion proof is too short for leaf {index} of a tree of size {size}")
    return root


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise ProofError unless proof shows that leaf is leaf number index of the tree (size, root)."""
    _require_hash(root, "root")
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the root of the tree of size {size}")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Raise ProofError unless proof shows that tree (old_size, old_root) is a prefix of (new_size, new_root).

    Follows RFC 9162 section 2.1.4.2, defined for 0 < old_size < new_size; equal sizes need an empty
    proof and equal roots. An old size of zero is refused as the reference implementation does: the
    empty tree is consistent with every tree, so a caller starting from it has nothing to verify.
    """
    _require_hash(old_root, "old root")
    _require_hash(new_root, "new root")
    _require_proof_hashes(proof)
    if old_size <= 0 or new_size < old_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}: need 0 < old <= new")
    if old_size == new_size:
        if proof:
            raise ProofError(f"consistency proof between two trees of size {old_size} must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the tree of size {old_size}: the log has forked")
        return
    if not proof:
        raise ProofError(f"empty consistency proof from size {old_size} to size {new_size}")

    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    old_computed = new_computed = path[0]
    for sibling in path[1:]:
        if sn == 0:
            raise ProofError(f"consistency proof from size {old_size} to size {new_size} has too many hashes")
        if fn & 1 or fn == sn:
            old_computed = node_hash(sibling, old_computed)
            new_computed = node_hash(sibling, new_computed)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            new_computed = node_hash(new_computed, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"consistency proof from size {old_size} to size {new_size} is too short")
    if old_computed != old_root:
        raise ProofError(f"consistency proof does not lead to the old root of size {old_size}")
    if new_computed != new_root:
        raise ProofError(f"consistency proof does not lead to the new root of size {new_size}")


def _require_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes long, not {HASH_SIZE}")


def _require_proof_hashes(proof: Sequence[bytes]) -> None:
    for position, value in enumerate(proof):
        _require_hash(value, f"proof hash {position}")


class CompactRange:
    """The perfect subtrees over leaves [0, size), grown one leaf at a time.

    It holds one hash per set bit of size, so appending is O(log n) and the root is always at hand;
    each append reports the perfect subtrees it completes, for a store to keep as its node table.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """The range of a tree of the given size, from the hashes of perfect_subtrees(0, size)."""
        if size < 0:
            raise ValueError(f"negative tree size {size}")
        if len(hashes) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {size.bit_count()} perfect subtrees, not {len(hashes)}")
        self._size = size
        self._hashes = list(hashes)  # left to right, the largest subtree first

    @classmethod
    def from_subtrees(cls, size: int, subtree_hash: SubtreeHash) -> CompactRange:
        """Resume the range of a tree of the given size from its stored subtrees."""
        return cls(size, [_read(subtree_hash, level, index) for level, index in perfect_subtrees(0, size)])

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> list[Node]:
        """Add the next leaf hash; return the subtrees it completes, the leaf itself first."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash is {len(leaf)} bytes long, not {HASH_SIZE}")
        level, index, value = 0, self._size, leaf
        completed = [Node(level, index, value)]
        # Each trailing one bit of the new leaf's index is a left sibling now complete on its right.
        while index & 1:
            value = node_hash(self._hashes.pop(), value)
            level, index = level + 1, index >> 1
            completed.append(Node(level, index, value))
        self._hashes.append(value)
        self._size += 1
        return completed

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        root = self._hashes[-1]
        for value in reversed(self._hashes[:-1]):
            root = node_hash(value, root)
        return root

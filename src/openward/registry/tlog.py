"""The registry's transparency log: every state change appended to an RFC 9162
Merkle tree stored in the registry's own database, with signed tree heads,
inclusion proofs and consistency proofs.

Storage: ``log_entries`` holds each leaf's canonical JSON; ``log_nodes`` holds the
hash of every perfect subtree (level 0 are the leaves), written at append time, so
a root or a proof costs O(log n) lookups at any size; ``log_state`` holds the size
and the tree's right edge (a :class:`~openward.registry.merkle.Frontier`), and its
row lock serialises appends across API replicas and workers. Appends happen in the
transaction of the change they record: a change is never visible without its
entry, nor an entry without its change.

The node table is derived data. A client that kept a signed tree head proves the
log only grew with a consistency proof, and checks that the entries added since
hash to the new head (``openward registry log verify``); ``--audit`` recomputes
the whole tree from the entries' bodies, which also catches a rewrite of an old
entry whose derived hashes were left alone.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from openward.registry import merkle
from openward.registry.models import LogEntry, LogNode, LogState

__all__ = [
    "HEAD_CONTEXT",
    "append",
    "canonical",
    "consistency",
    "entries",
    "inclusion",
    "lock",
    "rebuild",
    "root",
    "size",
]

HEAD_CONTEXT: Final = "openward-tree-head-v1"
"""Signed tree heads are the canonical JSON of {context, origin, size, root,
timestamp}, signed by the registry's key (ECDSA P-256, SHA-256)."""


def canonical(doc: dict[str, Any]) -> bytes:
    """The bytes a leaf commits to: sorted keys, no spaces, UTF-8."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _state(s: Session, *, lock: bool) -> LogState:
    query = select(LogState).where(LogState.id == 1)
    if lock:
        # A no-op write takes the lock on every database: the row lock on PostgreSQL,
        # the database's write lock on SQLite (where FOR UPDATE does nothing and a
        # transaction that has not written yet would read a size another one is about
        # to change).
        s.execute(update(LogState).where(LogState.id == 1).values(size=LogState.size))
        query = query.with_for_update()
    row = s.scalar(query)
    if row is None:
        raise LogCorrupt("the log's state row is missing (created by the migrations)")
    return row


def append(s: Session, kind: str, body: dict[str, Any]) -> int:
    """Append one entry in the caller's transaction; returns its index."""
    return append_many(s, [(kind, body)])[0]


def append_many(s: Session, items: Iterable[tuple[str, dict[str, Any]]]) -> list[int]:
    state = _state(s, lock=True)
    frontier = merkle.Frontier.from_json(state.frontier)
    entry_rows: list[dict[str, Any]] = []
    node_rows: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    out = []
    for kind, body in items:
        index = frontier.size
        doc = {"index": index, "kind": kind, "at": now.isoformat(timespec="seconds"), **body}
        data = canonical(doc)
        leaf = merkle.leaf_hash(data)
        about = body.get("model")
        model = about.split(":", 1)[0] if isinstance(about, str) else None
        entry_rows.append({"idx": index, "kind": kind, "model": model, "body": data.decode(),
                           "at": now})  # fmt: skip
        node_rows.append({"level": 0, "idx": index, "hash": leaf})
        for level, idx, digest in merkle.completed_nodes(index, leaf, _edge(frontier, leaf)):
            node_rows.append({"level": level, "idx": idx, "hash": digest})
        frontier.append(leaf)
        out.append(index)
    if entry_rows:
        s.execute(insert(LogEntry), entry_rows)
        s.execute(insert(LogNode), node_rows)
        state.size = frontier.size
        state.frontier = frontier.to_json()
    return out


def _edge(frontier: merkle.Frontier, leaf: bytes) -> merkle.Perfect:
    """Perfect-node lookups an append needs: the new leaf and the left siblings on the
    right edge, which the frontier holds (no database reads)."""
    known = {(level, idx): digest for level, idx, digest in frontier.nodes()}
    known[(0, frontier.size)] = leaf

    def perfect(level: int, idx: int) -> bytes:
        return known[(level, idx)]

    return perfect


def size(s: Session) -> int:
    return _state(s, lock=False).size


def _with_nodes(s: Session, compute: Callable[[merkle.Perfect], Any]) -> Any:
    """Run ``compute`` twice: once recording which perfect nodes it reads, then with
    them fetched in one query."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, idx: int) -> bytes:
        wanted.add((level, idx))
        return b"\0" * 32

    compute(record)
    found: dict[tuple[int, int], bytes] = {}
    keys = sorted(wanted)
    # (level = ? AND idx = ?) OR …: SQLite answers it with one primary-key search per
    # pair; a row-value IN (…) makes it scan the whole table.
    for start in range(0, len(keys), 200):
        chunk = keys[start : start + 200]
        condition = or_(*(and_(LogNode.level == lv, LogNode.idx == ix) for lv, ix in chunk))
        for node in s.execute(select(LogNode.level, LogNode.idx, LogNode.hash).where(condition)):
            found[(node.level, node.idx)] = bytes(node.hash)

    def lookup(level: int, idx: int) -> bytes:
        try:
            return found[(level, idx)]
        except KeyError:
            raise LogCorrupt(f"the log's node ({level}, {idx}) is missing") from None

    return compute(lookup)


class LogCorrupt(Exception):
    """The stored tree is missing nodes or entries."""


def root(s: Session, tree_size: int | None = None) -> tuple[int, bytes]:
    n = size(s) if tree_size is None else tree_size
    if n == 0:
        return 0, merkle.EMPTY_ROOT
    return n, _with_nodes(s, lambda p: merkle.tree_root(n, p))


def inclusion(s: Session, index: int, tree_size: int) -> list[bytes]:
    result: list[bytes] = _with_nodes(s, lambda p: merkle.inclusion_proof(index, tree_size, p))
    return result


def consistency(s: Session, old: int, new: int) -> list[bytes]:
    result: list[bytes] = _with_nodes(s, lambda p: merkle.consistency_proof(old, new, p))
    return result


def entries(s: Session, start: int, end: int) -> list[LogEntry]:
    """Entries at positions ``[start, end)`` (a range scan on the primary key)."""
    query = select(LogEntry).where(LogEntry.idx >= start, LogEntry.idx < end).order_by(LogEntry.idx)
    return list(s.scalars(query))


def rebuild(s: Session) -> int:
    """Recompute every derived hash from the entries' bodies (repair after a restore);
    returns the new size. The new root differs from any head signed before if an
    entry was deleted or rewritten, so clients' consistency checks fail: a rebuild
    cannot hide tampering."""
    s.execute(delete(LogNode))
    frontier = merkle.Frontier()
    rows: list[dict[str, Any]] = []
    stored = s.execute(select(LogEntry.idx, LogEntry.body).order_by(LogEntry.idx)).all()
    for index, (idx, body) in enumerate(stored):
        if idx != index:  # close a gap: positions are the tree's indexes
            s.execute(update(LogEntry).where(LogEntry.idx == idx).values(idx=index))
        leaf = merkle.leaf_hash(body.encode())
        rows.append({"level": 0, "idx": index, "hash": leaf})
        for level, idx, digest in merkle.completed_nodes(index, leaf, _edge(frontier, leaf)):
            rows.append({"level": level, "idx": idx, "hash": digest})
        frontier.append(leaf)
        if len(rows) >= 20_000:
            s.execute(insert(LogNode), rows)
            rows = []
    if rows:
        s.execute(insert(LogNode), rows)
    state = _state(s, lock=True)
    state.size = frontier.size
    state.frontier = frontier.to_json()
    return frontier.size


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def lock(s: Session) -> None:
    """Take the log's lock in the caller's transaction now, before it reads what it
    decides on: a takedown reaching copies and a check deciding against takedowns then
    see each other's outcome instead of both reading the state before either."""
    _state(s, lock=True)

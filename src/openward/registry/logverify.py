"""Client side of the transparency log: prove that the registry's log only grew
since the last tree head this client saw.

The client keeps, per registry, a small state file: the registry's public key
(pinned on first use), the last verified signed tree head and the tree's right
edge (a :class:`~openward.registry.merkle.Frontier`, O(log n) hashes). A check:

1. fetches the current signed head and verifies its signature with the pinned key;
2. fetches a consistency proof from the old size to the new one and verifies it
   against both roots (RFC 9162 §2.1.4.2): a deleted or rewritten entry that the
   old head covered changes the root, and no proof exists;
3. fetches the entries added since, hashes their bodies itself and extends the
   frontier: the result must be the new signed root, so the new entries are
   exactly what the head commits to;
4. with ``audit``, fetches every entry and recomputes the whole tree from the
   bodies, which also catches an old entry rewritten while its stored hashes were
   left alone.

Only a fully verified head replaces the stored one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openward.registry import merkle, tlog

__all__ = ["LogCheck", "default_state_path", "verify_log"]

Fetch = Callable[[str], Any]
"""GET a registry path (``/api/v1/...``) and return its decoded JSON (or text for the key)."""


@dataclass
class LogCheck:
    ok: bool
    registry: str
    old_size: int | None
    new_size: int | None
    root: str | None = None
    new_entries: int = 0
    audited: bool = False
    problems: list[str] = field(default_factory=list)
    unreachable: bool = False
    """The check could not be made (the registry did not answer): not a verdict."""

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "registry": self.registry, "old_size": self.old_size,
                "new_size": self.new_size, "root": self.root, "new_entries": self.new_entries,
                "audited": self.audited, "problems": self.problems,
                "unreachable": self.unreachable}  # fmt: skip


def default_state_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "openward" / "log-heads.json"


def _verify_head(head: dict[str, Any], pem: str) -> str | None:
    """None when the head's signature verifies, else the problem."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from openward.signing.keys import verify_bytes

    try:
        fields = {k: head[k] for k in ("context", "origin", "size", "root", "timestamp")}
        signature = tlog.unb64(str(head["signature"]))
        key = load_pem_public_key(pem.encode())
    except (KeyError, ValueError, TypeError):
        return "the tree head is malformed"
    if fields["context"] != tlog.HEAD_CONTEXT or not isinstance(fields["size"], int):
        return "the tree head is not an openward tree head"
    if not verify_bytes(key, signature, tlog.canonical(fields)):  # type: ignore[arg-type]
        return "the tree head's signature does not verify with the registry's pinned key"
    return None


def _entries(fetch: Fetch, start: int, end: int) -> Iterator[bytes]:
    """Leaf hashes of entries [start, end), computed here from their bodies."""
    position = start
    while position < end:
        page = fetch(f"/api/v1/log/entries?start={position}&end={end}")
        rows = page.get("entries") or []
        if not rows:
            raise ValueError(f"the registry returned no entry at position {position}")
        for row in rows:
            yield merkle.leaf_hash(str(row["body"]).encode())
            position += 1
            if position >= end:
                break


def verify_log(fetch: Fetch, registry: str, state_path: Path, *, audit: bool = False,
               key_pem: str | None = None) -> LogCheck:  # fmt: skip
    """Check the registry's log against the stored state; save the new head if it
    verifies. ``key_pem`` pins a key given out of band instead of on first use."""
    try:
        states: dict[str, Any] = json.loads(state_path.read_text())
    except FileNotFoundError:
        states = {}
    except (OSError, ValueError) as exc:
        return LogCheck(False, registry, None, None, problems=[f"cannot read {state_path}: {exc}"])
    state = states.get(registry)
    check = LogCheck(False, registry, state["size"] if state else None, None)
    try:
        served_pem = str(fetch("/api/v1/registry/key"))
        pinned = key_pem or (state or {}).get("key") or served_pem
        if served_pem.strip() != pinned.strip():
            check.problems.append("the registry's signing key changed since the last check")
            return check
        head = fetch("/api/v1/log/head")
        problem = _verify_head(head, pinned)
        if problem:
            check.problems.append(problem)
            return check
        if state is not None and head["origin"] != state.get("origin", head["origin"]):
            check.problems.append(
                f"the tree head is for log {head['origin']!r}, not {state['origin']!r} seen before"
            )
            return check
        if state is not None and str(head["timestamp"]) < str(state.get("timestamp", "")):
            check.problems.append(
                f"the tree head is older ({head['timestamp']}) than the one seen before "
                f"({state['timestamp']}): a replayed head"
            )
            return check
        new_size, new_root = int(head["size"]), tlog.unb64(head["root"])
        check.new_size, check.root = new_size, head["root"]
        if state is None:
            frontier = merkle.Frontier()
            old_size = 0
        else:
            old_size, old_root = int(state["size"]), tlog.unb64(state["root"])
            if new_size < old_size:
                check.problems.append(
                    f"the log shrank from {old_size} to {new_size} entries since the last check"
                )
                return check
            proof = fetch(f"/api/v1/log/consistency?old={old_size}&new={new_size}")
            hashes = [tlog.unb64(h) for h in proof.get("proof", [])]
            if not merkle.verify_consistency(old_size, new_size, old_root, new_root, hashes):
                check.problems.append(
                    f"the log at {new_size} entries is not an extension of the one at "
                    f"{old_size} this client saw: entries were deleted or rewritten"
                )
                return check
            frontier = merkle.Frontier.from_json(state["frontier"])
        for leaf in _entries(fetch, old_size, new_size):
            frontier.append(leaf)
            check.new_entries += 1
        if frontier.root() != new_root:
            check.problems.append(
                f"the entries {old_size}..{new_size - 1} do not hash to the signed head: the "
                "stored log differs from what the registry signed"
            )
            return check
        if audit:
            check.audited = True
            leaves = list(_entries(fetch, 0, new_size))
            if merkle.root_of(leaves) != new_root:
                check.problems.append(
                    "audit: the entries' bodies do not hash to the signed root: an entry was "
                    "rewritten in the registry's database"
                )
                return check
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        check.problems.append(f"the registry's answer is malformed: {exc}")
        return check
    except _FetchError as exc:
        check.problems.append(str(exc))
        # No answer at all is no verdict; an answer that is an error is a log that
        # cannot prove it grew.
        check.unreachable = exc.transport
        return check
    check.ok = True
    states[registry] = {"key": pinned, "origin": head["origin"], "size": new_size,
                        "root": head["root"],
                        "timestamp": head["timestamp"], "frontier": frontier.to_json()}  # fmt: skip
    state_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(states, indent=2))
    os.replace(tmp, state_path)
    return check


class _FetchError(Exception):
    """A request the check needs failed (the fetch callable raises it); ``transport``:
    the registry could not be reached at all."""

    def __init__(self, message: str, *, transport: bool = False) -> None:
        super().__init__(message)
        self.transport = transport


FetchError = _FetchError

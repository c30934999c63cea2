"""`openward registry log verify` against a registry that lies: every answer forged
or replayed without the registry's key is refused, and the trusted head is kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openward.registry import merkle, tlog
from openward.registry.logverify import verify_log
from openward.signing.keys import generate_key, public_pem, sign_bytes


class FakeRegistry:
    def __init__(self) -> None:
        self.key = generate_key()
        self.bodies: list[str] = []
        self.origin = "test-log"
        self.clock = 0
        self.override: dict[str, Any] = {}

    def add(self, n: int) -> None:
        for _ in range(n):
            self.bodies.append(json.dumps({"index": len(self.bodies), "kind": "t"}))

    def head(self, size: int | None = None, timestamp: str | None = None) -> dict[str, Any]:
        size = len(self.bodies) if size is None else size
        leaves = [merkle.leaf_hash(b.encode()) for b in self.bodies[:size]]
        self.clock += 1
        doc = {"context": tlog.HEAD_CONTEXT, "origin": self.origin, "size": size,
               "root": tlog.b64(merkle.root_of(leaves)),
               "timestamp": timestamp or f"2026-11-30T00:00:{self.clock:02d}+00:00"}  # fmt: skip
        return {**doc, "signature": tlog.b64(sign_bytes(self.key, tlog.canonical(doc)))}

    def fetch(self, path: str) -> Any:
        for prefix, answer in self.override.items():
            if path.startswith(prefix):
                return answer
        if path == "/api/v1/registry/key":
            return public_pem(self.key.public_key()).decode()
        if path == "/api/v1/log/head":
            return self.head()
        leaves = [merkle.leaf_hash(b.encode()) for b in self.bodies]

        def perfect(level: int, idx: int) -> bytes:
            return merkle.root_of(leaves[idx << level : (idx + 1) << level])

        query = dict(p.split("=") for p in path.split("?", 1)[1].split("&"))
        if path.startswith("/api/v1/log/consistency"):
            proof = merkle.consistency_proof(int(query["old"]), int(query["new"]), perfect)
            return {"proof": [tlog.b64(h) for h in proof]}
        start, end = int(query["start"]), int(query["end"])
        return {"entries": [{"body": b} for b in self.bodies[start:end]]}


def test_honest_growth_then_every_forgery_is_refused(tmp_path: Path) -> None:
    reg, state = FakeRegistry(), tmp_path / "heads.json"
    reg.add(5)
    first = verify_log(reg.fetch, "r", state)
    assert first.ok and first.new_size == 5
    reg.add(7)
    assert verify_log(reg.fetch, "r", state).ok
    trusted = state.read_text()

    def refused(why: str) -> None:
        result = verify_log(reg.fetch, "r", state)
        assert not result.ok and any(why in p for p in result.problems), result.problems
        assert state.read_text() == trusted
        reg.override.clear()

    reg.override["/api/v1/log/head"] = reg.head(timestamp="2026-11-29T00:00:00+00:00")
    refused("older")
    reg.origin = "another-log"
    reg.override["/api/v1/log/head"] = reg.head()
    reg.origin = "test-log"
    refused("not 'test-log'")
    reg.override["/api/v1/log/head"] = reg.head(size=3)
    refused("shrank")
    forged = reg.head()
    forged["root"] = tlog.b64(b"\1" * 32)
    reg.override["/api/v1/log/head"] = forged
    refused("signature does not verify")
    reg.override["/api/v1/registry/key"] = public_pem(generate_key().public_key()).decode()
    refused("key changed")
    reg.add(2)
    reg.override["/api/v1/log/entries"] = ["not", "a", "page"]
    refused("malformed")
    reg.override["/api/v1/log/entries"] = {"entries": [{"body": "{}"}] * 2}
    refused("do not hash to the signed head")
    reg.bodies[0] = json.dumps({"index": 0, "kind": "rewritten"})
    refused("not an extension")


def test_an_unreachable_registry_is_no_verdict(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from openward.cli.main import app

    args = ["registry", "log", "verify", "--registry", "http://127.0.0.1:9"]
    result = CliRunner().invoke(app, [*args, "--state", str(tmp_path / "s")])
    assert result.exit_code == 2 and "cannot check the log" in result.output
    assert not (tmp_path / "s").exists()

"""A real embedded registry (SQLite, files, in-process checks) on a free port, the small
SmolLM2 family (openward.lineage._small), and helpers for the attacks in this folder.

Run scripts from the worktree root:
    PYTHONPATH=$PWD/src:$PWD:attacks/lineage2 CI=1 \
        /work/main/.venv/bin/python attacks/lineage2/rNN_x.py
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

SCRATCH = Path(os.environ.get("ATTACK_SCRATCH", "/tmp/attack-lineage2"))  # noqa: S108
SCRATCH.mkdir(parents=True, exist_ok=True)


@dataclass
class Reg:
    url: str
    admin: str
    data: Path
    app: Any

    def client(self, token: str | None = None) -> Any:
        from openward.registry.client import Client

        return Client(self.url, token)

    def user(self, name: str, org: str | None, role: str) -> str:
        r = httpx.post(
            f"{self.url}/api/v1/users",
            json={"name": name, "organisation": org, "role": role},
            headers={"Authorization": f"Bearer {self.admin}"},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    def api(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(method, self.url + path, json=body, headers=headers, timeout=120)

    def version(self, ref: str) -> Any:
        org_name, _, version = ref.partition(":")
        r = self.api("GET", f"/api/v1/models/{org_name}/versions/{version}", self.admin)
        return r.json()

    def model(self, name: str) -> Any:
        return self.api("GET", f"/api/v1/models/{name}", self.admin).json()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def registry(**overrides: Any) -> Iterator[Reg]:
    import uvicorn

    from openward.registry.app import create_app
    from openward.registry.service import Settings

    tmp = Path(tempfile.mkdtemp(dir=SCRATCH, prefix="reg-"))
    settings = Settings(data=tmp / "data", **overrides)
    app = create_app(settings)
    admin = app.state.registry.bootstrap_admin()
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield Reg(f"http://127.0.0.1:{port}", admin, tmp / "data", app)
    finally:
        srv.should_exit = True
        thread.join(10)
        shutil.rmtree(tmp, ignore_errors=True)


def smol() -> dict[str, Path]:
    from openward.lineage import _small

    return _small.family()


def folder(name: str) -> Path:
    """A fresh scratch folder for a model built by a script."""
    out = SCRATCH / "models" / name
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def copy(src: Path, name: str, card: str | None = None) -> Path:
    dest = folder(name)
    shutil.copytree(src, dest)
    if card is not None:
        (dest / "README.md").write_text(card)
    return dest


def relatives(reg: Reg, ref: str) -> list[tuple[str, str, bool, Any]]:
    doc = reg.version(ref)
    lin = doc.get("lineage") or {}
    return [
        (r["name"] + ":" + r["version"], r["verdict"], r["direct"], r["safety_edit"])
        for r in lin.get("relatives", [])
    ]


def show(
    label: str, pushed: dict[str, Any], reg: Reg | None = None, ref: str | None = None
) -> None:
    width = int(os.environ.get("REASON_CHARS", "300"))
    reasons = json.dumps(pushed.get("reasons"))[:width]
    line = f"{label}: status={pushed.get('status')} reasons={reasons}"
    if reg is not None and ref is not None:
        doc = reg.version(ref)
        lin = doc.get("lineage") or {}
        line += f"\n    fingerprint={lin.get('fingerprint')} note={lin.get('note')!r}"
        line += f" relatives={relatives(reg, ref)}"
        line += f" tier={doc.get('access_tier')}"
    print(line, flush=True)


def verdict(cand: Path, base: Path) -> dict[str, Any]:
    """compare() + detect_safety_edit() in process (what the registry runs)."""
    from threadpoolctl import threadpool_limits

    from openward.lineage.compare import compare
    from openward.lineage.fingerprint import compute_fingerprint
    from openward.lineage.safety import detect_safety_edit
    from openward.lineage.weights import open_weights

    r = compare(compute_fingerprint(cand), compute_fingerprint(base))
    out: dict[str, Any] = {
        "verdict": r.verdict,
        "score": round(r.score, 4),
        "p": r.p_value,
        "derivation": r.derivation,
    }
    if r.verdict in ("derived", "identical"):
        with threadpool_limits(limits=1, user_api="blas"):
            e = detect_safety_edit(open_weights(cand), open_weights(base))
        ev = e.evidence
        out["safety"] = {
            "detected": e.detected,
            "null_ratio": ev.get("null_ratio"),
            "base_null_ratio": ev.get("base_null_ratio"),
            "null_layers": ev.get("null_layers"),
            "aligned": ev.get("aligned_energy"),
            "removed": ev.get("removed_median"),
            "consistency": round(e.direction_consistency, 3),
        }
    return out

"""What lineage adds to the registry: check time per version, and the relatives index at scale.

Sections (``--only NAME``, repeatable; all by default):

- ``check``: an embedded registry (SQLite, files) checks pushes of SmolLM2-135M cut to two
  layers and 8192 tokens (bf16, 24 MB; ``openward.lineage._small``) and derivatives of it:
  the base, a fine-tune stand-in, an abliterated copy (a safety-edit check against the base)
  and a model trained apart. Each push is checked twice, on two fresh registries: with the
  lineage step, and with it replaced by an empty outcome; ``--runs`` rounds, medians of the
  whole ``run_checks`` time per version, and of the lineage step alone.
- ``index``: a registry database (SQLite) holding ``--versions`` fingerprint rows (random
  unit vectors, 1 KiB each; 1000 models, one in 50 gated), then
  :class:`openward.registry.lineage.RelativeIndex`: the first refresh (every vector read from
  the database), a refresh with nothing new, one with 100 new rows, one after the
  transparency log grew (the ids of taken-down and gated versions read again), and a lookup
  of candidates (a refresh, both indexes, the versions' statuses), medians.

Usage::

    .venv/bin/python benchmarks/registry_lineage_bench.py [--only check] [--runs 3] [--json]

Results also go to ``benchmarks/results/registry_lineage_bench.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "registry_lineage_bench.json"


def _server(data: Path) -> tuple[Any, Any, str, str]:
    import uvicorn

    from openward.registry.app import create_app
    from openward.registry.service import Settings

    app = create_app(Settings(data=data))
    token = app.state.registry.bootstrap_admin()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return app, server, f"http://127.0.0.1:{port}", str(token)


def bench_check(runs: int) -> dict[str, Any]:
    from openward.lineage import _small
    from openward.registry import lineage
    from openward.registry.client import Client
    from openward.registry.service import Registry

    models = _small.family()
    pushes = [("base", "acme/smol:1"), ("derived", "evil/ft:1"),
              ("abliterated", "evil/abl:1"), ("unrelated", "evil/fresh:1")]  # fmt: skip
    check_times: dict[str, dict[str, list[float]]] = {"with": {}, "without": {}}
    step_times: dict[str, list[float]] = {}
    statuses: dict[str, str] = {}
    real_examine = lineage.examine
    real_run = Registry._run_checks
    current: list[str] = [""]

    def timed_run(self: Registry, version_id: int, requested: list[Any]) -> None:
        started = time.perf_counter()
        real_run(self, version_id, requested)
        mode, name = current[0].split(":", 1)
        check_times[mode].setdefault(name, []).append(time.perf_counter() - started)

    def timed_examine(*args: Any, **kw: Any) -> Any:
        out = real_examine(*args, **kw)
        step_times.setdefault(current[0].split(":", 1)[1], []).append(out.seconds)
        return out

    Registry._run_checks = timed_run  # type: ignore[method-assign]
    try:
        for _ in range(runs):
            for mode in ("with", "without"):
                lineage.examine = (  # type: ignore[assignment]
                    timed_examine if mode == "with" else (lambda *a, **k: lineage.Outcome())
                )
                with tempfile.TemporaryDirectory() as tmp:
                    app, server, url, token = _server(Path(tmp) / "data")
                    client = Client(url, token)
                    for name, ref in pushes:
                        current[0] = f"{mode}:{name}"
                        got = client.push(models[name], ref)
                        if mode == "with":
                            statuses[name] = got["status"]
                    server.should_exit = True
                    app.state.registry.sessions.kw["bind"].dispose()
    finally:
        Registry._run_checks = real_run  # type: ignore[method-assign]
        lineage.examine = real_examine  # type: ignore[assignment]
    out: dict[str, Any] = {"runs": runs, "model_bytes": sum(
        f.stat().st_size for f in models["base"].iterdir() if f.is_file())}  # fmt: skip
    for name, _ in pushes:
        with_s = statistics.median(check_times["with"][name])
        without_s = statistics.median(check_times["without"][name])
        out[name] = {"status": statuses.get(name), "check_s": round(with_s, 3),
                     "check_without_lineage_s": round(without_s, 3),
                     "added_s": round(with_s - without_s, 3),
                     "lineage_step_s": round(statistics.median(step_times[name]), 3)}  # fmt: skip
    return out


def bench_index(versions: int, runs: int) -> dict[str, Any]:
    import numpy as np
    from sqlalchemy import insert

    from openward.lineage.index import DIM
    from openward.registry.db import make_engine, migrate, session_factory
    from openward.registry.lineage import RelativeIndex
    from openward.registry.models import Fingerprint, LogEntry, Model, Organisation, Version

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/registry.db")
        migrate(engine)
        sessions = session_factory(engine)

        def add(s: Any, start: int, count: int) -> None:
            s.execute(insert(Version), [
                {"id": start + i, "model_id": 1 + (start + i) % 1000, "version": str(start + i),
                 "digest": f"{start + i:064x}", "status": "published", "reasons": []}
                for i in range(count)])  # fmt: skip
            vectors = rng.standard_normal((count, DIM)).astype("<f4")
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            s.execute(insert(Fingerprint), [
                {"version_id": start + i, "vector": vectors[i].tobytes(), "fingerprint": None}
                for i in range(count)])  # fmt: skip

        with sessions.begin() as s:
            s.add(Organisation(id=1, name="org"))
            s.execute(insert(Model), [{"id": m, "organisation_id": 1, "name": f"m{m}",
                                       "access_tier": "gated" if m % 50 == 0 else "open"}
                                      for m in range(1, 1001)])  # fmt: skip
            for start in range(1, versions + 1, 10_000):
                add(s, start, min(10_000, versions + 1 - start))
        index = RelativeIndex()
        with sessions() as s:
            started = time.perf_counter()
            index.refresh(s)
            first = time.perf_counter() - started
        idle, lookups = [], []
        query = rng.standard_normal(DIM).astype(np.float32)
        for _ in range(runs):
            with sessions() as s:
                started = time.perf_counter()
                index.refresh(s)
                idle.append(time.perf_counter() - started)
                started = time.perf_counter()
                index.candidates(s, versions + 10_000, 0, query)
                lookups.append(time.perf_counter() - started)
        with sessions.begin() as s:
            add(s, versions + 1, 100)
        with sessions() as s:
            started = time.perf_counter()
            index.refresh(s)
            hundred = time.perf_counter() - started
        with sessions.begin() as s:  # a takedown or a tier change: the log grew
            s.add(LogEntry(idx=0, kind="access-tier", body="{}"))
        with sessions() as s:
            started = time.perf_counter()
            index.refresh(s)
            logged = time.perf_counter() - started
        engine.dispose()
    return {"versions": versions, "ruled": len(index.ruled), "first_refresh_s": round(first, 3),
            "refresh_nothing_new_ms": round(statistics.median(idle) * 1e3, 1),
            "refresh_100_new_ms": round(hundred * 1e3, 1),
            "refresh_after_log_grew_ms": round(logged * 1e3, 1),
            "candidates_ms": round(statistics.median(lookups) * 1e3, 1),
            "index_mib": round((index.all.nbytes + index.ruled.nbytes) / 2**20, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=["check", "index"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    only = set(args.only or ["check", "index"])
    results: dict[str, Any] = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    if "check" in only:
        results["check"] = bench_check(args.runs)
    if "index" in only:
        results["index"] = bench_index(args.versions, max(5, args.runs))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Registry governance: the transparency log up to a million entries, and `openward check`.

What it measures, in one run:

- the RFC 9162 log in the registry's own storage (``openward.registry.tlog`` over SQLite made
  by ``db.make_engine`` + ``migrate``, the embedded configuration; PostgreSQL too when one
  answers at 127.0.0.1:5432, in a fresh schema): bulk append throughput per decade
  (``append_many``, 10,000 entries a transaction), and at 1e3, 1e4, 1e5 and 1e6 entries a
  single ``append`` in its own transaction (median of 50), the root (median of 10), inclusion
  proofs (median over 100 random leaves) and consistency proofs (median over 100 random old
  sizes), the proof sizes, the perfect nodes each one reads and the SQL statements it runs.
  Every proof timed is verified with ``merkle.verify_*`` against roots recomputed from the
  entries' bodies, read back, in memory: the benchmark checks correctness as well as speed.
  The plan of the node query tlog runs is recorded (``EXPLAIN``): a table scan there makes
  every proof linear in the log's size (a first run of this benchmark found one on SQLite);
- peers on the same entry bodies (the canonical JSON the log stored, ~200 bytes), in a
  subprocess: hashlib SHA-256 (the floor: an append costs one leaf hash and, on average, one
  node hash), pymerkle 7.0.0's ``InmemoryTree`` (installed with ``pip install --target`` into
  the gitignored ``benchmarks/.corpus/peers/``, never into ``.venv``) and openward's own
  ``merkle`` functions over a dict of perfect nodes filled with ``completed_nodes`` (like for
  like: both in memory). Roots must equal each other and the SQLite log's root at every size;
  inclusion paths must be identical; pymerkle's consistency proofs are in its own format (not
  RFC 9162's PROOF), so both are verified with their own verifiers against the same roots;
- ``openward check --hf-cache --advisories FILE --json`` over a Hugging Face cache of 100
  models (huggingface_hub's layout: blobs, snapshots of relative symlinks, refs/main; two
  5 MB safetensors, config.json and tokenizer.json each, ~1 GB), 3 of them flagged in an
  ``openward-advisory-export/v1`` file (the other 97 published, their files in
  ``clean_files``), against ``cat`` and ``openssl dgst -sha256`` of the same blob files.
  hyperfine (``-N -w 1 -r 5``) when installed, else the same with ``time.perf_counter``.

Results go to ``benchmarks/results/registry_governance.{md,json}`` (gitignored); the cache is
kept in ``benchmarks/.corpus/hf_cache_100``.

Usage::

    .venv/bin/python benchmarks/registry_governance_bench.py [--max-size N] [--quick]
        [--pg-max-size N] [--no-pg] [--peer-budget SECONDS]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import hashlib
import json
import os
import random
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CORPUS = REPO / "benchmarks" / ".corpus"
PEERS = CORPUS / "peers" / "pymerkle-7.0.0"
HYPERFINE = shutil.which("hyperfine") or "/usr/bin/hyperfine"
PG = {"host": "127.0.0.1", "port": 5432, "dbname": "test", "user": "postgres"}
BATCH = 10_000
GB = 1e9
KINDS = ["published", "published", "published", "quarantined", "taken-down", "advisory"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def body(rng: random.Random, n: int) -> tuple[str, dict[str, Any]]:
    """A realistic log entry: a version's status change (what ``service.py`` appends)."""
    kind = KINDS[n % len(KINDS)]
    doc: dict[str, Any] = {
        "model": f"org-{n % 997:03d}/model-{n // 7:07d}",
        "version": str(1 + n % 5),
        "digest": rng.randbytes(32).hex(),
        "reasons": [] if kind == "published" else ["pickle: os.system in data.pkl"],
    }
    return kind, doc


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def sizes_up_to(max_size: int) -> list[int]:
    out, n = [], 1000
    while n <= max_size:
        out.append(n)
        n *= 10
    return out


def fmt_t(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "–"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_n(n: float) -> str:
    return f"{n:,.0f}"


# -- 1. the transparency log in the registry's storage ---------------------------------------
class Mirror:
    """The log recomputed from its entries' bodies, read back from the database: a dict of
    perfect nodes (independent of ``log_nodes``) giving the roots the proofs must verify
    against, and optionally every body, in log order, for the peer comparison."""

    def __init__(self, bodies_out: Path | None) -> None:
        self.size = 0
        self.store: dict[tuple[int, int], bytes] = {}
        self.out = bodies_out.open("wb") if bodies_out else None

    def get(self, level: int, idx: int) -> bytes:
        return self.store[(level, idx)]

    def sync(self, s: Any) -> None:
        from sqlalchemy import select

        from openward.registry import merkle
        from openward.registry.models import LogEntry

        rows = s.execute(
            select(LogEntry.idx, LogEntry.body)
            .where(LogEntry.idx >= self.size)
            .order_by(LogEntry.idx)
        )
        for idx, text in rows:
            assert idx == self.size, f"gap in the log at {self.size}"
            data = text.encode()
            leaf = merkle.leaf_hash(data)
            self.store[(0, idx)] = leaf
            for level, i, h in merkle.completed_nodes(idx, leaf, self.get):
                self.store[(level, i)] = h
            if self.out:
                assert b"\n" not in data
                self.out.write(data + b"\n")
            self.size += 1

    def root(self, n: int) -> bytes:
        from openward.registry import merkle

        return merkle.tree_root(n, self.get)

    def leaf(self, i: int) -> bytes:
        return self.store[(0, i)]

    def close(self) -> None:
        if self.out:
            self.out.close()


class Counter:
    """SQL statements run on an engine, and the last node query seen (for EXPLAIN)."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.n = 0
        self.on = True
        self.capture = False
        self.node_query: tuple[str, Any] | None = None

        @event.listens_for(engine, "before_cursor_execute")
        def _count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            if self.on:
                self.n += 1
                if self.capture and "FROM log_nodes" in statement:
                    self.node_query = (statement, parameters)


def nodes_read(compute: Callable[[Callable[[int, int], bytes]], Any]) -> int:
    """The distinct perfect nodes a root or proof reads (what ``tlog._with_nodes`` fetches)."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, idx: int) -> bytes:
        wanted.add((level, idx))
        return b"\0" * 32

    compute(record)
    return len(wanted)


def explain(engine: Any, counter: Counter, query: tuple[str, Any] | None) -> list[str]:
    if query is None:
        return []
    statement, params = query
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    counter.on = False
    try:
        with engine.connect() as c:
            rows = c.exec_driver_sql(prefix + statement, params).all()
    finally:
        counter.on = True
    if engine.dialect.name == "sqlite":
        return [str(r[-1]) for r in rows]
    return [str(r[0]) for r in rows]


def log_bench(url: str, sizes: list[int], bodies_out: Path | None, seed: int = 1) -> dict[str, Any]:
    """Fill the log to each size in turn and measure appends, roots and proofs there."""
    from sqlalchemy import select

    from openward.registry import merkle, tlog
    from openward.registry.db import make_engine, migrate, session_factory
    from openward.registry.models import LogEntry

    engine = make_engine(url)
    migrate(engine)
    Session = session_factory(engine)
    counter = Counter(engine)
    mirror = Mirror(bodies_out)
    rng = random.Random(seed)
    made = 0
    out: dict[str, Any] = {"dialect": engine.dialect.name, "decades": [], "points": []}
    prev = 0
    try:
        for n in sizes:
            # bulk fill to exactly n entries
            appended, spent = 0, 0.0
            with Session() as s:
                start_size = tlog.size(s)
            pos = start_size
            while pos < n:
                items = []
                for _ in range(min(BATCH, n - pos)):
                    items.append(body(rng, made))
                    made += 1
                t0 = time.perf_counter()
                with Session() as s:
                    tlog.append_many(s, items)
                    s.commit()
                spent += time.perf_counter() - t0
                appended += len(items)
                pos += len(items)
                with Session() as s:
                    mirror.sync(s)
            out["decades"].append(
                {
                    "from": prev,
                    "to": n,
                    "entries": appended,
                    "seconds": spent,
                    "per_s": appended / spent,
                }
            )
            log(f"{engine.dialect.name}: filled to {n:,} ({appended / spent:,.0f} entries/s)")
            point: dict[str, Any] = {"size": n}
            r = random.Random(n)
            with Session() as s:
                assert tlog.size(s) == n == mirror.size
                # root
                times = []
                for _ in range(10):
                    c0 = counter.n
                    t, (size, root) = timed(lambda s=s: tlog.root(s))
                    times.append(t)
                    root_statements = counter.n - c0
                assert size == n and root == mirror.root(n), "root differs from the entries"
                point["root"] = {
                    "median_s": median(times),
                    "statements": root_statements,
                    "nodes": nodes_read(lambda p, n=n: merkle.tree_root(n, p)),
                }
                point["root_hex"] = root.hex()
                # inclusion
                times, lens, nodes, stmts = [], [], [], []
                for i in sorted(r.randrange(n) for _ in range(100)):
                    c0, counter.capture = counter.n, True
                    t, proof = timed(lambda s=s, i=i, n=n: tlog.inclusion(s, i, n))
                    stmts.append(counter.n - c0)
                    counter.capture = False
                    times.append(t)
                    entry = s.scalar(select(LogEntry.body).where(LogEntry.idx == i))
                    assert entry is not None
                    leaf = merkle.leaf_hash(entry.encode())
                    assert leaf == mirror.leaf(i)
                    assert merkle.verify_inclusion(leaf, i, n, proof, root), (i, n)
                    lens.append(len(proof))
                    nodes.append(nodes_read(lambda p, i=i, n=n: merkle.inclusion_proof(i, n, p)))
                point["inclusion"] = {
                    "median_s": median(times),
                    "p90_s": sorted(times)[89],
                    "verified": len(times),
                    "hashes_median": median(lens),
                    "hashes_max": max(lens),
                    "nodes_median": median(nodes),
                    "nodes_max": max(nodes),
                    "statements": max(stmts),
                }
                plan = explain(engine, counter, counter.node_query)
                # consistency
                times, lens, nodes, stmts = [], [], [], []
                for m in sorted(r.randrange(1, n) for _ in range(100)):
                    c0 = counter.n
                    t, proof = timed(lambda s=s, m=m, n=n: tlog.consistency(s, m, n))
                    stmts.append(counter.n - c0)
                    times.append(t)
                    assert merkle.verify_consistency(m, n, mirror.root(m), root, proof), (m, n)
                    lens.append(len(proof))
                    nodes.append(nodes_read(lambda p, m=m, n=n: merkle.consistency_proof(m, n, p)))
                point["consistency"] = {
                    "median_s": median(times),
                    "p90_s": sorted(times)[89],
                    "verified": len(times),
                    "hashes_median": median(lens),
                    "hashes_max": max(lens),
                    "nodes_median": median(nodes),
                    "nodes_max": max(nodes),
                    "statements": max(stmts),
                }
                point["node_query_plan"] = plan
            # single appends, each in its own transaction
            times = []
            for _ in range(50):
                kind, doc = body(rng, made)
                made += 1

                def one(kind: str = kind, doc: dict[str, Any] = doc) -> int:
                    with Session() as s:
                        index = tlog.append(s, kind, doc)
                        s.commit()
                        return index

                t, _ = timed(one)
                times.append(t)
            point["single_append_median_s"] = median(times)
            point["single_append_p90_s"] = sorted(times)[44]
            with Session() as s:
                mirror.sync(s)
            out["points"].append(point)
            log(
                f"{engine.dialect.name} @ {n:,}: root {fmt_t(point['root']['median_s'])}, "
                f"inclusion {fmt_t(point['inclusion']['median_s'])}, consistency "
                f"{fmt_t(point['consistency']['median_s'])}, append "
                f"{fmt_t(point['single_append_median_s'])}"
            )
            prev = n
        out["final_size"] = mirror.size
        out["storage"] = storage(engine)
    finally:
        mirror.close()
        engine.dispose()
    return out


def storage(engine: Any) -> dict[str, Any]:
    """On-disk size of the log (SQLite: the file after a WAL checkpoint; PostgreSQL: the
    log tables with their indexes)."""
    from sqlalchemy import text

    out: dict[str, Any] = {}
    with engine.connect() as c:
        if engine.dialect.name == "sqlite":
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            path = Path(engine.url.database)
            out["file_bytes"] = path.stat().st_size
            wal = path.with_name(path.name + "-wal")
            out["wal_bytes"] = wal.stat().st_size if wal.exists() else 0
            try:
                rows = c.exec_driver_sql(
                    "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
                ).all()
                out["tables"] = {name: int(b) for name, b in rows if b and int(b) > 65536}
            except Exception:  # dbstat is an optional SQLite module
                out["tables"] = {}
        else:
            out["tables"] = {}
            for table in ("log_entries", "log_nodes"):
                out["tables"][table] = int(
                    c.execute(text("SELECT pg_total_relation_size(:t)"), {"t": table}).scalar_one()
                )
            out["file_bytes"] = sum(out["tables"].values())
    return out


def pg_schema() -> str | None:
    try:
        import psycopg

        conn = psycopg.connect(**PG, connect_timeout=3, autocommit=True)
    except Exception as exc:
        log(f"PostgreSQL not reachable at 127.0.0.1:5432 ({type(exc).__name__}): skipped")
        return None
    schema = "ow_bench_" + secrets.token_hex(4)
    with conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return schema


def pg_drop(schema: str) -> None:
    import psycopg

    with psycopg.connect(**PG, connect_timeout=3, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


# -- 2. peers in memory (a subprocess with pymerkle on its path) -----------------------------
def ensure_pymerkle() -> Path:
    if (PEERS / "pymerkle" / "__init__.py").exists():
        return PEERS
    log(f"installing pymerkle 7.0.0 into {PEERS} (pip --target; not .venv)")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(PEERS),
            "pymerkle==7.0.0",
        ],
        check=True,
    )
    return PEERS


def peer_worker(bodies_path: Path, sizes: list[int], roots: dict[str, str], budget: float) -> None:
    """Runs in the subprocess: the SHA-256 floor, openward's merkle in memory and pymerkle's
    InmemoryTree on the same bodies; prints one JSON document."""
    sys.path.insert(0, str(PEERS))
    import pymerkle

    from openward.registry import merkle

    bodies = bodies_path.read_bytes().split(b"\n")[: max(sizes)]
    out: dict[str, Any] = {"pymerkle": pymerkle.__version__, "bytes_mean": 0.0}
    out["bytes_mean"] = sum(map(len, bodies)) / len(bodies)
    sha = hashlib.sha256
    # the floor: one leaf hash per entry plus one node hash on average
    t, _ = timed(lambda: [sha(b).digest() for b in bodies])
    node = b"\x01" + os.urandom(64)
    t_node, _ = timed(lambda: [sha(node).digest() for _ in bodies])
    out["floor"] = {
        "n": len(bodies),
        "body_hashes_per_s": len(bodies) / t,
        "node_hashes_per_s": len(bodies) / t_node,
        "append_floor_per_s": len(bodies) / (t + t_node),
    }
    store: dict[tuple[int, int], bytes] = {}
    get = store.__getitem__

    def perfect(level: int, idx: int) -> bytes:
        return get((level, idx))

    # warm-up: both implementations build a throwaway tree of 2,000 entries first
    warm: dict[tuple[int, int], bytes] = {}
    for i, data in enumerate(bodies[:2000]):
        leaf = merkle.leaf_hash(data)
        warm[(0, i)] = leaf
        for level, idx, h in merkle.completed_nodes(i, leaf, lambda lv, ix: warm[(lv, ix)]):
            warm[(level, idx)] = h
    pymerkle.InmemoryTree().append_entries(bodies[:2000])
    warm.clear()
    gc.collect()  # the warm-up tree's parent/child cycles, freed before any timing
    tree = pymerkle.InmemoryTree()
    pm_on, pm_spent, pm_last = True, 0.0, 0.0
    out["openward"], out["pymerkle_tree"], out["agree"] = [], [], []
    prev = 0
    for n in sizes:
        chunk = bodies[prev:n]
        t0 = time.perf_counter()
        for i, data in enumerate(chunk, prev):
            leaf = merkle.leaf_hash(data)
            store[(0, i)] = leaf
            for level, idx, h in merkle.completed_nodes(i, leaf, perfect):
                store[(level, idx)] = h
        ow_t = time.perf_counter() - t0
        prev = n
        if pm_on and pm_last * 11 > budget - pm_spent:
            pm_on = False
            out["pymerkle_stopped"] = (
                f"stopped before {n:,}: the next decade would take "
                f"~{pm_last * 11:.0f} s, over the budget"
            )
        if pm_on:
            t0 = time.perf_counter()
            for data in chunk:
                tree.append_entry(data)
            pm_last = time.perf_counter() - t0
            pm_spent += pm_last
        r = random.Random(n)
        idxs = [r.randrange(n) for _ in range(100)]
        olds = [r.randrange(1, n) for _ in range(100)]
        ow: dict[str, Any] = {"size": n, "append_per_s": len(chunk) / ow_t}
        t_root = []
        for _ in range(10):
            t, root = timed(lambda n=n: merkle.tree_root(n, perfect))
            t_root.append(t)
        ow["root_s"] = median(t_root)
        assert root.hex() == roots.get(str(n), root.hex()), "in-memory root != SQLite log root"
        ow["root_matches_sqlite_log"] = str(n) in roots
        inc_t, inc_len, ow_paths = [], [], []
        for i in idxs:
            t, p = timed(lambda i=i, n=n: merkle.inclusion_proof(i, n, perfect))
            assert merkle.verify_inclusion(store[(0, i)], i, n, p, root)
            inc_t.append(t)
            inc_len.append(len(p))
            ow_paths.append(p)
        con_t, con_len = [], []
        old_roots = {m: merkle.tree_root(m, perfect) for m in olds}
        for m in olds:
            t, p = timed(lambda m=m, n=n: merkle.consistency_proof(m, n, perfect))
            assert merkle.verify_consistency(m, n, old_roots[m], root, p)
            con_t.append(t)
            con_len.append(len(p))
        ow.update(
            inclusion_s=median(inc_t),
            inclusion_hashes=statistics.mean(inc_len),
            consistency_s=median(con_t),
            consistency_hashes=statistics.mean(con_len),
        )
        out["openward"].append(ow)
        if not pm_on:
            continue
        pm: dict[str, Any] = {"size": n, "append_per_s": len(chunk) / pm_last}
        t_root = []
        for _ in range(10):
            t, pm_root = timed(tree.get_root)
            t_root.append(t)
        pm["root_s"] = median(t_root)
        inc_t, con_t, pm_con_len = [], [], []
        same_paths = 0
        for i, ours in zip(idxs, ow_paths, strict=True):
            t, p = timed(lambda i=i, n=n: tree.prove_inclusion(i + 1, n))
            inc_t.append(t)
            pymerkle.verify_inclusion(store[(0, i)], pm_root, p)  # raises if invalid
            same_paths += p.path[1:] == ours  # pymerkle's path starts with the leaf itself
        for m in olds:
            t, p = timed(lambda m=m, n=n: tree.prove_consistency(m, n))
            con_t.append(t)
            pymerkle.verify_consistency(old_roots[m], pm_root, p)  # against openward's roots
            pm_con_len.append(len(p.path))
        pm.update(
            inclusion_s=median(inc_t),
            inclusion_hashes=statistics.mean(inc_len) + 1,
            consistency_s=median(con_t),
            consistency_hashes=statistics.mean(pm_con_len),
        )
        out["pymerkle_tree"].append(pm)
        out["agree"].append(
            {
                "size": n,
                "root_equal": pm_root == root,
                "inclusion_paths_identical": same_paths,
                "of": len(idxs),
                "consistency_verified_against_our_roots": len(olds),
            }
        )
        assert pm_root == root, "pymerkle's root differs from openward's"
        print(f"peer @ {n:,} done", file=sys.stderr, flush=True)
    print(json.dumps(out))


def run_peers(
    bodies: Path, sizes: list[int], roots: dict[str, str], budget: float
) -> dict[str, Any]:
    ensure_pymerkle()
    cmd = [
        sys.executable,
        __file__,
        "--peer-worker",
        str(bodies),
        "--sizes",
        ",".join(map(str, sizes)),
        "--roots",
        json.dumps(roots),
        "--peer-budget",
        str(budget),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    doc: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return doc


# -- 3. openward check over a Hugging Face cache ---------------------------------------------
def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def build_hf_cache(root: Path, models: int, tensor_bytes: int) -> dict[str, Any]:
    """huggingface_hub's cache layout; returns {repo: {snapshot, files: {name: sha256}}}."""
    from openward._samples import _safetensors_bytes

    marker = root / "manifest.json"
    if marker.exists():
        doc: dict[str, Any] = json.loads(marker.read_text())
        if doc.get("models") == models and doc.get("tensor_bytes") == tensor_bytes:
            return doc
    if root.exists():
        shutil.rmtree(root)
    hub = root / "hub"
    repos: dict[str, Any] = {}
    tokenizers = {}
    for fam in range(10):
        vocab = {f"tok{fam}_{i}": i for i in range(8000)}
        tokenizers[fam] = json.dumps(
            {"version": "1.0", "model": {"type": "BPE", "vocab": vocab}}
        ).encode()
    for m in range(models):
        org, name = f"org{m % 10}", f"model-{m:03d}"
        repo = hub / f"models--{org}--{name}"
        commit = hashlib.sha1(f"{org}/{name}".encode(), usedforsecurity=False).hexdigest()
        snap = repo / "snapshots" / commit
        (repo / "blobs").mkdir(parents=True)
        snap.mkdir(parents=True)
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(commit)
        rng = random.Random(m)
        contents = {}
        for k in (1, 2):
            raw = rng.randbytes(tensor_bytes)
            contents[f"model-0000{k}-of-00002.safetensors"] = _safetensors_bytes(
                {f"layers.{k}.weight": ("U8", [tensor_bytes], raw)}
            )
        contents["config.json"] = json.dumps(
            {"model_type": "llama", "_name": name, "hidden_size": 64 * (1 + m % 8)}
        ).encode()
        contents["tokenizer.json"] = tokenizers[m % 10]
        files = {}
        for fname, data in contents.items():
            sha = hashlib.sha256(data).hexdigest()
            blob = sha if fname.endswith(".safetensors") else _git_blob_sha1(data)
            (repo / "blobs" / blob).write_bytes(data)
            (snap / fname).symlink_to(f"../../blobs/{blob}")
            files[fname] = sha
        repos[f"{org}/{name}"] = {"snapshot": str(snap), "files": files}
    doc = {"models": models, "tensor_bytes": tensor_bytes, "repos": repos}
    marker.write_text(json.dumps(doc))
    return doc


def write_export(cache: dict[str, Any], flagged_names: list[str], path: Path) -> None:
    from openward.registry.check import hash_target

    flagged, clean = [], set()
    for name, repo in cache["repos"].items():
        if name not in flagged_names:
            clean.update(repo["files"].values())
            continue
        digest, files = hash_target(Path(repo["snapshot"]))
        assert files == repo["files"]
        flagged.append(
            {
                "name": name,
                "version": "1",
                "digest": digest,
                "status": "taken-down",
                "reasons": ["pickle: os.system in a checkpoint"],
                "advisories": [],
                "files": files,
            }
        )
    doc = {
        "format": "openward-advisory-export/v1",
        "generated_at": "2026-11-30T00:00:00Z",
        "advisories": [],
        "flagged": flagged,
        "clean_files": sorted(clean),
    }
    path.write_text(json.dumps(doc))


def bench_cmd(argv: list[str], work: Path, runs: int, ok: tuple[int, ...] = (0,)) -> dict[str, Any]:
    if Path(HYPERFINE).exists():
        export = work / "h.json"
        cmd = [
            HYPERFINE,
            "-N",
            "-w",
            "1",
            "-r",
            str(runs),
            "--style",
            "none",
            "--export-json",
            str(export),
            " ".join(argv),
        ]
        if ok != (0,):
            cmd[1:1] = ["-i"]  # exit 1 (flagged) is the expected outcome of `check`
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            return {"error": proc.stderr[-300:]}
        r = json.loads(export.read_text())["results"][0]
        return {"mean": r["mean"], "stddev": r["stddev"] or 0.0, "runs": runs, "tool": "hyperfine"}
    times, cpu = [], []
    for k in range(runs + 1):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, check=False)
        t = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode not in ok:
            return {"error": proc.stderr[-300:].decode(errors="replace")}
        if k:  # the first run warms up
            times.append(t)
            cpu.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
    return {
        "mean": statistics.mean(times),
        "stddev": statistics.stdev(times) if runs > 1 else 0.0,
        "cpu": statistics.mean(cpu),
        "runs": runs,
        "tool": "perf_counter",
    }


def script(path: Path, line: str) -> list[str]:
    path.write_text("#!/bin/sh\nset -e\n" + line + "\n")
    path.chmod(0o755)
    return [str(path)]


def check_bench(models: int, tensor_bytes: int, runs: int, work: Path) -> dict[str, Any]:
    root = CORPUS / f"hf_cache_{models}"
    log(f"building the Hugging Face cache in {root} ...")
    cache = build_hf_cache(root, models, tensor_bytes)
    names = list(cache["repos"])
    flagged_names = [names[7 % len(names)], names[42 % len(names)], names[91 % len(names)]]
    export = work / "advisories.json"
    write_export(cache, flagged_names, export)
    hub = root / "hub"
    blobs = sorted(hub.glob("models--*/blobs/*"))
    size = sum(p.stat().st_size for p in blobs)
    lst = work / "blobs.txt"
    lst.write_text("\n".join(str(p) for p in blobs) + "\n")
    argv = [
        str(BIN / "openward"),
        "check",
        "--hf-cache",
        "--cache-dir",
        str(hub),
        "--advisories",
        str(export),
        "--json",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    doc = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
    got = sorted(r["flagged"][0]["name"] for r in doc.get("results", []) if r["flagged"])
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-500:])
    assert doc["flagged"] == 3 and got == sorted(flagged_names), got
    assert len(doc["results"]) == models
    out: dict[str, Any] = {
        "models": models,
        "files": 4 * models,
        "blob_files": len(blobs),
        "bytes": size,
        "flagged": got,
        "exit": proc.returncode,
    }
    cmds = {
        "cat (read every blob)": script(work / "cat.sh", f"xargs cat < '{lst}' > /dev/null"),
        "openssl dgst -sha256 (one core)": script(
            work / "ossl.sh", f"xargs openssl dgst -sha256 < '{lst}' > /dev/null"
        ),
        "openward check --hf-cache": argv,
    }
    tiny = build_hf_cache(CORPUS / "hf_cache_1", 1, 16)
    assert tiny["repos"]
    startup = [*argv[:4], str(CORPUS / "hf_cache_1" / "hub"), *argv[5:]]
    cmds["openward check, 1 tiny model (start-up)"] = startup
    out["results"] = {}
    for name, cmd in cmds.items():
        log(f"{name} ...")
        ok = (1,) if name == "openward check --hf-cache" else (0,)
        out["results"][name] = bench_cmd(cmd, work, runs, ok)
    return out


def plan_summary(lines: list[str]) -> str:
    """The access paths of an EXPLAIN, without costs or conditions."""
    seen: list[str] = []
    for line in lines:
        step = line.strip().removeprefix("->").strip().split("  (cost=")[0]
        if step.startswith(("Recheck", "Index Cond", "Filter")) or step in seen:
            continue
        seen.append(step)
    return "; ".join(f"`{x}`" for x in seen[:5]) or "–"


# -- the report -------------------------------------------------------------------------------
def report(res: dict[str, Any]) -> str:
    now = datetime.datetime.now(datetime.UTC)
    L = [
        "# Registry governance: transparency log and `openward check`",
        "",
        f"- date: {now:%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; Python "
        f"{sys.version.split()[0]}; max log size {res['max_size']:,}; load average "
        f"{res['load'][0]:.1f} at the start, {res['load'][1]:.1f} at the end",
        "",
    ]
    for db in res["logs"]:
        if "skipped" in db:
            L += [f"## Log in {db['name']}: skipped ({db['skipped']})", ""]
            continue
        L += [f"## Log in {db['name']} (tlog, the registry's storage)", ""]
        L += [
            "| bulk append (append_many, 10k a transaction) | entries | seconds | entries/s |",
            "|---|---|---|---|",
        ]
        for d in db["decades"]:
            L.append(
                f"| {d['from']:,} → {d['to']:,} | {d['entries']:,} | {d['seconds']:.2f} "
                f"| {fmt_n(d['per_s'])} |"
            )
        L += [
            "",
            "| size | single append (own txn) | root | inclusion proof | hashes (bytes) "
            "| nodes read | consistency proof | hashes (bytes) | nodes read | SQL per proof |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for p in db["points"]:
            inc, con = p["inclusion"], p["consistency"]
            L.append(
                f"| {p['size']:,} | {fmt_t(p['single_append_median_s'])} "
                f"| {fmt_t(p['root']['median_s'])} | {fmt_t(inc['median_s'])} "
                f"| {inc['hashes_median']:g} ({inc['hashes_median'] * 32:.0f} B), max "
                f"{inc['hashes_max']} | {inc['nodes_median']:.0f} | {fmt_t(con['median_s'])} "
                f"| {con['hashes_median']:g} ({con['hashes_median'] * 32:.0f} B), max "
                f"{con['hashes_max']} | {con['nodes_median']:.0f} | {inc['statements']} |"
            )
        st = db["storage"]
        per = st["file_bytes"] / db["final_size"]
        tables = ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in st.get("tables", {}).items())
        L += [
            "",
            f"Storage at {db['final_size']:,} entries: {st['file_bytes'] / 1e6:.0f} MB "
            f"({per:.0f} B an entry){'; ' + tables if tables else ''}.",
        ]
        verified = sum(
            p["inclusion"]["verified"] + p["consistency"]["verified"] for p in db["points"]
        )
        L += [
            "",
            "Every proof above verified with `merkle.verify_inclusion` / "
            "`verify_consistency` against roots recomputed from the entries' bodies "
            f"({verified} proofs). Plan of tlog's node query at the largest size: "
            f"{plan_summary(db['points'][-1]['node_query_plan'])}.",
            "",
        ]
    peers = res["peers"]
    if "error" in peers:
        L += ["## Peers: failed", "", "```", peers["error"], "```", ""]
    else:
        f = peers["floor"]
        L += [
            "## In memory: openward merkle vs pymerkle 7.0.0 vs the SHA-256 floor",
            "",
            f"Same bodies as the SQLite log (mean {peers['bytes_mean']:.0f} B). hashlib SHA-256: "
            f"{fmt_n(f['body_hashes_per_s'])} body hashes/s, {fmt_n(f['node_hashes_per_s'])} "
            f"node hashes/s; floor for an append (1 leaf + 1 node hash): "
            f"{fmt_n(f['append_floor_per_s'])}/s.",
            "",
            "| size | impl | append/s | root | inclusion | hashes | consistency | hashes |",
            "|---|---|---|---|---|---|---|---|",
        ]
        pm_by = {p["size"]: p for p in peers["pymerkle_tree"]}
        for ow in peers["openward"]:
            rows = [("openward merkle (dict)", ow)]
            if ow["size"] in pm_by:
                rows.append(("pymerkle InmemoryTree", pm_by[ow["size"]]))
            for name, x in rows:
                L.append(
                    f"| {x['size']:,} | {name} | {fmt_n(x['append_per_s'])} "
                    f"| {fmt_t(x['root_s'])} | {fmt_t(x['inclusion_s'])} "
                    f"| {x['inclusion_hashes']:.1f} | {fmt_t(x['consistency_s'])} "
                    f"| {x['consistency_hashes']:.1f} |"
                )
        L.append("")
        for a in peers["agree"]:
            L.append(
                f"- {a['size']:,}: roots equal: {a['root_equal']}; inclusion paths "
                f"identical: {a['inclusion_paths_identical']}/{a['of']}; pymerkle "
                f"consistency proofs verified against openward's roots: "
                f"{a['consistency_verified_against_our_roots']}"
            )
        matched = [ow["size"] for ow in peers["openward"] if ow["root_matches_sqlite_log"]]
        L.append(
            f"- in-memory roots equal to the SQLite log's root at: "
            f"{', '.join(f'{n:,}' for n in matched)}"
        )
        if "pymerkle_stopped" in peers:
            L.append(f"- pymerkle {peers['pymerkle_stopped']}")
        L.append("")
    chk = res.get("check")
    if chk:
        L += [
            f"## `openward check --hf-cache`: {chk['models']} models, {chk['blob_files']} blob "
            f"files, {chk['bytes'] / GB:.2f} GB",
            "",
            "| command | mean ± σ (s) | CPU s | GB/s | models/s | × openssl one core |",
            "|---|---|---|---|---|---|",
        ]
        base = chk["results"]["openssl dgst -sha256 (one core)"].get("mean")
        for name, r in chk["results"].items():
            if "error" in r:
                L.append(f"| {name} | failed: {r['error'][:80]} | | | | |")
                continue
            cpu = f"{r['cpu']:.2f}" if "cpu" in r else "–"
            rates = (
                "| – | – | –"
                if "start-up" in name
                else f"| {chk['bytes'] / GB / r['mean']:.2f} | {chk['models'] / r['mean']:.0f} "
                f"| {base / r['mean'] if base else float('nan'):.2f}"
            )
            L.append(f"| {name} | {r['mean']:.3f} ± {r['stddev']:.3f} | {cpu} {rates} |")
        tool = next(iter(chk["results"].values())).get("tool", "")
        L += [
            "",
            f"`check` exit {chk['exit']}, flagged exactly {', '.join(chk['flagged'])}; "
            f"timed with {tool} (warm-up 1, {res['runs']} runs), warm page cache.",
            "",
        ]
    return "\n".join(L) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--max-size", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1e4 entries, 10 models")
    parser.add_argument(
        "--pg-max-size", type=int, default=None, help="largest PostgreSQL log (default: --max-size)"
    )
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-check", action="store_true")
    parser.add_argument(
        "--peer-budget",
        type=float,
        default=240.0,
        help="seconds pymerkle may spend appending before it is stopped",
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--peer-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", help=argparse.SUPPRESS)
    parser.add_argument("--roots", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer_worker:
        peer_worker(
            args.peer_worker,
            [int(x) for x in args.sizes.split(",")],
            json.loads(args.roots),
            args.peer_budget,
        )
        return 0
    max_size = 10_000 if args.quick else args.max_size
    pg_max = min(max_size, args.pg_max_size or max_size)
    models, tensor_bytes, runs = (10, 1_000_000, 2) if args.quick else (100, 5_000_000, 5)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"max_size": max_size, "runs": runs, "logs": []}
    started = time.perf_counter()
    res["load"] = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="governance_bench-") as tmp:
        work = Path(tmp)
        bodies = work / "bodies.jsonl"
        sizes = sizes_up_to(max_size)
        sqlite = log_bench(f"sqlite:///{work / 'registry.db'}", sizes, bodies)
        sqlite["name"] = "SQLite (embedded)"
        res["logs"].append(sqlite)
        (work / "registry.db").unlink()
        roots = {str(p["size"]): p["root_hex"] for p in sqlite["points"]}
        log("peers in memory ...")
        res["peers"] = run_peers(bodies, sizes, roots, args.peer_budget)
        if "error" in res["peers"]:
            log("peer worker failed:\n" + res["peers"]["error"])
        bodies.unlink()
        schema = None if args.no_pg else pg_schema()
        if schema:
            url = (
                "postgresql+psycopg://postgres@127.0.0.1:5432/test"
                f"?options=-csearch_path%3D{schema}"
            )
            try:
                pg = log_bench(url, sizes_up_to(pg_max), None)
            finally:
                pg_drop(schema)
            pg["name"] = "PostgreSQL (127.0.0.1)"
            res["logs"].append(pg)
        else:
            res["logs"].append({"name": "PostgreSQL", "skipped": "not reachable or --no-pg"})
        if not args.no_check:
            res["check"] = check_bench(models, tensor_bytes, runs, work)
    res["total_s"] = time.perf_counter() - started
    res["load"] = [res["load"][0], os.getloadavg()[0]]
    text = report(res) + f"\nTotal run: {res['total_s']:.0f} s.\n"
    (out / "registry_governance.md").write_text(text)
    (out / "registry_governance.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

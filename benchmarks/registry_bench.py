"""Registry throughput over loopback vs copying the files, in one run.

- embedded configuration (``openward serve`` as its own process: SQLite, files,
  in-process checks) on the 2.4 GiB two-shard Llama layout of ``inspect_bench.py``:
  ``cp -r`` of the model, ``openward push`` (hashing, upload, checks until
  published), a dedup push of the unchanged model as a new version, hashing alone,
  ``openward pull`` (download and verification);
- 20 concurrent clients pulling a 128 MiB model;
- the scale-out configuration (PostgreSQL, moto's S3 server, a Celery worker on
  Redis) on a 256 MiB model: moto keeps objects in memory in one Python process,
  so these figures measure the code path, not an object store's speed;
- ``--only many``: a version of 10,000 small files (``--files``) against one of 10,
  on both configurations: push, the check (commit to published), and a full pull,
  with the per-file cost of each pull (target: linear, the 10,000-file pull's
  per-file cost within 2x of the 10-file one's); ``--sample N`` also times N files
  of the big version fetched one by one with the client's parallelism (how a
  "before" figure is taken on code whose full pull would take the better part of
  an hour: ``--sample 500 --no-full-pull``);
- ``--only rescan [--versions N]``: the rescan of 1,000 stored versions alone;
- ``--only concurrent``: 20 concurrent pushes of distinct small models while 50
  clients pull a published one, on both configurations: p50/p99 of push to
  published (upload, checks, the client's 0.2 s polling included) and of a pull.

Usage::

    .venv/bin/python benchmarks/registry_bench.py            # the original sections
    .venv/bin/python benchmarks/registry_bench.py --only many --only concurrent
    PYTHONPATH=/path/to/other/checkout/src .venv/bin/python benchmarks/registry_bench.py \
        --only many --sample 500 --tag before   # the same figures on other code
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inspect_bench import build_sharded
from openward.registry.client import Client
from openward.signing.manifest import build_manifest

REPO = Path(__file__).resolve().parent.parent
EXE = Path(sys.executable).with_name("openward")
GB = 1e9


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data: Path, env: dict[str, str] | None = None) -> None:
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(EXE), "serve", "--data", str(data), "--port", str(self.port), "--json"],
            stdout=subprocess.PIPE, text=True, start_new_session=True, env=env,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.token = json.loads(self.proc.stdout.readline())["admin_token"]
        for _ in range(300):
            try:
                httpx.get(f"{self.url}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(20)


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def small_model(root: Path, mib: int) -> Path:
    if root.exists():
        return root
    root.mkdir(parents=True)
    block = os.urandom(1 << 20)
    for i in range(4):
        with open(root / f"part-{i}.bin", "wb") as f:
            for _ in range(mib // 4):
                f.write(block)
    (root / "config.json").write_text('{"model_type": "llama"}')
    return root


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and p.name != ".complete")


def embedded(model: Path, work: Path) -> dict[str, Any]:
    size = tree_size(model)
    out: dict[str, Any] = {"bytes": size}
    out["cp"], _ = timed(lambda: shutil.copytree(model, work / "cp"))
    shutil.rmtree(work / "cp")
    server = Server(work / "data")
    try:
        client = Client(server.url, server.token)
        out["push"], result = timed(lambda: client.push(model, "bench/llama:1"))
        assert result["status"] in ("published", "needs-registration"), result
        out["push_status"] = result["status"]
        out["hash_only"], _ = timed(lambda: build_manifest(model))
        out["dedup_push"], again = timed(lambda: client.push(model, "bench/llama:2"))
        out["dedup_uploaded"] = again["uploaded_bytes"]
        if result["status"] == "published":
            out["pull"], _ = timed(lambda: client.pull("bench/llama:1", work / "pulled"))
            shutil.rmtree(work / "pulled")
        small = small_model(work.parent / "small128", 128)
        client.push(small, "bench/small:1")
        errors: list[Exception] = []

        def one(i: int) -> None:
            try:
                Client(server.url, None).pull("bench/small:1", work / f"c{i}")
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out["concurrent_20_pulls"] = time.perf_counter() - start
        out["concurrent_bytes"] = 20 * tree_size(small)
        out["concurrent_errors"] = [str(e) for e in errors]
    finally:
        server.stop()
    return out


def rescan(work: Path, versions: int = 1000) -> dict[str, Any]:
    """Store ``versions`` small versions, then time a rescan of all of them (embedded)."""
    import httpx

    model = work / "tiny"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    server = Server(work / "data-r")
    out: dict[str, Any] = {"versions": versions}
    try:
        client = Client(server.url, server.token)
        auth = {"Authorization": f"Bearer {server.token}"}
        start = time.perf_counter()
        for i in range(versions):
            (model / "weights.bin").write_bytes(i.to_bytes(8, "little") * 128)
            client.push(model, f"bench/many:{i}", wait=0)
        out["push_all"] = time.perf_counter() - start

        def pending() -> int:
            """Versions in their first check or waiting for a recheck (a rescan keeps
            each version's status until its new verdict)."""
            stats = httpx.get(f"{server.url}/api/v1/admin/stats", headers=auth, timeout=60)
            if "recheck_pending" in stats.json():
                return int(stats.json()["checking"]) + int(stats.json()["recheck_pending"])
            # Code before rechecks: rescanned versions were back in "checking".
            r = httpx.get(f"{server.url}/api/v1/models", params={"status": "checking"},
                          headers=auth, timeout=60)  # fmt: skip
            return len(r.json()["results"])

        while pending():
            time.sleep(0.5)
        start = time.perf_counter()
        queued = httpx.post(f"{server.url}/api/v1/admin/rescan", headers=auth, timeout=120)
        out["queued"] = queued.json()["queued"]
        while pending():
            time.sleep(0.5)
        out["rescan"] = time.perf_counter() - start
    finally:
        server.stop()
    return out


@contextmanager
def deployment(kind: str, work: Path) -> Iterator[Server]:
    """A running registry: ``embedded`` (``openward serve``: SQLite, files, checks in
    its own pool) or ``scale-out`` (the same server on PostgreSQL in a fresh schema,
    moto's S3 server, and an ``openward worker`` on Redis running the checks)."""
    work.mkdir(parents=True, exist_ok=True)
    if kind == "embedded":
        server = Server(work / "data")
        try:
            yield server
        finally:
            server.stop()
        return
    import logging

    import boto3
    import psycopg
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request
    schema = "bench_" + secrets.token_hex(4)
    with psycopg.connect(host="127.0.0.1", dbname="test", user="postgres", autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    bucket = "bench-" + secrets.token_hex(4)
    pg = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    env = dict(os.environ)
    env.update({
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "OPENWARD_DATABASE_URL": f"{pg}?options=-csearch_path%3D{schema}",
        "OPENWARD_BLOB_URL": f"s3://{bucket}/r?endpoint_url={endpoint}",
        "OPENWARD_BROKER_URL": "redis://127.0.0.1:6379/0",
        "OPENWARD_QUEUE": "bench-" + secrets.token_hex(4),
        "OPENWARD_DATA": str(work / "worker"),
        "OPENWARD_REGISTRY_KEY": str(work / "registry-key.pem"),
    })  # fmt: skip
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    worker = subprocess.Popen([str(EXE), "worker"], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL)  # fmt: skip
    server = Server(work / "data", env)
    try:
        yield server
    finally:
        server.stop()
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
        moto.stop()
        with psycopg.connect(host="127.0.0.1", dbname="test", user="postgres",
                             autocommit=True) as c:  # fmt: skip
            c.execute(f"DROP SCHEMA {schema} CASCADE")


def many_files_model(root: Path, files: int) -> Path:
    """``files`` files: a config and small text files, 1,000 to a folder."""
    if (root / ".complete").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / "config.json").write_text('{"model_type": "llama"}')
    for i in range(files - 1):
        folder = root / f"part{i // 1000:02d}"
        folder.mkdir(exist_ok=True)
        (folder / f"{i:05d}.txt").write_text(f"file {i} of {files}\n" * 4)
    (root / ".complete").touch()
    return root


def _visible(root: Path) -> Path:
    """A copy of ``root``'s files without the ``.complete`` marker (hard links)."""
    out = root.with_name(root.name + "-push")
    if not out.exists():
        shutil.copytree(root, out, copy_function=os.link,
                        ignore=shutil.ignore_patterns(".complete"))  # fmt: skip
    return out


def _push_and_check(client: Client, model: Path, ref: str, token: str,
                    url: str) -> dict[str, float | str]:  # fmt: skip
    """Push without waiting, then poll until the checks decide: (push, check) seconds.
    The client waits up to 30 minutes for each answer (not 60 s), so code whose answers
    to a 10,000-file manifest are slow is measured rather than given up on."""
    import httpx

    client.http.timeout = httpx.Timeout(1800.0)
    start = time.perf_counter()
    result = client.push(model, ref, wait=0)
    committed = time.perf_counter()
    org_name, _, version = ref.partition(":")
    status = result["status"]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
        while status in ("uploading", "checking"):
            time.sleep(0.1)
            status = http.get(f"/api/v1/models/{org_name}/versions/{version}").json()["status"]
    return {"push": committed - start, "check": time.perf_counter() - committed, "status": status}


def _sample_pull(url: str, ref: str, paths: list[str], workers: int) -> float:
    """Fetch ``paths`` of ``ref`` one GET each with ``workers`` threads (the client's
    per-file request, redirects followed): seconds in all."""
    org_name, _, version = ref.partition(":")
    client = Client(url, None, workers=workers)

    def one(path: str) -> None:
        r = client.http.get(f"/api/v1/models/{org_name}/versions/{version}/files/{path}")
        r.raise_for_status()

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, paths))
    took = time.perf_counter() - start
    client.close()
    return took


def many(kind: str, work: Path, files: int, sample: int, full_pull: bool = True) -> dict[str, Any]:
    """A 10-file and a ``files``-file version: push, check, pull, per-file costs."""
    out: dict[str, Any] = {"files": files}
    small = _visible(many_files_model(work.parent / "many-10", 10))
    big = _visible(many_files_model(work.parent / f"many-{files}", files))
    with deployment(kind, work) as server:
        client = Client(server.url, server.token)
        for label, model, n in (("small", small, 10), ("big", big, files)):
            ref = f"bench/many{n}:1"
            print(f"  {kind}: push of {n} files ...", file=sys.stderr, flush=True)
            out[label] = _push_and_check(client, model, ref, server.token, server.url)
            out[label]["count"] = n
            assert out[label]["status"] == "published", out[label]
            if sample and label == "big":
                rng = random.Random(0)
                chosen = rng.sample([str(p.relative_to(model)) for p in model.rglob("*.txt")],
                                    min(sample, n - 1))  # fmt: skip
                took = _sample_pull(server.url, ref, chosen, client.workers)
                out[label]["sample"] = {"files": len(chosen), "seconds": took,
                                        "per_file_ms": took / len(chosen) * 1000}  # fmt: skip
            if sample and label == "small":
                chosen = [str(p.relative_to(model)) for p in model.rglob("*") if p.is_file()]
                took = _sample_pull(server.url, ref, chosen * 10, client.workers)
                count = len(chosen) * 10
                out[label]["sample"] = {"files": count, "seconds": took,
                                        "per_file_ms": took / count * 1000}  # fmt: skip
            if label == "small" or full_pull:
                print(f"  {kind}: pull of {n} files ...", file=sys.stderr, flush=True)
                if label == "small":  # warm up the server and the client (imports, pools)
                    Client(server.url).pull(ref, work / "warm-up")
                start = time.perf_counter()
                Client(server.url).pull(ref, work / f"pulled-{n}")
                took = time.perf_counter() - start
                out[label]["pull"] = took
                out[label]["pull_per_file_ms"] = took / n * 1000
                shutil.rmtree(work / f"pulled-{n}")
        client.close()
    if "pull" in out["big"]:
        out["ratio"] = out["big"]["pull_per_file_ms"] / out["small"]["pull_per_file_ms"]
    return out


def _quantiles(values: list[float]) -> dict[str, float]:
    """p50 and p99 (nearest rank) and the max, in seconds."""
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))]

    return {"p50": statistics.median(ordered), "p99": rank(0.99), "max": ordered[-1],
            "n": len(ordered)}  # fmt: skip


def concurrent(kind: str, work: Path, pushes: int = 20, pulls: int = 50) -> dict[str, Any]:
    """``pushes`` distinct small models pushed at once while ``pulls`` clients pull a
    published one: latency of each, errors."""
    popular = small_model(work.parent / "popular8", 8)
    models = []
    for i in range(pushes):
        root = work.parent / f"push-{i}"
        if not root.exists():
            root.mkdir(parents=True)
            (root / "config.json").write_text('{"model_type": "llama"}')
            (root / "weights.bin").write_bytes(os.urandom(256 << 10))
            (root / "README.md").write_text(f"# model {i}\n")
        models.append(root)
    out: dict[str, Any] = {"pushes": pushes, "pulls": pulls}
    with deployment(kind, work) as server:
        assert Client(server.url, server.token).push(popular, "bench/popular:1")["status"] == (
            "published"
        )
        start = threading.Barrier(pushes + pulls)
        push_s: list[float] = []
        pull_s: list[float] = []
        errors: list[str] = []

        def push(i: int) -> None:
            client = Client(server.url, server.token)
            start.wait()
            t = time.perf_counter()
            try:
                result = client.push(models[i], f"bench/c{i}:1")
                if result["status"] != "published":
                    errors.append(f"push {i}: {result['status']}")
                push_s.append(time.perf_counter() - t)
            except Exception as exc:
                errors.append(f"push {i}: {exc}")
            client.close()

        def pull(i: int) -> None:
            client = Client(server.url)
            start.wait()
            t = time.perf_counter()
            try:
                client.pull("bench/popular:1", work / f"pull-{i}")
                pull_s.append(time.perf_counter() - t)
            except Exception as exc:
                errors.append(f"pull {i}: {exc}")
            client.close()

        threads = [threading.Thread(target=push, args=(i,)) for i in range(pushes)]
        threads += [threading.Thread(target=pull, args=(i,)) for i in range(pulls)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out["wall"] = time.perf_counter() - t0
        out["push_to_published"] = _quantiles(push_s) if push_s else None
        out["pull"] = _quantiles(pull_s) if pull_s else None
        out["pull_bytes"] = tree_size(popular)
        out["errors"] = errors
    return out


def _many_lines(kind: str, m: dict[str, Any]) -> list[str]:
    if "error" in m:
        return [f"## {kind}: many files: FAILED: {m['error']}", ""]
    lines = [f"## {kind}: a {m['files']}-file version against a 10-file one", "",
             "| files | push s | check s | pull s | pull ms/file | sample ms/file |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for label in ("small", "big"):
        r = m[label]
        pull = f"{r['pull']:.2f}" if "pull" in r else "–"
        per = f"{r['pull_per_file_ms']:.2f}" if "pull" in r else "–"
        smp = (f"{r['sample']['per_file_ms']:.2f} ({r['sample']['files']} files)"
               if "sample" in r else "–")  # fmt: skip
        lines.append(f"| {r['count']} | {r['push']:.2f} | {r['check']:.2f} | {pull} | {per} "
                     f"| {smp} |")  # fmt: skip
    if "ratio" in m:
        lines.append(f"\nper-file pull cost, {m['files']} files vs 10: {m['ratio']:.2f}x")
    return [*lines, ""]


def _concurrent_lines(kind: str, c: dict[str, Any]) -> list[str]:
    if "error" in c:
        return [f"## {kind}: concurrent pushes and pulls: FAILED: {c['error']}", ""]
    lines = [f"## {kind}: {c['pushes']} concurrent pushes, {c['pulls']} pulls of "
             f"{c['pull_bytes'] / 2**20:.0f} MiB", "",
             "| | p50 s | p99 s | max s | n |", "|---|---|---|---|---|"]  # fmt: skip
    for label, q in (("push to published", c["push_to_published"]), ("pull", c["pull"])):
        if q:
            lines.append(f"| {label} | {q['p50']:.2f} | {q['p99']:.2f} | {q['max']:.2f} | "
                         f"{q['n']} |")  # fmt: skip
    return [*lines, "", f"wall {c['wall']:.1f} s, errors: {len(c['errors'])} {c['errors'][:3]}",
            ""]  # fmt: skip


def _write(tag: str, results: dict[str, Any], lines: list[str]) -> str:
    text = "\n".join(lines) + "\n"
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"registry_scale-{tag}.md").write_text(text)
    (out / f"registry_scale-{tag}.json").write_text(json.dumps(results, indent=2) + "\n")
    return text


def scale_main(args: argparse.Namespace) -> int:
    """``--only many`` / ``--only concurrent`` on the configurations asked for; the
    results are written after each section (a failed section is recorded as such)."""
    now = datetime.datetime.now(datetime.UTC)
    source = Path(sys.modules["openward"].__file__ or "").parent
    results: dict[str, Any] = {"tag": args.tag, "date": f"{now:%Y-%m-%d %H:%M} UTC",
                               "openward_src": str(source),
                               "load_start": os.getloadavg()}  # fmt: skip
    lines = [f"# Registry at scale ({args.tag})", "", f"- date: {results['date']}; "
             f"openward from {source}; load average at the start "
             f"{results['load_start'][0]:.1f}", ""]  # fmt: skip
    (REPO / "benchmarks" / ".corpus").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(
        prefix="registry_scale-", dir=REPO / "benchmarks" / ".corpus"
    ) as tmp:
        for kind in [k for k in args.configs.split(",") if k]:
            sections = [("many", "many files", _many_lines),
                        ("concurrent", "20 pushes + 50 pulls", _concurrent_lines)]  # fmt: skip
            for name, title, describe in sections:
                if name not in args.only:
                    continue
                print(f"{kind}: {title} ...", file=sys.stderr, flush=True)
                try:
                    if name == "many":
                        doc = many(kind, Path(tmp) / f"many-{kind}", args.files, args.sample,
                                   not args.no_full_pull)  # fmt: skip
                    else:
                        doc = concurrent(kind, Path(tmp) / f"conc-{kind}")
                except Exception as exc:  # recorded; the other sections still run
                    doc = {"error": repr(exc)}
                results[f"{name}_{kind}"] = doc
                lines += describe(kind, doc)
                _write(args.tag, results, lines)
    results["load_end"] = os.getloadavg()
    lines.append(f"load average at the end {results['load_end'][0]:.1f}")
    print(_write(args.tag, results, lines))
    return 0


def scale_out(work: Path) -> dict[str, Any] | None:
    try:
        import boto3
        import psycopg
        from moto.server import ThreadedMotoServer
    except ImportError:
        return None
    schema = "bench_" + secrets.token_hex(4)
    with psycopg.connect(host="127.0.0.1", dbname="test", user="postgres", autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    bucket = "bench-" + secrets.token_hex(4)
    pg = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    env = dict(os.environ)
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "OPENWARD_DATABASE_URL": f"{pg}?options=-csearch_path%3D{schema}",
            "OPENWARD_BLOB_URL": f"s3://{bucket}/r?endpoint_url={endpoint}",
            "OPENWARD_BROKER_URL": "redis://127.0.0.1:6379/0",
            "OPENWARD_QUEUE": "bench-" + secrets.token_hex(4),
            "OPENWARD_DATA": str(work / "worker"),
        }
    )
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    worker = subprocess.Popen([str(EXE), "worker"], env=env, start_new_session=True)
    server = Server(work / "data-s", env)
    model = small_model(work.parent / "small256", 256)
    out: dict[str, Any] = {"bytes": tree_size(model)}
    try:
        client = Client(server.url, server.token)
        out["push"], result = timed(lambda: client.push(model, "bench/s:1"))
        out["push_status"] = result["status"]
        out["dedup_push"], _ = timed(lambda: client.push(model, "bench/s:2"))
        out["pull"], _ = timed(lambda: client.pull("bench/s:1", work / "pulled-s"))
        out["cp"], _ = timed(lambda: shutil.copytree(model, work / "cp-s"))
    finally:
        server.stop()
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(20)
        moto.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=["many", "concurrent", "rescan"],
                        help="run only these sections (default: the original ones)")  # fmt: skip
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=1000, help="--only rescan: versions")
    parser.add_argument("--sample", type=int, default=0)
    parser.add_argument("--no-full-pull", action="store_true",
                        help="with --sample: skip the full pull of the big version")  # fmt: skip
    parser.add_argument("--configs", default="embedded,scale-out")
    parser.add_argument("--tag", default="after", help="names the results files")
    args = parser.parse_args()
    if args.only == ["rescan"]:  # the original sections' rescan of 1,000 versions alone
        with tempfile.TemporaryDirectory(prefix="registry_bench-") as tmp:
            r = rescan(Path(tmp), args.versions)
        print(f"rescan: {r['queued']} stored versions re-checked in {r['rescan']:.1f} s "
              f"({r['queued'] / r['rescan']:.0f} versions/s); storing them took "
              f"{r['push_all']:.1f} s")  # fmt: skip
        return 0
    if args.only:
        return scale_main(args)
    model, _ = build_sharded(REPO / "benchmarks" / ".corpus" / "inspect" / "llama_1l", 1)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(
        prefix="registry_bench-", dir=REPO / "benchmarks" / ".corpus"
    ) as tmp:
        work = Path(tmp) / "embedded"
        work.mkdir()
        print("embedded ...", file=sys.stderr, flush=True)
        results["embedded"] = embedded(model, work)
        work2 = Path(tmp) / "scale"
        work2.mkdir()
        print("scale-out ...", file=sys.stderr, flush=True)
        results["scale_out"] = scale_out(work2)
        work3 = Path(tmp) / "rescan"
        work3.mkdir()
        print("rescan of 1000 versions ...", file=sys.stderr, flush=True)
        results["rescan"] = rescan(work3)
    e = results["embedded"]
    gb = e["bytes"] / GB
    now = datetime.datetime.now(datetime.UTC)
    lines = [
        "# Registry over loopback",
        "",
        f"- date: {now:%Y-%m-%d %H:%M} UTC; model {model.name}: {gb:.2f} GB in "
        f"{len([p for p in model.iterdir() if p.name != '.complete'])} files",
        "",
        "| embedded | seconds | GB/s | vs cp |",
        "|---|---|---|---|",
    ]
    for key, label in [("cp", "cp -r"), ("push", "push (hash, upload, checks)"),
                       ("pull", "pull (download, verify)"), ("hash_only", "hashing alone"),
                       ("dedup_push", "dedup push of the unchanged model")]:  # fmt: skip
        if key in e:
            lines.append(f"| {label} | {e[key]:.2f} | {gb / e[key]:.2f} | {e['cp'] / e[key]:.2f} |")
    lines.append("")
    lines.append(
        f"push status: {e['push_status']}; dedup push uploaded {e['dedup_uploaded']} bytes"
    )
    cb = e["concurrent_bytes"] / GB
    took = e["concurrent_20_pulls"]
    errors = len(e["concurrent_errors"])
    lines.append(
        f"20 concurrent pulls of a 128 MiB model: {took:.2f} s ({cb / took:.2f} GB/s total), "
        f"errors: {errors}"
    )
    s = results["scale_out"]
    if s:
        sgb = s["bytes"] / GB
        lines += ["", "| scale-out (PostgreSQL, moto S3, Celery/Redis), 256 MiB | seconds | GB/s |",
                  "|---|---|---|"]  # fmt: skip
        for key in ("cp", "push", "dedup_push", "pull"):
            lines.append(f"| {key} | {s[key]:.2f} | {sgb / s[key]:.2f} |")
        lines.append(f"push status: {s['push_status']}")
    r = results["rescan"]
    lines += ["", f"rescan: {r['queued']} stored versions re-checked in {r['rescan']:.1f} s "
              f"({r['queued'] / r['rescan']:.0f} versions/s, embedded, 2 check threads); "
              f"storing them took {r['push_all']:.1f} s"]  # fmt: skip
    text = "\n".join(lines) + "\n"
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "registry_bench.md").write_text(text)
    (out / "registry_bench.json").write_text(json.dumps(results, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

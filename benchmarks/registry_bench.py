"""Registry throughput over loopback vs copying the files, in one run.

- embedded configuration (``openward serve`` as its own process: SQLite, files,
  in-process checks) on the 2.4 GiB two-shard Llama layout of ``inspect_bench.py``:
  ``cp -r`` of the model, ``openward push`` (hashing, upload, checks until
  published), a dedup push of the unchanged model as a new version, hashing alone,
  ``openward pull`` (download and verification);
- 20 concurrent clients pulling a 128 MiB model;
- the scale-out configuration (PostgreSQL, moto's S3 server, a Celery worker on
  Redis) on a 256 MiB model: moto keeps objects in memory in one Python process,
  so these figures measure the code path, not an object store's speed.

Usage::

    .venv/bin/python benchmarks/registry_bench.py
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
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

"""Marked (per-recipient) downloads against unmarked ones, through the registry.

``openward serve`` runs as its own process (embedded configuration: SQLite, files) with
a llama-shaped two-shard safetensors model (bfloat16 by default, ``--dtype F32`` for
float32) of about ``--mib`` MiB, gated and marked per recipient. Measured, each the
median of ``--repeat`` runs:

- the grantee's first look at the version: the registry computes the recipient copy
  (marks streamed once through SHA-256, the bundle signed) and keeps it;
- ``pull`` of the whole model by the publisher (the original, served by ``FileResponse``)
  and by the grantee (marked as it streams, through the registry), each verified;
- one GET of the largest shard, bytes discarded: the server's stream alone;
- ``marked_chunks`` in-process, no HTTP (the marking's own rate);
- ``openward trace`` of the grantee's copy (upload, detection, log).

Target (issue 17): a marked download at no less than half an unmarked one's throughput.

Usage::

    .venv/bin/python benchmarks/watermark_download_bench.py [--mib 256] [--dtype BF16]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

EXE = Path(sys.executable).with_name("openward")
MIB = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bytes(values: np.ndarray, dtype: str) -> bytes:
    if dtype == "F32":
        return values.astype("<f4").tobytes()
    bits = values.astype("<f4").view("<u4")
    return ((bits + 0x8000) >> 16).astype("<u2").tobytes()  # rounded to bfloat16


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], dtype: str) -> None:
    entries, offset = {}, 0
    for name, v in tensors.items():
        n = v.size * (4 if dtype == "F32" else 2)
        entries[name] = {
            "dtype": dtype,
            "shape": list(v.shape),
            "data_offsets": [offset, offset + n],
        }
        offset += n
    header = json.dumps(entries).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        for v in tensors.values():
            fh.write(_bytes(v, dtype))


def build_model(root: Path, mib: int, dtype: str) -> Path:
    """A llama-shaped model (hidden 1024, MLP 2816, vocab 8192) of about ``mib`` MiB."""
    rng = np.random.default_rng(0)
    hidden, mlp, vocab = 1024, 2816, 8192
    width = 4 if dtype == "F32" else 2
    per_layer = (4 * hidden * hidden + 3 * mlp * hidden) * width
    layers = max(2, (mib * MIB - vocab * hidden * width) // per_layer)
    root.mkdir(parents=True, exist_ok=True)
    half = layers // 2
    for shard, span in ((1, range(half)), (2, range(half, layers))):
        tensors: dict[str, np.ndarray] = {}
        if shard == 1:
            tensors["model.embed_tokens.weight"] = rng.normal(0, 0.02, (vocab, hidden))
        for i in span:
            p = f"model.layers.{i}"
            for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
                tensors[f"{p}.self_attn.{proj}.weight"] = rng.normal(0, 0.02, (hidden, hidden))
            tensors[f"{p}.mlp.gate_proj.weight"] = rng.normal(0, 0.02, (mlp, hidden))
            tensors[f"{p}.mlp.up_proj.weight"] = rng.normal(0, 0.02, (mlp, hidden))
            tensors[f"{p}.mlp.down_proj.weight"] = rng.normal(0, 0.02, (hidden, mlp))
            tensors[f"{p}.input_layernorm.weight"] = np.ones(hidden)
        write_safetensors(root / f"model-0000{shard}-of-00002.safetensors", tensors, dtype)
    (root / "config.json").write_text(json.dumps({
        "model_type": "llama", "hidden_size": hidden, "intermediate_size": mlp,
        "num_hidden_layers": layers, "vocab_size": vocab,
    }))  # fmt: skip
    return root


def median_time(fn: Callable[[], Any], repeat: int, after: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        after()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--dtype", choices=["BF16", "F32"], default="BF16")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()

    from openward.registry.client import Client
    from openward.watermark.weights import grant_key, marked_chunks

    work = Path(tempfile.mkdtemp(prefix="wm-download-"))
    model = build_model(work / "model", args.mib, args.dtype)
    size = sum(p.stat().st_size for p in model.iterdir())
    shards = sorted(model.glob("*.safetensors"), key=lambda p: -p.stat().st_size)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(EXE), "serve", "--data", str(work / "data"), "--port", str(port), "--json"],
        stdout=subprocess.PIPE, text=True, start_new_session=True, env=dict(os.environ),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        admin = json.loads(proc.stdout.readline())["admin_token"]
        for _ in range(300):
            try:
                httpx.get(f"{url}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)

        def api(method: str, path: str, body: Any, token: str = admin) -> Any:
            r = httpx.request(method, url + path, json=body, timeout=600,
                              headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            r.raise_for_status()
            return r.json()

        pub = api("POST", "/api/v1/users", {"name": "pat", "organisation": "bench",
                                            "role": "publisher"})["token"]  # fmt: skip
        reader = api("POST", "/api/v1/users", {"name": "rita", "organisation": "labs",
                                               "role": "reader"})["token"]  # fmt: skip
        result = Client(url, pub).push(model, "bench/wm:1")
        assert result["status"] == "published", result
        api("PUT", "/api/v1/models/bench/wm/access",
            {"tier": "gated", "watermark": "per-recipient"}, pub)  # fmt: skip
        grant = api("POST", "/api/v1/models/bench/wm/access/grants", {"user": "rita"}, pub)

        start = time.perf_counter()
        httpx.get(f"{url}/api/v1/models/bench/wm/versions/1", timeout=600,
                  headers={"Authorization": f"Bearer {reader}"}).raise_for_status()  # fmt: skip
        first_look = time.perf_counter() - start

        def clear(p: Path) -> Callable[[], None]:
            return lambda: shutil.rmtree(p, ignore_errors=True)

        out = work / "pulled"
        unmarked_pull = median_time(lambda: Client(url, pub).pull("bench/wm:1", out),
                                    args.repeat, clear(out))  # fmt: skip
        marked_pull = median_time(lambda: Client(url, reader).pull("bench/wm:1", out),
                                  args.repeat, clear(out))  # fmt: skip
        Client(url, reader).pull("bench/wm:1", work / "copy")

        largest = shards[0]
        path = f"/api/v1/models/bench/wm/versions/1/files/{largest.name}"

        def stream(token: str) -> None:
            with httpx.stream("GET", url + path, timeout=600,
                              headers={"Authorization": f"Bearer {token}"}) as r:  # fmt: skip
                r.raise_for_status()
                for _ in r.iter_bytes(1 << 20):
                    pass

        unmarked_get = median_time(lambda: stream(pub), args.repeat, lambda: None)
        marked_get = median_time(lambda: stream(reader), args.repeat, lambda: None)
        secret = (work / "data" / "registry-mark-secret").read_bytes()
        key = grant_key(secret, "bench/wm", str(grant["id"]))

        def chunks() -> None:
            for _ in marked_chunks(largest, key):
                pass

        in_process = median_time(chunks, args.repeat, lambda: None)
        trace = subprocess.run(
            [str(EXE), "trace", str(work / "copy"), "bench/wm", "--registry", url, "--token",
             pub, "--json"], capture_output=True, text=True, check=False,
        )  # fmt: skip
        start = time.perf_counter()
        subprocess.run([str(EXE), "trace", str(work / "copy"), "bench/wm", "--registry", url,
                        "--token", pub, "--json"], capture_output=True, check=False)  # fmt: skip
        trace_s = time.perf_counter() - start
        matches = json.loads(trace.stdout)["matches"] if trace.stdout else []
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
        shutil.rmtree(work, ignore_errors=True)

    figures = {
        "model_bytes": size, "dtype": args.dtype, "repeat": args.repeat,
        "first_look_s": first_look,
        "pull_unmarked_s": unmarked_pull, "pull_marked_s": marked_pull,
        "pull_ratio": unmarked_pull / marked_pull,
        "get_unmarked_s": unmarked_get, "get_marked_s": marked_get,
        "get_ratio": unmarked_get / marked_get,
        "marked_chunks_s": in_process, "trace_s": trace_s,
        "trace_matches": [(m["grant"], m["user"], m["p_value"]) for m in matches],
    }  # fmt: skip
    mb = size / 1e6
    print(f"model: {mb:.0f} MB {args.dtype}, median of {args.repeat}")
    print("| step | seconds | MB/s |")
    print("|---|---|---|")
    print(f"| first look by the grantee (recipient copy computed) | {first_look:.2f} | "
          f"{mb / first_look:.0f} |")  # fmt: skip
    print(f"| pull, unmarked (publisher) | {unmarked_pull:.2f} | {mb / unmarked_pull:.0f} |")
    print(f"| pull, marked (grantee) | {marked_pull:.2f} | {mb / marked_pull:.0f} |")
    big = largest.name
    print(f"| GET {big}, unmarked | {unmarked_get:.2f} | — |")
    print(f"| GET {big}, marked | {marked_get:.2f} | — |")
    print(f"| marked_chunks of {big}, in-process | {in_process:.2f} | — |")
    print(f"| trace of the grantee's copy | {trace_s:.2f} | {mb / trace_s:.0f} |")
    print(f"marked/unmarked throughput: pull {figures['pull_ratio']:.2f}, "
          f"single GET {figures['get_ratio']:.2f} (target >= 0.5)")  # fmt: skip
    print(f"trace matches: {figures['trace_matches']}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

"""Signing and verifying a multi-GB model: openward vs model-signing vs the hardware.

What it measures, in one run, on one multi-file model (default: the 5.2 GiB
three-shard Llama layout that ``inspect_bench.py`` builds):

- ``cat`` of every file (reading the bytes, warm page cache);
- ``openssl dgst -sha256`` of every file (one core; OpenSSL's SHA-256 uses the
  CPU's SHA extensions, the fastest SHA-256 on this machine);
- ``model_signing sign key`` / ``verify key`` (model-signing 1.1.1, the OMS
  reference implementation) and ``openward sign`` / ``verify``;
- start-up: ``openward sign`` and ``model_signing sign key`` of a one-file model;
- peak memory (max RSS from ``/usr/bin/time``) of each signer on the big model.

Every command runs under hyperfine (``-N``; warm-up 1, 5 runs). Throughput is
model bytes over mean wall time. Results go to ``benchmarks/results/sign_bench.{md,json}``.

Usage::

    .venv/bin/python benchmarks/sign_bench.py [--model DIR]
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inspect_bench import build_sharded

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HYPERFINE = shutil.which("hyperfine") or "/usr/bin/hyperfine"
GB = 1e9


def script(path: Path, lines: list[str]) -> list[str]:
    path.write_text("#!/bin/sh\nset -e\n" + "\n".join(lines) + "\n")
    path.chmod(0o755)
    return [str(path)]


def hyperfine(argv: list[str], export: Path, runs: int = 5, warmup: int = 1) -> dict[str, Any]:
    cmd = [HYPERFINE, "-N", "-w", str(warmup), "-r", str(runs), "--style", "none",
           "--export-json", str(export), " ".join(argv)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr[-300:]}
    r = json.loads(export.read_text())["results"][0]
    return {"mean": r["mean"], "stddev": r["stddev"] or 0.0, "user": r["user"],
            "system": r["system"]}  # fmt: skip


def max_rss_mib(argv: list[str]) -> float | None:
    proc = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M", *argv], capture_output=True,
                          text=True, check=False)  # fmt: skip
    m = re.search(r"MAXRSS (\d+)", proc.stderr)
    return int(m[1]) / 1024 if m else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    model = (
        args.model or build_sharded(REPO / "benchmarks" / ".corpus" / "inspect" / "llama_8l", 8)[0]
    )
    files = sorted(p for p in model.rglob("*") if p.is_file() and not p.name.startswith("."))
    size = sum(p.stat().st_size for p in files)
    ms = BIN / "model_signing"
    ow = BIN / "openward"
    with tempfile.TemporaryDirectory(prefix="sign_bench-") as tmp:
        t = Path(tmp)
        key, pub = t / "k.pem", t / "k.pub"
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
                        "-out", str(key)], check=True)  # fmt: skip
        subprocess.run(["openssl", "ec", "-in", str(key), "-pubout", "-out", str(pub)],
                       check=True, capture_output=True)  # fmt: skip
        ow_sig, ms_sig = t / "ow.sig", t / "ms.sig"
        quoted = " ".join(f"'{p}'" for p in files)
        cmds: dict[str, list[str]] = {
            "cat (read every byte)": script(t / "cat.sh", [f"cat {quoted} > /dev/null"]),
            "openssl dgst -sha256 (one core)": script(
                t / "openssl.sh", [f"openssl dgst -sha256 {quoted} > /dev/null"]
            ),
            "model_signing sign key": [str(ms), "sign", "key", str(model), "--private_key",
                                       str(key), "--signature", str(ms_sig)],
            "openward sign": [str(ow), "sign", str(model), "-k", str(key), "-o", str(ow_sig)],
        }  # fmt: skip
        results: dict[str, Any] = {}
        for name, cmd in cmds.items():
            print(f"{name} ...", file=sys.stderr, flush=True)
            results[name] = hyperfine(cmd, t / "h.json")
        verify = {
            "model_signing verify key": [str(ms), "verify", "key", str(model), "--signature",
                                         str(ms_sig), "--public_key", str(pub)],
            "openward verify": [str(ow), "verify", str(model), "-s", str(ow_sig), "-k", str(pub)],
        }  # fmt: skip
        for name, cmd in verify.items():
            print(f"{name} ...", file=sys.stderr, flush=True)
            results[name] = hyperfine(cmd, t / "h.json")
        memory = {
            "model_signing sign key": max_rss_mib(cmds["model_signing sign key"]),
            "openward sign": max_rss_mib(cmds["openward sign"]),
            "model_signing verify key": max_rss_mib(verify["model_signing verify key"]),
            "openward verify": max_rss_mib(verify["openward verify"]),
        }
        tiny = t / "tiny"
        tiny.mkdir()
        (tiny / "config.json").write_text("{}")
        startup = {
            "openward sign": hyperfine([str(ow), "sign", str(tiny), "-k", str(key), "-o",
                                        str(t / "tiny.sig")], t / "h.json", runs=10, warmup=2),
            "model_signing sign key": hyperfine([str(ms), "sign", "key", str(tiny),
                                                 "--private_key", str(key), "--signature",
                                                 str(t / "tiny2.sig")], t / "h.json", runs=10,
                                                warmup=2),
        }  # fmt: skip
    openssl = results["openssl dgst -sha256 (one core)"]["mean"]
    now = datetime.datetime.now(datetime.UTC)
    lines = [
        "# Signing a multi-file model",
        "",
        f"- date: {now:%Y-%m-%d %H:%M} UTC; model: {model} ({len(files)} files, "
        f"{size / GB:.2f} GB)",
        "",
        "| command | mean ± σ (s) | GB/s | × openssl one core | peak RSS (MiB) |",
        "|---|---|---|---|---|",
    ]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error'][:80]} | | | |")
            continue
        rss = memory.get(name)
        lines.append(
            f"| {name} | {r['mean']:.3f} ± {r['stddev']:.3f} | {size / GB / r['mean']:.2f} "
            f"| {openssl / r['mean']:.2f} | {f'{rss:.0f}' if rss else ''} |"
        )
    lines += ["", "Start-up (signing a one-file model):", ""]
    for name, r in startup.items():
        if "mean" in r:
            lines.append(f"- {name}: {r['mean']:.3f} ± {r['stddev']:.3f} s")
    text = "\n".join(lines) + "\n"
    (out / "sign_bench.md").write_text(text)
    (out / "sign_bench.json").write_text(
        json.dumps(
            {
                "model": str(model),
                "bytes": size,
                "results": results,
                "memory": memory,
                "startup": startup,
            },
            indent=2,
        )
        + "\n"
    )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

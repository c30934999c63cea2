"""Signing and verifying: openward vs model-signing vs single-core OpenSSL, per layout.

What it measures, in one run, on each of four model layouts built under a
scratch directory (``--data``, default a fresh folder in /work/tmp or /tmp;
removed afterwards, one layout on disk at a time):

- ``four``: four 512 MiB files of random bytes plus a config (as many large
  files as cores, and more, on a 2- or 4-core machine);
- ``sharded``: the 5.2 GiB three-shard Llama layout of ``inspect_bench.py``
  (shards of 2.1, 2.1 and 1.4 GB, index, config, card);
- ``one``: one 2 GiB file of random bytes (one SHA-256 stream: sequential);
- ``small``: 1 000 files of 1 byte to 128 KiB in ten folders.

Commands on each: ``openssl dgst -sha256`` of every file (one process, one
core), ``openward sign`` / ``verify`` and model-signing's ``sign key`` /
``verify key`` (ECDSA P-256). The page cache is warm (the layout was just
written, and every command runs once untimed first), then the commands run in
turn, ``--runs`` rounds, so a burst of load from elsewhere hits them all; the
best wall time of each is reported (the median too), with the user and system
CPU of that run.

In-process, on ``one``, ``four`` and ``small``: the read paths the scheduler
could use, each on as many threads as CPUs, largest file first, whole files
(``readinto`` a reused 1 MiB buffer, ``mmap``, ``hashlib.file_digest``), and
``openward.signing.manifest.hash_files`` itself (the sliced scheduler).

Start-up: ``python -c pass``, ``openward verify --help``, ``openward sign`` and
``verify`` of a one-file model, model-signing ``sign key`` of the same.

The load average before and after each layout goes into the results: the
machine may be shared. Results go to ``benchmarks/results/sign_bench.{md,json}``.

Usage::

    .venv/bin/python benchmarks/sign_bench.py [--runs 5] [--layouts four,sharded,one,small]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import mmap
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MIB = 1024 * 1024
GB = 1e9
LAYOUTS = ("four", "sharded", "one", "small")


# --- layouts -----------------------------------------------------------------------


def _random_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        while size > 0:
            chunk = min(size, 8 * MIB)
            f.write(os.urandom(chunk))
            size -= chunk


def build(layout: str, root: Path) -> Path:
    if layout == "four":
        model = root / "four"
        model.mkdir()
        for i in range(1, 5):
            _random_file(model / f"model-{i:05}-of-00004.safetensors", 512 * MIB)
        (model / "config.json").write_text('{"model_type": "llama"}\n')
        return model
    if layout == "sharded":
        from inspect_bench import build_sharded

        return build_sharded(root / "llama_8l", 8)[0]
    if layout == "one":
        model = root / "one"
        model.mkdir()
        _random_file(model / "model.safetensors", 2048 * MIB)
        return model
    if layout == "small":
        model = root / "small"
        rnd = random.Random(1000)
        for i in range(1000):
            folder = model / f"part{i % 10}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"f{i:04}.bin").write_bytes(os.urandom(rnd.randint(1, 128 * 1024)))
        return model
    raise ValueError(layout)


def files_of(model: Path) -> list[Path]:
    return sorted(p for p in model.rglob("*") if p.is_file())


# --- timing ------------------------------------------------------------------------


def run_once(argv: list[str]) -> tuple[float, float, float, int]:
    """Wall, user and system seconds of one run of ``argv``, and its exit status."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime, usage.ru_stime, proc.returncode


def rounds(commands: dict[str, list[str]], runs: int, warmup: int = 1) -> dict[str, Any]:
    """Every command ``warmup`` times untimed, then ``runs`` rounds in turn."""
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
    failed: dict[str, int] = {}
    for _ in range(warmup):
        for name, argv in commands.items():
            if (rc := run_once(argv)[3]) != 0:
                failed[name] = rc
    for _ in range(runs):
        for name, argv in commands.items():
            if name in failed:
                continue
            wall, user, system, rc = run_once(argv)
            if rc != 0:
                failed[name] = rc
                continue
            samples[name].append((wall, user, system))
    out: dict[str, Any] = {}
    for name in commands:
        if name in failed:
            out[name] = {"error": f"exit status {failed[name]}: {' '.join(commands[name])}"}
            continue
        best = min(samples[name])
        out[name] = {
            "best": best[0],
            "median": statistics.median(s[0] for s in samples[name]),
            "user": best[1],
            "system": best[2],
            "runs": len(samples[name]),
        }
    return out


# --- read paths, in process --------------------------------------------------------


def _readinto(path: Path, buf: bytearray) -> str:
    h, view = hashlib.sha256(), memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def _mmap(path: Path, buf: bytearray) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size:
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                m.madvise(mmap.MADV_SEQUENTIAL)
                view = memoryview(m)
                for off in range(0, size, 16 * MIB):
                    h.update(view[off : off + 16 * MIB])
                view.release()
    return h.hexdigest()


def _file_digest(path: Path, buf: bytearray) -> str:
    with open(path, "rb", buffering=0) as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def read_paths(model: Path, runs: int) -> dict[str, Any]:
    import threading

    from openward.signing.hashrun import cpu_count, walk
    from openward.signing.manifest import hash_files

    items = walk(model, [], False)
    order = sorted(items, key=lambda item: -item[2])
    threads = cpu_count()
    local = threading.local()

    def whole(read: Callable[[Path, bytearray], str]) -> Callable[[], dict[str, str]]:
        def go() -> dict[str, str]:
            def one(item: tuple[str, Path, int]) -> tuple[str, str]:
                buf = getattr(local, "buf", None)
                if buf is None:
                    buf = local.buf = bytearray(MIB)
                return item[0], read(item[1], buf)

            with ThreadPoolExecutor(threads) as pool:
                return dict(pool.map(one, order))

        return go

    ways: dict[str, Callable[[], dict[str, str]]] = {
        "readinto, reused 1 MiB buffer": whole(_readinto),
        "mmap": whole(_mmap),
        "hashlib.file_digest": whole(_file_digest),
        "hash_files (sliced, largest remaining first)": lambda: hash_files(items),
    }
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in ways}
    reference: dict[str, str] | None = None
    for _ in range(runs):
        for name, go in ways.items():
            r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            got = go()
            wall = time.perf_counter() - t0
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            reference = reference or got
            assert got == reference, name
            samples[name].append((wall, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime))
    return {
        name: {"best": min(s)[0], "user": min(s)[1], "system": min(s)[2], "threads": threads}
        for name, s in samples.items()
    }


# --- the run -----------------------------------------------------------------------


def signers(model: Path, t: Path, key: Path, pub: Path) -> dict[str, list[str]]:
    ow, ms = str(BIN / "openward"), str(BIN / "model_signing")
    files = [str(p) for p in files_of(model)]
    ow_sig, ms_sig = t / "ow.sig", t / "ms.sig"
    return {
        "openssl dgst -sha256 (one core)": ["openssl", "dgst", "-sha256", *files],
        "openward sign": [ow, "sign", str(model), "-k", str(key), "-o", str(ow_sig)],
        "openward verify": [ow, "verify", str(model), "-s", str(ow_sig), "-k", str(pub)],
        "model_signing sign key": [ms, "sign", "key", str(model), "--private_key", str(key),
                                   "--signature", str(ms_sig)],
        "model_signing verify key": [ms, "verify", "key", str(model), "--signature",
                                     str(ms_sig), "--public_key", str(pub)],
    }  # fmt: skip


def startup(t: Path, key: Path, pub: Path, runs: int) -> dict[str, Any]:
    tiny = t / "tiny"
    tiny.mkdir()
    (tiny / "config.json").write_text("{}")
    ow, ms = str(BIN / "openward"), str(BIN / "model_signing")
    sig = str(t / "tiny.sig")
    subprocess.run([ow, "sign", str(tiny), "-k", str(key), "-o", sig], check=True,
                   capture_output=True)  # fmt: skip
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "openward verify --help": [ow, "verify", "--help"],
        "openward sign (one-file model)": [ow, "sign", str(tiny), "-k", str(key), "-o",
                                           str(t / "tiny2.sig")],
        "openward verify (one-file model)": [ow, "verify", str(tiny), "-s", sig, "-k", str(pub)],
        "model_signing sign key (one-file model)": [ms, "sign", "key", str(tiny),
                                                    "--private_key", str(key), "--signature",
                                                    str(t / "tiny3.sig")],
    }  # fmt: skip
    return rounds(commands, runs, warmup=2)


def report(doc: dict[str, Any]) -> str:
    lines = [
        "# Signing and verifying, per layout",
        "",
        f"- date: {doc['date']}; {doc['machine']}; best of {doc['runs']} (median beside)",
        f"- versions: {doc['versions']}",
        "",
    ]
    for layout, data in doc["layouts"].items():
        lines += [
            f"## {layout}: {data['files']} files, {data['bytes'] / GB:.2f} GB",
            "",
            f"load average before / after: {data['load_before']} / {data['load_after']}",
            "",
            "| command | best (s) | median (s) | GB/s | × openssl one core | user / sys (s) |",
            "|---|---|---|---|---|---|",
        ]
        results = data["commands"]
        openssl = results["openssl dgst -sha256 (one core)"].get("best")
        for name, r in results.items():
            if "error" in r:
                lines.append(f"| {name} | failed: {r['error'][:80]} | | | | |")
                continue
            ratio = f"{openssl / r['best']:.2f}" if openssl else ""
            lines.append(
                f"| {name} | {r['best']:.3f} | {r['median']:.3f} "
                f"| {data['bytes'] / GB / r['best']:.2f} | {ratio} "
                f"| {r['user']:.2f} / {r['system']:.2f} |"
            )
        if "read_paths" in data:
            lines += [
                "",
                "In process, one thread per CPU:",
                "",
                "| read path | best (s) | GB/s | user / sys (s) |",
                "|---|---|---|---|",
            ]
            for name, r in data["read_paths"].items():
                lines.append(
                    f"| {name} | {r['best']:.3f} | {data['bytes'] / GB / r['best']:.2f} "
                    f"| {r['user']:.2f} / {r['system']:.2f} |"
                )
        lines.append("")
    lines += [
        "## Start-up",
        "",
        "CPU is user + system of the best run: on a loaded machine it is closer than the",
        "wall time to what the command costs on a quiet one.",
        "",
        "| command | best (s) | median (s) | CPU (s) |",
        "|---|---|---|---|",
    ]
    for name, r in doc["startup"].items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error'][:80]} | | |")
        else:
            cpu = r["user"] + r["system"]
            lines.append(f"| {name} | {r['best']:.3f} | {r['median']:.3f} | {cpu:.3f} |")
    return "\n".join(lines) + "\n"


def _version(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (proc.stdout or proc.stderr).strip().splitlines()[0] if proc.returncode == 0 else "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--data", type=Path, default=None, help="scratch folder (not the repo)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    layouts = [name for name in args.layouts.split(",") if name]
    if unknown := set(layouts) - set(LAYOUTS):
        parser.error(f"unknown layouts: {', '.join(sorted(unknown))}")
    if not (BIN / "model_signing").exists():
        parser.error(f"model-signing is not installed in {BIN.parent} (pip install '.[test]')")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    # start-up as installed: openward's modules compiled, as pip leaves them (a checkout
    # run with PYTHONDONTWRITEBYTECODE would compile every module on every start)
    import compileall

    import openward

    compileall.compile_dir(Path(openward.__file__).parent, quiet=1)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    scratch_parent = args.data or (Path("/work/tmp") if Path("/work/tmp").is_dir() else None)
    from importlib.metadata import version

    doc: dict[str, Any] = {
        "date": f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        "machine": f"{os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), "
        f"{platform.processor() or platform.machine()}",
        "runs": args.runs,
        "versions": f"openward {version('openward')}, model-signing {version('model-signing')}, "
        f"{_version(['openssl', 'version'])}, Python {platform.python_version()}",
        "layouts": {},
    }
    with tempfile.TemporaryDirectory(prefix="sign_bench-", dir=scratch_parent) as tmp:
        t = Path(tmp)
        key, pub = t / "k.pem", t / "k.pub"
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
                        "-out", str(key)], check=True)  # fmt: skip
        subprocess.run(["openssl", "ec", "-in", str(key), "-pubout", "-out", str(pub)],
                       check=True, capture_output=True)  # fmt: skip
        for layout in layouts:
            print(f"{layout}: building ...", file=sys.stderr, flush=True)
            data = t / "data"
            data.mkdir()
            try:
                model = build(layout, data)
                files = files_of(model)
                entry: dict[str, Any] = {
                    "files": len(files),
                    "bytes": sum(p.stat().st_size for p in files),
                    "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
                }
                print(f"{layout}: timing ...", file=sys.stderr, flush=True)
                entry["commands"] = rounds(signers(model, t, key, pub), args.runs)
                if layout != "sharded":
                    entry["read_paths"] = read_paths(model, args.runs)
                entry["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
                doc["layouts"][layout] = entry
            finally:
                shutil.rmtree(data)
        print("start-up ...", file=sys.stderr, flush=True)
        doc["startup"] = startup(t, key, pub, max(args.runs, 10))
    text = report(doc)
    (out / "sign_bench.md").write_text(text)
    (out / "sign_bench.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

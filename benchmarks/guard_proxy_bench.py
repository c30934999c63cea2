"""The guard proxy's own cost: added latency and throughput (sections of guard_bench.py).

latency: one request at a time, alternately straight to a fast real OpenAI-compatible server
(the canned upstream of ``tests/guard/upstream.py`` under uvicorn) and through ``openward
guard`` in front of it (the real CLI, the policy's real detectors, pinned to one core with
``taskset -c 0``). Added latency = guard percentile - direct percentile, for prompts of 200
and 2 000 characters and a 16 000-character transcript. Targets: p50 <= 25 ms and p95 <=
100 ms up to 2 000 characters, p50 <= 400 ms for 16 000.

throughput: 64 concurrent streaming requests (``stream: true``, 32 server-sent chunks each),
direct then through the guard, each for a fixed time; requests per second and the guard's
share of the direct rate. Target >= 90 %. Then the guard's CPU time per request, measured
from the process (``/proc``) once the work it defers past the answer (harmful-compliance's
judgement) has drained: the load-independent figure, and what one core sustains
(1 000 / CPU ms) when that deferred work is counted.

Every request carries a different prompt (slices of the same prose at different offsets), so
the guard's caches of repeated text do not flatter the figures; a conversation's repeated
turns (system prompt, history) would hit them in real traffic.

The load generator is a minimal HTTP/1.1 client on asyncio streams (keep-alive, chunked
decoding), so the client's own cost is small next to what it measures. The prompts are
English prose (the standard library's docstrings), so they pass the detectors.

    python benchmarks/guard_proxy_bench.py [--only latency|throughput] [--policy guard.yaml]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

STREAM_CHUNKS = 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pin(core: int | None) -> list[str]:
    if os.environ.get("GUARD_BENCH_NO_PIN"):
        return []
    if core is None or shutil.which("taskset") is None or (os.cpu_count() or 1) <= core:
        return []
    return ["taskset", "-c", str(core)]


def serve_upstream(port: int, interval_s: float = 0.0) -> None:
    """Run the canned upstream (a subprocess of the benchmark), ``interval_s`` between tokens."""
    import uvicorn
    from tests.guard.upstream import Script, upstream_app

    reply = " ".join(f"tok{i}" for i in range(STREAM_CHUNKS))
    script = Script(reply=reply, chunk_chars=len(reply) // STREAM_CHUNKS + 1, record=False,
                    chunk_delay_s=interval_s)  # fmt: skip
    uvicorn.run(upstream_app(script), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)  # fmt: skip


def _wait(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (loopback)
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def _process(command: Sequence[str], ready: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    try:
        _wait(ready, timeout=300.0)  # a guard loading its models on a loaded core takes long
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def servers(
    policy: Path | None, interval_s: float = 0.0, workers: int = 1
) -> Iterator[tuple[int, int, subprocess.Popen[bytes]]]:
    """(upstream port, guard port, guard process): the upstream on core 1, the guard on core
    0 (with ``workers`` > 1 the guard's processes are not pinned)."""
    up, guard = _free_port(), _free_port()
    upstream = [*_pin(1), sys.executable, __file__, "--serve-upstream", str(up), str(interval_s)]
    cli = [*(_pin(0) if workers == 1 else []), sys.executable, "-c",
           "from openward.cli.main import run; run()", "guard",
           "--upstream", f"http://127.0.0.1:{up}/v1", "--port", str(guard)]  # fmt: skip
    if policy is not None:
        cli += ["--policy", str(policy)]
    if workers > 1:
        cli += ["--workers", str(workers)]
    with (
        _process(upstream, f"http://127.0.0.1:{up}/v1/models"),
        _process(cli, f"http://127.0.0.1:{guard}/healthz") as guard_proc,
    ):
        yield up, guard, guard_proc


class Connection:
    """One keep-alive HTTP/1.1 connection: POST a body, read the whole (chunked) answer."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()  # fmt: skip
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length, chunked, close = None, False, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                data = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                parts.append(data[:-2])
            payload = b"".join(parts)
        else:
            payload = await self.reader.readexactly(length or 0)
        if close:
            await self.close()
        return status, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def prose(chars: int, offset: int = 0) -> str:
    """English text from the standard library's docstrings (benign, varied)."""
    import collections
    import email
    import json as _json
    import logging
    import pathlib
    import threading

    modules = (collections, email, _json, logging, pathlib, threading, asyncio, statistics)
    docs = [inspect.getdoc(m) or "" for m in modules]
    text = " ".join(" ".join(d.split()) for d in docs)
    text = (text * (chars // max(1, len(text)) + 2))[offset : offset + chars]
    return text


def chat_body(chars: int, transcript: bool = False, stream: bool = False, offset: int = 0) -> bytes:
    if not transcript:
        messages = [{"role": "user", "content": prose(chars, offset)}]
    else:
        turns = 10
        messages = [
            {"role": "user" if i % 2 == 0 else "assistant",
             "content": prose(chars // turns, offset=offset + i * 97)}
            for i in range(turns)
        ]  # fmt: skip
    body = {"model": "canned-1", "messages": messages, "max_tokens": 32, "stream": stream}
    return json.dumps(body).encode()


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _latency_runs(
    up: int, guard: int, bodies: Sequence[bytes], n: int
) -> dict[str, list[float]]:
    conns = {"direct": Connection(up), "guard": Connection(guard)}
    times: dict[str, list[float]] = {"direct": [], "guard": []}
    statuses: dict[int, int] = {}
    for i in range(n + 5):
        body = bodies[i % len(bodies)]
        for name in ("direct", "guard") if i % 2 == 0 else ("guard", "direct"):
            t0 = time.perf_counter()
            status, _ = await conns[name].post("/v1/chat/completions", body)
            dt = time.perf_counter() - t0
            if name == "guard":
                statuses[status] = statuses.get(status, 0) + 1
            if i >= 5:  # warm-up
                times[name].append(dt)
    for c in conns.values():
        await c.close()
    if set(statuses) != {200}:
        print(f"    (guard statuses: {statuses})")
    return times


def latency(args: argparse.Namespace) -> None:
    def many(chars: int, transcript: bool = False) -> list[bytes]:
        return [chat_body(chars, transcript, offset=7 * i) for i in range(args.requests + 5)]

    cases = [("200-char prompt", many(200), 25, 100),
             ("2 000-char prompt", many(2000), 25, 100),
             ("16 000-char transcript", many(16000, transcript=True), 400, None)]  # fmt: skip
    with servers(args.policy) as (up, guard, _proc):
        print(
            "| request | direct p50 / p95 ms | guard p50 / p95 ms | added p50 / p95 ms | target |"
        )
        print("|---|---|---|---|---|")
        for name, bodies, p50_target, p95_target in cases:
            t = asyncio.run(_latency_runs(up, guard, bodies, args.requests))
            d50, d95 = _pct(t["direct"], 0.5) * 1e3, _pct(t["direct"], 0.95) * 1e3
            g50, g95 = _pct(t["guard"], 0.5) * 1e3, _pct(t["guard"], 0.95) * 1e3
            target = f"p50 <= {p50_target}" + (f", p95 <= {p95_target}" if p95_target else "")
            print(f"| {name} | {d50:.2f} / {d95:.2f} | {g50:.2f} / {g95:.2f} | "
                  f"{g50 - d50:.2f} / {g95 - d95:.2f} | {target} |", flush=True)  # fmt: skip
        with urllib.request.urlopen(f"http://127.0.0.1:{guard}/metrics") as r:
            metrics = r.read().decode()
    print(
        "\nThe guard's own added-latency histogram (its time on each request, upstream excluded):"
    )
    for line in metrics.splitlines():
        if line.startswith("openward_guard_added_latency_seconds_") and "_bucket" not in line:
            print("    " + line)


async def _load(
    port: int, bodies: Sequence[bytes], concurrency: int, seconds: float
) -> tuple[int, int]:
    done = 0
    bad = 0
    stop = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        nonlocal done, bad
        conn = Connection(port)
        await asyncio.sleep(0.5 * i / concurrency)  # staggered: a steady state, not lockstep
        k = i
        while time.perf_counter() < stop:
            status, payload = await conn.post("/v1/chat/completions", bodies[k % len(bodies)])
            k += concurrency
            if status == 200 and payload.endswith(b"data: [DONE]\n\n"):
                done += 1
            else:
                bad += 1
        await conn.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return done, bad


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (all its threads); None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _settled_cpu_s(pid: int, timeout: float = 300.0) -> float | None:
    """The process's CPU seconds once it has gone idle (work deferred past the answers done):
    at most one clock tick of CPU in each of two consecutive half seconds. (A looser test, 20
    ms in a quarter second, took a loaded machine's starved low-priority deferred threads for
    an idle process and left their work out.)"""
    before = _cpu_s(pid)
    deadline = time.monotonic() + timeout
    quiet = 0
    tick = 1.0 / os.sysconf("SC_CLK_TCK")
    while before is not None and time.monotonic() < deadline:
        time.sleep(0.5)
        now = _cpu_s(pid)
        if now is None:
            return None
        quiet = quiet + 1 if now - before <= tick + 1e-9 else 0
        if quiet >= 2:
            return now
        before = now
    print(f"    (the guard did not go idle within {timeout:.0f} s)", flush=True)
    return before


def throughput(args: argparse.Namespace) -> None:
    bodies = [chat_body(400, stream=True, offset=13 * i) for i in range(4096)]
    concurrency, seconds = args.concurrency, args.seconds
    rows = []
    for interval_ms in args.token_interval_ms:
        print(f"  {interval_ms:g} ms between tokens:", flush=True)
        with servers(args.policy, interval_ms / 1000, args.workers) as (up, guard, proc):
            asyncio.run(_load(up, bodies, concurrency, 1.0))  # warm-up
            asyncio.run(_load(guard, bodies[::-1], concurrency, 1.0))
            rates = {}
            cpu_ms = None
            for name, port in (("direct", up), ("guard", guard), ("direct again", up)):
                start = _settled_cpu_s(proc.pid) if port == guard and args.workers == 1 else None
                done, bad = asyncio.run(_load(port, bodies, concurrency, seconds))
                rates[name] = done / seconds
                extra = f" ({bad} failed)" if bad else ""
                print(f"    {name}: {done / seconds:.1f} streamed requests/s{extra}", flush=True)
                end = _settled_cpu_s(proc.pid) if start is not None else None
                if start is not None and end is not None and done:
                    cpu_ms = (end - start) / done * 1e3
                    print(f"    guard CPU per request, deferred work included: {cpu_ms:.2f} ms "
                          f"(one core sustains {1e3 / cpu_ms:.0f} req/s)", flush=True)  # fmt: skip
        direct = (rates["direct"] + rates["direct again"]) / 2
        rows.append((interval_ms, direct, rates["guard"], cpu_ms))
    print("\n| streams | chunks each | ms between tokens | direct req/s | guard req/s | "
          "guard / direct | guard CPU ms/request | target |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for interval_ms, direct, guarded, cpu in rows:
        cpu_text = f"{cpu:.2f}" if cpu is not None else "?"
        print(f"| {concurrency} | {STREAM_CHUNKS} | {interval_ms:g} | {direct:.1f} | "
              f"{guarded:.1f} | {guarded / direct:.1%} | {cpu_text} | >= 90 % |")  # fmt: skip


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {
    "latency": latency,
    "throughput": throughput,
}


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--policy", type=Path, default=None, help="the guard's policy file")
    ap.add_argument("--requests", type=int, default=200, help="latency: requests per case")
    ap.add_argument("--concurrency", type=int, default=64, help="throughput: concurrent streams")
    ap.add_argument("--workers", type=int, default=1, help="the guard's --workers (1: pinned)")
    ap.add_argument("--seconds", type=float, default=10.0, help="throughput: seconds per run")
    ap.add_argument(
        "--token-interval-ms",
        type=float,
        nargs="+",
        default=[20.0, 0.0],
        help="throughput: the upstream's pause between tokens (0: as fast as it can)",
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-upstream"]:
        serve_upstream(int(argv[1]), float(argv[2]) if len(argv) > 2 else 0.0)
        return 0
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--only", choices=sorted(SECTIONS), action="append")
    add_arguments(ap)
    args = ap.parse_args(argv)
    for name in args.only or list(SECTIONS):
        print(f"\n## {name}\n")
        SECTIONS[name](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

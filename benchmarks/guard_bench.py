"""Guard benchmarks, by section (``--only NAME``, repeatable; default all).

latency, throughput: the proxy's own cost (``guard_proxy_bench.py``): added latency per request
size and streamed throughput against a fast real OpenAI-compatible server, guard on one core.

    python benchmarks/guard_bench.py --only latency --only throughput [--policy guard.yaml]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import guard_proxy_bench

SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {**guard_proxy_bench.SECTIONS}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-upstream"]:  # the proxy sections' upstream subprocess
        return guard_proxy_bench.main(argv)
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--only", choices=sorted(SECTIONS), action="append")
    guard_proxy_bench.add_arguments(ap)
    args = ap.parse_args(argv)
    for name in args.only or list(SECTIONS):
        print(f"\n## {name}\n")
        SECTIONS[name](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

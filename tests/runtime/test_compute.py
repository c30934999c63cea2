"""The compute thread's priority can be lowered for a process whose tensor work is background
work (the guard's deferred judge), and only that thread's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

PROBE = """
import json, os, threading
from openward.runtime.compute import lower_compute_priority, run_on_compute_thread
def nice():
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
before = run_on_compute_thread(nice)
done = lower_compute_priority(5)
print(json.dumps({"before": before, "after": run_on_compute_thread(nice), "done": done,
                  "main": nice()}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_lowering_the_compute_threads_priority_leaves_the_other_threads_alone() -> None:
    # in a process of its own: a thread's niceness cannot be raised back without privileges
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         env=env, check=True, timeout=60)  # fmt: skip
    got = json.loads(out.stdout)
    assert got["done"] is True
    assert got["after"] == min(19, got["before"] + 5)
    assert got["main"] == got["before"]  # the caller's thread keeps its priority

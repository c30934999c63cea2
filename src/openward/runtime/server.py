"""A real OpenAI-compatible server for a local model: ``transformers serve``.

The endpoint path of the audit is tested (and demonstrated) against this
server, not a stub. It needs transformers' serving extras (fastapi, uvicorn,
pydantic, openai; the ``audit`` extra installs them) and runs fully offline:
the model is a local safetensors folder, pinned on the command line, and the
Hub's update check and downloads are switched off.

::

    with openai_server(load_path) as (base_url, model_name):
        target = resolve_target(None, endpoint=base_url, model=model_name)
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from openward.errors import OpenwardError

__all__ = ["free_port", "openai_server"]

READY_TIMEOUT_S = 300.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def openai_server(
    load_path: Path, *, port: int | None = None, ready_timeout_s: float = READY_TIMEOUT_S
) -> Iterator[tuple[str, str]]:
    """Run ``transformers serve`` on ``load_path`` on a loopback port; yield (base_url, model).

    ``model`` is the name requests must use (the folder's path: the server is
    pinned to it). The server is stopped when the block ends.

    Raises:
        OpenwardError: the server exits or is not ready within ``ready_timeout_s``
            (the message ends with the last line of its log).
    """
    port = port or free_port()
    model = str(Path(load_path).resolve())
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_UPDATE_CHECK="1",
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    command = [
        sys.executable,
        "-m",
        "transformers.cli.transformers",
        "serve",
        model,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
        "--dtype",
        "float32",
        "--log-level",
        "warning",
    ]
    base_url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryFile(mode="w+b") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_ready(process, base_url, model, ready_timeout_s, log)
            yield base_url, model
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def _wait_ready(
    process: subprocess.Popen[bytes], base_url: str, model: str, timeout_s: float, log: IO[bytes]
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise OpenwardError(
                f"transformers serve exited with status {process.returncode} before it was "
                f"ready: {_last_line(log)}"
            )
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:  # noqa: S310
                listed = json.loads(response.read())
            if any(m.get("id") == model for m in listed.get("data", [])):
                return
        except (urllib.error.URLError, OSError, ValueError):
            pass  # not listening or not answering yet: poll again until the deadline
        time.sleep(0.5)
    raise OpenwardError(
        f"transformers serve was not ready after {timeout_s:.0f} s: {_last_line(log)}"
    )


def _last_line(log: IO[bytes]) -> str:
    try:
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return "(no log)"
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1][-300:] if lines else "(empty log)"

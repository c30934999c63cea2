"""An endpoint that starts failing mid-audit (HTTP 500s, then answers that are not JSON): the
requests are retried, then the audit stops in one line; the samples finished before are kept,
and the same command resumes once the server is healthy, asking only for the rest.

The server is a real HTTP server on loopback that misbehaves on purpose: the one fault a
real model server cannot be made to produce on demand."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from openward.cli.main import app

runner = CliRunner()
ANSWER = {
    "id": "c",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "I cannot help with that."},
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 6, "total_tokens": 7},
}


class _Server:
    def __init__(self) -> None:
        self.healthy_answers = 2
        self.fault = "500"
        self.posts = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: str) -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._send(200, json.dumps({"object": "list", "data": [{"id": "m"}]}))

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.posts += 1
                if server.posts <= server.healthy_answers:
                    self._send(200, json.dumps(ANSWER))
                elif server.fault == "500":
                    self._send(500, json.dumps({"error": {"message": "boom"}}))
                else:
                    self._send(200, '{"choices": [')

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    thread = threading.Thread(target=s.httpd.serve_forever, daemon=True)
    thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.mark.parametrize("fault", ["500", "not json"])
def test_failing_endpoint_stops_in_one_line_and_resumes(
    server: _Server, fault: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fewer retries than an audit makes (4 per request, then the task once more), to keep it
    # short; inspect retries HTTP errors per request but an answer that is not JSON only
    # through the task retry
    monkeypatch.setattr("openward.audit.run.REQUEST_RETRIES", 1)
    server.fault = fault
    args = ["audit", "--endpoint", server.url, "--model", "m", "--suite", "harmful"]
    args += ["--limit", "4", "--batch-size", "1", "--judge", "keyword", "--max-tokens", "8"]
    args += ["--log-dir", str(tmp_path / "logs"), "--json", "--quiet"]
    failed = runner.invoke(app, args)
    assert failed.exit_code == 2 and failed.stdout == ""
    assert "Traceback" not in failed.stderr and failed.stderr.count("\n") == 1
    assert "suite harmful did not finish" in failed.stderr and "resume" in failed.stderr
    assert server.posts > 3  # the failing requests were retried
    server.healthy_answers = 10**6  # the server recovers; the same command resumes
    before = server.posts
    resumed = runner.invoke(app, args)
    assert resumed.exit_code == 0, resumed.stderr
    assert json.loads(resumed.stdout)["suites"][0]["samples"] == 4
    assert server.posts - before == 2  # only the two samples that had not finished

"""A minimal Hugging Face Hub file server for tests: ``/ORG/NAME/resolve/REV/FILE``
with HEAD, GET and single ``Range: bytes=a-b`` requests, counting the bytes it sends."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubServer:
    def __init__(self, repos: dict[str, Path]) -> None:
        self.repos = repos
        self.sent: dict[str, int] = {}
        """Body bytes sent per file name."""
        self.lock = threading.Lock()


def _handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _file(self) -> Path | None:
            m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", self.path.split("?")[0])
            if not m or m[1] not in hub.repos:
                return None
            path = hub.repos[m[1]] / m[3]
            return path if path.is_file() else None

        def _headers(self, path: Path, status: int, length: int, extra: dict[str, str]) -> None:
            self.send_response(status)
            etag = hashlib.sha256(path.name.encode()).hexdigest()
            self.send_header("ETag", f'"{etag}"')
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(length))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()

        def _missing(self) -> None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_HEAD(self) -> None:
            path = self._file()
            if path is None:
                self._missing()
                return
            self._headers(path, 200, path.stat().st_size, {})

        def do_GET(self) -> None:
            path = self._file()
            if path is None:
                self._missing()
                return
            size = path.stat().st_size
            start, end, status, extra = 0, size - 1, 200, {}
            m = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range", ""))
            if m:
                start = int(m[1])
                end = min(int(m[2]) if m[2] else size - 1, size - 1)
                status = 206
                extra = {"Content-Range": f"bytes {start}-{end}/{size}"}
            length = max(0, end - start + 1)
            self._headers(path, status, length, extra)
            with path.open("rb") as f:
                f.seek(start)
                data = f.read(length)
            self.wfile.write(data)
            with hub.lock:
                hub.sent[path.name] = hub.sent.get(path.name, 0) + len(data)

    return Handler


@contextmanager
def serve_hub(repos: dict[str, Path]) -> Iterator[tuple[str, HubServer]]:
    """Serve ``repos`` (id -> directory); yields (endpoint URL, server state)."""
    hub = HubServer(repos)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hub
    finally:
        server.shutdown()
        server.server_close()

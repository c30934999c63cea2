"""A small real OpenAI-compatible server for the guard's tests and benchmarks.

It answers ``/v1/chat/completions`` and ``/v1/completions`` (whole or as server-sent
events), ``/v1/models`` and ``/v1/echo`` with the text its :class:`Script` says, as fast or as
slowly as asked, and records what it received; :func:`serve` runs any ASGI app under uvicorn
on a free loopback port in a thread. Nothing here is mocked: the guard talks HTTP to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from openward.runtime.server import free_port

MODEL = "canned-1"


@dataclass
class Script:
    """What the upstream answers. ``reply`` is the model's text, streamed ``chunk_chars`` at a
    time with ``chunk_delay_s`` between chunks after ``delay_s`` before the headers."""

    reply: str = "The capital of France is Paris."
    chunk_chars: int = 4
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    status: int = 200
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    streams_completed: int = 0
    record: bool = True
    raw: bytes | None = None  # answer this body (application/json) instead
    events: list[bytes] | None = None  # stream these lines instead (with ``media_type``)
    media_type: str = "text/event-stream"
    paths: list[str] = field(default_factory=list)  # the path of each request received
    peers: list[tuple[str, int]] = field(default_factory=list)  # each request's client address
    set_cookie: str | None = None  # a Set-Cookie header on every answer
    gzip: bool = False  # whole answers gzip-encoded (whatever the request accepts)


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def upstream_app(script: Script) -> Starlette:
    async def answer(request: Request) -> Response:
        body = await request.json()
        if script.record:
            script.bodies.append(body)
            script.headers.append(dict(request.headers))
            script.paths.append(request.url.path)
            if request.client is not None:
                script.peers.append((request.client.host, request.client.port))
        if script.delay_s:
            await asyncio.sleep(script.delay_s)
        if script.status != 200:
            err = {"error": {"message": "upstream says no", "type": "server_error",
                             "param": None, "code": None}}  # fmt: skip
            return JSONResponse(err, status_code=script.status)
        if script.events is not None and body.get("stream") is not False:
            lines = script.events

            async def given() -> AsyncIterator[bytes]:
                for line in lines:
                    yield line

            return StreamingResponse(given(), media_type=script.media_type)
        if script.raw is not None:
            return _dressed(Response(script.raw, media_type="application/json"))
        chat = request.url.path.endswith("chat/completions")
        created = int(time.time())
        if not body.get("stream"):
            if chat:
                choice: dict[str, Any] = {
                    "index": 0,
                    "message": {"role": "assistant", "content": script.reply},
                    "finish_reason": "stop",
                }
            else:
                choice = {"index": 0, "text": script.reply, "finish_reason": "stop"}
            return _dressed(
                JSONResponse(
                    {
                        "id": "cmpl-1",
                        "object": "chat.completion" if chat else "text_completion",
                        "created": created,
                        "model": MODEL,
                        "choices": [choice],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
                    }
                )
            )

        async def events() -> AsyncIterator[bytes]:
            head = {
                "id": "cmpl-1",
                "object": "chat.completion.chunk" if chat else "text_completion",
                "created": created,
                "model": MODEL,
            }
            if chat:
                first = {"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}
                yield b"data: " + json.dumps({**head, "choices": [first]}).encode() + b"\n\n"
            for piece in _pieces(script.reply, script.chunk_chars):
                if script.chunk_delay_s:
                    await asyncio.sleep(script.chunk_delay_s)
                c: dict[str, Any] = (
                    {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                    if chat
                    else {"index": 0, "text": piece, "finish_reason": None}
                )
                yield b"data: " + json.dumps({**head, "choices": [c]}).encode() + b"\n\n"
            if script.chunk_delay_s:
                await asyncio.sleep(script.chunk_delay_s)
            end: dict[str, Any] = (
                {"index": 0, "delta": {}, "finish_reason": "stop"}
                if chat
                else {"index": 0, "text": "", "finish_reason": "stop"}
            )
            yield b"data: " + json.dumps({**head, "choices": [end]}).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"
            script.streams_completed += 1

        return _dressed(StreamingResponse(events(), media_type="text/event-stream"))

    def _dressed(response: Response) -> Response:
        """The script's cookie and encoding on an answer."""
        if script.set_cookie is not None:
            response.headers["set-cookie"] = script.set_cookie
        if script.gzip and not isinstance(response, StreamingResponse):
            response.body = gzip.compress(response.body)
            response.headers["content-encoding"] = "gzip"
            response.headers["content-length"] = str(len(response.body))
        return response

    async def models(request: Request) -> Response:
        return _dressed(
            JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model"}]})
        )

    async def echo(request: Request) -> Response:
        body = await request.body()
        return JSONResponse(
            {
                "method": request.method,
                "query": request.url.query,
                "body": body.decode("utf-8", "replace"),
                "authorization": request.headers.get("authorization"),
                "accept_encoding": request.headers.get("accept-encoding"),
            }
        )

    return Starlette(
        routes=[
            Route("/v1/chat/completions", answer, methods=["POST"]),
            Route("/v1/completions", answer, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/echo", echo, methods=["GET", "POST", "PUT", "DELETE"]),
            Route("/{path:path}", answer, methods=["POST"]),  # any other shape: recorded
        ]
    )


@contextlib.contextmanager
def serve(app: Any, port: int | None = None, **config: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1 in a thread; yield its base URL."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            **config,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server on port {port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)

"""The guard's ASGI reverse proxy in front of an OpenAI-compatible server.

``/v1/chat/completions`` and ``/v1/completions`` are guarded: the request is read, the input
detectors decide (allow, flag, redact or block), the (possibly redacted) request goes
upstream, and the response's text passes through the output detectors, streamed or not.
``/v1/models`` and every other path pass through untouched (client keys still checked).
``/metrics`` serves Prometheus metrics, ``/healthz`` says the worker is up.

Workers keep no state of their own: usage counters live in the store (memory, or Redis
shared by every guard process), the upstream client is one pooled ``httpx.AsyncClient``.
Faults answer in OpenAI's error shape: malformed JSON 400, too large 413, unknown key 401,
upstream unreachable 502, upstream too slow 504.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio.to_thread
import httpx
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from openward.guard.engine import (
    Decision,
    Endpoint,
    Engine,
    Finding,
    OutputGuard,
    OutputStep,
    ParsedRequest,
    RequestError,
    error_body,
    parse_request,
)
from openward.guard.metrics import GuardMetrics
from openward.guard.policy import Policy

__all__ = [
    "SERVE_ENV",
    "UPSTREAM_KEY_ENV",
    "EventSink",
    "app_from_env",
    "build_app",
    "create_app",
    "upstream_base",
]

log = logging.getLogger("openward.guard")

UPSTREAM_KEY_ENV = "OPENWARD_GUARD_UPSTREAM_KEY"
SERVE_ENV = "OPENWARD_GUARD_SERVE"  # the serve settings, for worker processes (JSON)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


class EventSink(Protocol):
    """Where one JSON event per finding goes (:class:`openward.guard.events.EventLog`).
    ``texts`` (the request's text) are read only, to keep them out of the evidence."""

    def write(self, event: Mapping[str, Any], texts: Sequence[str] = ()) -> object: ...


class _Span(Protocol):
    def set_attribute(self, key: str, value: Any) -> None: ...


def _tracer() -> Any:
    """An OpenTelemetry tracer when ``opentelemetry`` is installed and tracing is configured
    by the environment (``OTEL_TRACES_EXPORTER``: ``console``, or ``otlp`` with the OTLP
    exporter installed and ``OTEL_EXPORTER_OTLP_ENDPOINT``); else None (no tracing)."""
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not exporter_name and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        exporter_name = "otlp"
    if exporter_name in ("", "none"):
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        log.warning("OTEL_TRACES_EXPORTER is set but opentelemetry-sdk is not installed")
        return None
    exporter: Any
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    else:
        try:
            import importlib

            otlp = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        except ImportError:
            log.warning("OTLP tracing needs opentelemetry-exporter-otlp-proto-http")
            return None
        exporter = otlp.OTLPSpanExporter()
    service = os.environ.get("OTEL_SERVICE_NAME", "openward-guard")
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider.get_tracer("openward.guard")


def upstream_base(url: str) -> str:
    """The upstream's root: request paths (``/v1/...``) are appended to it as they came."""
    base = url.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", base):
        raise ValueError(f"--upstream {url!r}: give an http:// or https:// URL")
    return base.removesuffix("/v1")


@dataclass
class _Exchange:
    """One guarded request on its way through."""

    request_id: str
    identity: str
    route: str
    started: float
    added_s: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    prompt_sha256: str | None = None
    model: str = ""
    raw: bytes = b""
    texts: tuple[str, ...] = ()


class _Guard:
    def __init__(
        self,
        policy: Policy,
        upstream: str,
        engine: Engine,
        *,
        events: EventSink | None,
        metrics: GuardMetrics,
        upstream_key: str | None,
        max_body_bytes: int,
        client: httpx.AsyncClient | None,
    ) -> None:
        self.policy = policy
        self.base = upstream_base(upstream)
        self.engine = engine
        self.events = events
        self.metrics = metrics
        self.upstream_key = upstream_key
        self.max_body = max_body_bytes
        self.keys = policy.identity_table()
        self.tracer = _tracer()
        self._client = client
        self._own_client = client is None

    # --- lifecycle -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(self.engine.warm)
        if self._client is None:
            limits = self.policy.limits
            pool = httpx.Limits(
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_connections,
                keepalive_expiry=30.0,
            )
            # headers and body go out as separate writes: without TCP_NODELAY, Nagle's
            # algorithm meets the upstream's delayed ACK and each request waits ~40 ms
            transport = httpx.AsyncHTTPTransport(
                limits=pool, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
            )
            self._client = httpx.AsyncClient(
                transport=transport,
                timeout=httpx.Timeout(
                    limits.upstream_read_timeout_s,
                    connect=limits.upstream_connect_timeout_s,
                    pool=limits.upstream_connect_timeout_s,
                ),
                follow_redirects=False,
                trust_env=False,
            )
        try:
            yield
        finally:
            if self._own_client and self._client is not None:
                await self._client.aclose()
                self._client = None
            store = getattr(self.engine.usage, "store", None)
            if store is not None and callable(getattr(store, "close", None)):
                with contextlib.suppress(Exception):
                    await store.close()

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:  # pragma: no cover - Starlette runs the lifespan first
            raise RuntimeError("the guard's upstream client is not started")
        return self._client

    # --- helpers ---------------------------------------------------------------------------

    def request_id(self, request: Request) -> str:
        given = request.headers.get("x-request-id", "")
        return given if _REQUEST_ID.match(given) else uuid.uuid4().hex

    def identity(self, request: Request) -> str:
        auth = request.headers.get("authorization", "")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if key:
            found = self.keys.get(hashlib.sha256(key.encode("utf-8", "replace")).hexdigest())
            if found is not None:
                return found
        if self.policy.require_keys:
            raise RequestError(
                401,
                "a valid API key is required (Authorization: Bearer KEY)",
                code="invalid_api_key",
            )
        return "anonymous"

    async def body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise RequestError(413, self._too_large(), code="request_too_large")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise RequestError(413, self._too_large(), code="request_too_large")
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self) -> str:
        return f"the request body is larger than the guard's limit of {self.max_body} bytes"

    def upstream_headers(self, request: Request, request_id: str, guarded: bool) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        if guarded:
            headers["accept-encoding"] = "identity"  # the guard reads the text it relays
        if self.upstream_key:
            headers["authorization"] = f"Bearer {self.upstream_key}"
        headers["x-request-id"] = request_id
        return headers

    def record(self, ex: _Exchange, findings: Sequence[Finding]) -> None:
        """Count each finding and write its event (the request's text is passed along only
        so the event log can keep it out of the evidence)."""
        for f in findings:
            self.metrics.detection(f.name, f.action)
            if f.side == "usage" and f.detection.kind == "error":
                self.metrics.state_error()
            if self.events is None:
                continue
            if ex.prompt_sha256 is None:
                ex.prompt_sha256 = hashlib.sha256(ex.raw).hexdigest()
            event: dict[str, Any] = {
                "request_id": ex.request_id,
                "identity": ex.identity,
                "detector": f.name,
                "kind": f.detection.kind,
                "score": f.detection.score,
                "action": f.action,
                "route": ex.route,
                "model": ex.model,
                "side": f.side,
                "evidence": dict(f.detection.evidence),
                "prompt_sha256": ex.prompt_sha256,
            }
            try:
                self.events.write(event, ex.texts)
            except Exception as exc:  # (a full disk must not take requests down)
                log.warning("guard event log: %s", exc)

    def headers_for(self, ex: _Exchange, action: str) -> dict[str, str]:
        headers = {"x-request-id": ex.request_id}
        if action != "allow":
            headers["x-openward-guard"] = action
            names = sorted({f.name for f in ex.findings})
            if names:
                headers["x-openward-guard-detections"] = ",".join(names)
        return headers

    def error(
        self, ex: _Exchange | None, status: int, body: Mapping[str, Any], action: str = "allow"
    ) -> JSONResponse:
        headers = self.headers_for(ex, action) if ex is not None else {}
        if ex is not None:
            added = ex.added_s + (time.perf_counter() - ex.started if status != 502 else 0)
            self.metrics.request(ex.route, status, action, added if status < 500 else None)
        return JSONResponse(dict(body), status_code=status, headers=headers)

    # --- routes ----------------------------------------------------------------------------

    async def guarded(self, request: Request, endpoint: Endpoint) -> Response:
        if self.tracer is None:
            return await self._guarded(request, endpoint, None)
        with self.tracer.start_as_current_span("openward.guard " + request.url.path) as span:
            response = await self._guarded(request, endpoint, span)
            span.set_attribute("http.response.status_code", response.status_code)
            return response

    async def _guarded(self, request: Request, endpoint: Endpoint, span: _Span | None) -> Response:
        started = time.perf_counter()
        route = request.url.path
        ex = _Exchange(
            request_id=self.request_id(request), identity="?", route=route, started=started
        )
        try:
            ex.identity = self.identity(request)
            raw = await self.body(request)
            parsed = parse_request(endpoint, raw, self.policy.untrusted)
        except RequestError as exc:
            return self.error(ex, exc.status, exc.body())
        except ClientDisconnect:
            return Response(status_code=499)
        ex.model = parsed.conversation.model
        ex.raw = raw
        ex.texts = tuple(seg.text for seg in parsed.conversation.segments)
        decision = await self.engine.check(parsed, ex.identity)
        if span is not None:
            span.set_attribute("openward.request_id", ex.request_id)
            span.set_attribute("openward.identity", ex.identity)
            span.set_attribute("openward.guard.action", decision.action)
            span.set_attribute("openward.guard.detections", [f.name for f in decision.findings])
        ex.findings.extend(decision.findings)
        self.record(ex, decision.findings)
        if decision.action == "block":
            body = error_body(
                decision.reason, "invalid_request_error", None, "content_policy_violation"
            )
            body["error"]["detections"] = [f.public() for f in decision.findings]
            return self.error(ex, decision.status, body, "block")
        content = raw if decision.body is parsed.body else json.dumps(decision.body).encode()
        ex.added_s = time.perf_counter() - started
        upstream = self.client.build_request(
            "POST",
            self.base + route,
            content=content,
            headers=self.upstream_headers(request, ex.request_id, guarded=True),
        )
        try:
            resp = await self.client.send(upstream, stream=True)
        except httpx.TimeoutException:
            self.metrics.upstream_error("timeout")
            return self.error(ex, 504, _upstream_error("the upstream did not answer in time", 504))
        except httpx.HTTPError as exc:
            self.metrics.upstream_error("unreachable")
            log.warning("guard upstream %s: %s", self.base, exc)
            return self.error(ex, 502, _upstream_error("the upstream cannot be reached", 502))
        content_type = resp.headers.get("content-type", "")
        if resp.status_code >= 400 or not self.engine.output_detectors:
            return self._relay(resp, ex, decision)
        if "text/event-stream" in content_type:
            return StreamingResponse(
                self._stream(resp, parsed, ex, decision),
                status_code=resp.status_code,
                headers={**_response_headers(resp), **self.headers_for(ex, decision.action)},
                media_type="text/event-stream",
            )
        return await self._whole(resp, parsed, ex, decision)

    def _relay(self, resp: httpx.Response, ex: _Exchange, decision: Decision) -> Response:
        """The upstream's answer as it came (errors, or nothing to scan)."""
        self.metrics.request(ex.route, resp.status_code, decision.action, ex.added_s)
        return StreamingResponse(
            _raw(resp),
            status_code=resp.status_code,
            headers={**_response_headers(resp, raw=True), **self.headers_for(ex, decision.action)},
        )

    async def _whole(
        self, resp: httpx.Response, parsed: ParsedRequest, ex: _Exchange, decision: Decision
    ) -> Response:
        try:
            data = await resp.aread()
        except httpx.TimeoutException:
            self.metrics.upstream_error("timeout")
            return self.error(ex, 504, _upstream_error("the upstream did not answer in time", 504))
        except httpx.HTTPError:
            self.metrics.upstream_error("broken")
            return self.error(ex, 502, _upstream_error("the upstream's answer broke off", 502))
        finally:
            await resp.aclose()
        t0 = time.perf_counter()
        try:
            doc = json.loads(data)
            choices = doc["choices"]
            if not isinstance(choices, list):
                raise TypeError("choices")
        except (ValueError, KeyError, TypeError):
            self.metrics.upstream_error("unreadable")
            return self.error(ex, 502, _upstream_error("the upstream's answer is not JSON", 502))
        action = decision.action
        found: list[Finding] = []
        for choice in choices:
            holder, key = _text_holder(choice, parsed.endpoint, streaming=False)
            text = holder.get(key) if holder is not None else None
            if holder is None or not isinstance(text, str):
                continue
            guard = self.engine.output_guard(parsed.conversation, ex.identity)
            # whole answers and finish() (where a detector may run a model, e.g. the
            # harmful-compliance judge) go to a worker thread: other streams keep flowing
            step, rest = await anyio.to_thread.run_sync(_feed_and_finish, guard, text)
            found.extend(guard.findings)
            if guard.blocked is not None:
                ex.findings.extend(found)
                self.record(ex, found)
                ex.added_s += time.perf_counter() - t0
                reason = f"the guard withheld the response: {guard.blocked.name}"
                body = error_body(reason, "content_filter", None, "content_policy_violation")
                body["error"]["detections"] = [f.public() for f in found]
                return self.error(ex, 403, body, "block")
            holder[key] = step.text + rest.text
        ex.findings.extend(found)
        self.record(ex, found)
        if found:
            action = _worse(action, found)
            data = json.dumps(doc).encode()
        ex.added_s += time.perf_counter() - t0
        self.metrics.request(ex.route, resp.status_code, action, ex.added_s)
        return Response(
            data,
            status_code=resp.status_code,
            headers={**_response_headers(resp), **self.headers_for(ex, action)},
            media_type="application/json",
        )

    async def _stream(
        self, resp: httpx.Response, parsed: ParsedRequest, ex: _Exchange, decision: Decision
    ) -> AsyncIterator[bytes]:
        """Relay server-sent events. A reader task queues what the upstream sends; whatever
        has arrived when the guard gets to it is handled as one batch: each choice's deltas
        are fed to its output guard at once (so under load detectors run far less often than
        once per token, and when idle each chunk goes on as it comes); when the guards release
        exactly what came, the upstream's own bytes go out, else the chunks are rewritten
        with the released text. One write per batch."""
        guards: dict[int, OutputGuard] = {}
        finished: set[int] = set()
        last: dict[str, Any] = {}
        action = decision.action
        status = resp.status_code
        buffer = b""
        done = False
        pieces: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
        reader = asyncio.get_running_loop().create_task(_read_into(resp, pieces))
        try:
            while True:
                piece = await pieces.get()
                more = [piece]
                while not pieces.empty() and isinstance(more[-1], bytes):
                    more.append(pieces.get_nowait())
                for item in more:
                    if isinstance(item, BaseException):
                        raise item
                buffer += b"".join(p for p in more if isinstance(p, bytes))
                ended = more[-1] is None
                t0 = time.perf_counter()
                batch: list[tuple[bytes, dict[str, Any]]] = []
                while not done and (nl := buffer.find(b"\n")) >= 0:
                    line, buffer = buffer[:nl].rstrip(b"\r"), buffer[nl + 1 :]
                    if not line.startswith(b"data:"):
                        continue  # comments, event names and blank separators are rebuilt
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        done = True
                        break
                    try:
                        chunk = json.loads(payload)
                    except ValueError:
                        continue  # nothing a client could read either
                    if isinstance(chunk, dict):
                        batch.append((payload, chunk))
                if batch:
                    last = batch[-1][1]
                    out, blocked = await self._batch(batch, parsed, ex, guards, finished)
                    if blocked is not None:
                        action = "block"
                        self.metrics.stream_cutoff(blocked.name)
                        cut = self._cutoff(last, parsed.endpoint, guards, blocked)
                        ex.added_s += time.perf_counter() - t0
                        yield out + cut + b"data: [DONE]\n\n"
                        return
                    if ex.findings:
                        action = _worse(action, ex.findings)
                    ex.added_s += time.perf_counter() - t0
                    if out:
                        yield out
                if done or ended:
                    break
            t0 = time.perf_counter()
            tail, blocked = await self._finish_all(last, parsed.endpoint, ex, guards, finished)
            ex.added_s += time.perf_counter() - t0
            if blocked is not None:
                action = "block"
                self.metrics.stream_cutoff(blocked.name)
                yield self._cutoff(last, parsed.endpoint, guards, blocked) + b"data: [DONE]\n\n"
            else:
                yield (_sse(tail) if tail is not None else b"") + b"data: [DONE]\n\n"
        except httpx.TimeoutException:
            self.metrics.upstream_error("timeout")
            status = 504
            yield _sse(_upstream_error("the upstream stopped sending in time", 504))
            yield b"data: [DONE]\n\n"
        except httpx.HTTPError:
            self.metrics.upstream_error("broken")
            status = 502
            yield _sse(_upstream_error("the upstream's stream broke off", 502))
            yield b"data: [DONE]\n\n"
        finally:
            reader.cancel()
            await resp.aclose()
            self.metrics.request(ex.route, status, action, ex.added_s)

    async def _batch(
        self,
        batch: Sequence[tuple[bytes, dict[str, Any]]],
        parsed: ParsedRequest,
        ex: _Exchange,
        guards: dict[int, OutputGuard],
        finished: set[int],
    ) -> tuple[bytes, Finding | None]:
        """Feed a batch of chunks to the guards; the bytes to send, and the blocking finding.

        A blocked batch sends nothing of its text (the finding may sit anywhere in it)."""
        key = "content" if parsed.endpoint == "chat" else "text"
        # per choice: its text in this batch, the chunks' holders of it, and whether it ended
        texts: dict[int, list[str]] = {}
        holders: dict[int, list[dict[str, Any]]] = {}
        ends: dict[int, dict[str, Any]] = {}
        for _, chunk in batch:
            choices = chunk.get("choices")
            if not isinstance(choices, list):
                continue
            for choice in choices:
                if not isinstance(choice, dict):
                    continue
                index = choice.get("index", 0)
                index = index if isinstance(index, int) else 0
                holder, _ = _text_holder(choice, parsed.endpoint, streaming=True)
                if holder is None:
                    if parsed.endpoint == "chat":
                        holder = choice["delta"] = {}  # a chunk without a delta (malformed)
                    else:
                        continue
                delta = holder.get(key)
                if isinstance(delta, str):
                    texts.setdefault(index, []).append(delta)
                    holders.setdefault(index, []).append(holder)
                elif delta is not None:
                    holder[key] = ""  # not text: nothing a detector read goes out
                if choice.get("finish_reason") is not None:
                    ends[index] = holder
        unchanged = True
        new: list[Finding] = []
        blocked: Finding | None = None
        released: dict[int, str] = {}
        for index in sorted(set(texts) | set(ends)):
            guard = guards.get(index)
            if guard is None:
                guard = guards[index] = self.engine.output_guard(parsed.conversation, ex.identity)
            came = "".join(texts.get(index, ()))
            step = guard.feed(came) if came else None
            text = step.text if step is not None else ""
            if step is not None:
                new += step.findings
            if index in ends and guard.blocked is None:
                fin = await anyio.to_thread.run_sync(guard.finish)
                new += fin.findings
                text += fin.text
                finished.add(index)
            if guard.blocked is not None:
                blocked = guard.blocked
                break
            released[index] = text
            unchanged &= text == came
        if new:
            ex.findings.extend(new)
            self.record(ex, new)
        if blocked is not None:
            return b"", blocked
        if unchanged:
            return b"".join(b"data: " + payload + b"\n\n" for payload, _ in batch), None
        for index, text in released.items():
            spots = holders.get(index, [])
            for holder in spots:
                holder[key] = ""
            target = ends[index] if index in ends else (spots[-1] if spots else None)
            if target is not None:
                target[key] = text
        out = []
        for _, chunk in batch:
            if not _empty(chunk, parsed.endpoint):
                out.append(_sse(chunk))
        return b"".join(out), None

    async def _finish_all(
        self,
        last: Mapping[str, Any],
        endpoint: Endpoint,
        ex: _Exchange,
        guards: dict[int, OutputGuard],
        finished: set[int],
    ) -> tuple[dict[str, Any] | None, Finding | None]:
        """The held-back text of choices whose stream ended without a finish_reason."""
        choices: list[dict[str, Any]] = []
        for index, guard in sorted(guards.items()):
            if index in finished or guard.blocked is not None:
                continue
            step = await anyio.to_thread.run_sync(guard.finish)
            ex.findings.extend(step.findings)
            self.record(ex, step.findings)
            if step.blocked is not None:
                return None, step.blocked
            if step.text:
                if endpoint == "chat":
                    choices.append({"index": index, "delta": {"content": step.text}})
                else:
                    choices.append({"index": index, "text": step.text})
        if not choices:
            return None, None
        return {**_chunk_head(last, endpoint), "choices": choices}, None

    def _cutoff(
        self,
        last: Mapping[str, Any],
        endpoint: Endpoint,
        guards: Mapping[int, OutputGuard],
        blocked: Finding,
    ) -> bytes:
        """The last chunk of a stream the guard stopped: each choice ends with
        ``content_filter``, then an error event says which detector stopped it."""
        if endpoint == "chat":
            ends = [{"index": i, "delta": {}, "finish_reason": "content_filter"} for i in guards]
        else:
            ends = [{"index": i, "text": "", "finish_reason": "content_filter"} for i in guards]
        reason = f"the guard stopped this response: {blocked.name}"
        err = error_body(reason, "content_filter", None, "content_policy_violation")
        err["error"]["detections"] = [blocked.public()]
        return _sse({**_chunk_head(last, endpoint), "choices": ends}) + _sse(err)

    async def passthrough(self, request: Request) -> Response:
        request_id = self.request_id(request)
        route = "other"
        try:
            self.identity(request)
        except RequestError as exc:
            self.metrics.request(route, exc.status, "allow", None)
            return JSONResponse(exc.body(), exc.status, headers={"x-request-id": request_id})
        url = self.base + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        upstream = self.client.build_request(
            request.method,
            url,
            content=request.stream(),
            headers=self.upstream_headers(request, request_id, guarded=False),
        )
        try:
            resp = await self.client.send(upstream, stream=True)
        except httpx.TimeoutException:
            self.metrics.upstream_error("timeout")
            self.metrics.request(route, 504, "allow", None)
            return JSONResponse(_upstream_error("the upstream did not answer in time", 504), 504)
        except httpx.HTTPError:
            self.metrics.upstream_error("unreachable")
            self.metrics.request(route, 502, "allow", None)
            return JSONResponse(_upstream_error("the upstream cannot be reached", 502), 502)
        except ClientDisconnect:
            return Response(status_code=499)
        self.metrics.request(route, resp.status_code, "allow", None)
        return StreamingResponse(
            _raw(resp),
            status_code=resp.status_code,
            headers={**_response_headers(resp, raw=True), "x-request-id": request_id},
        )

    async def metrics_route(self, request: Request) -> Response:
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)


def _feed_and_finish(guard: OutputGuard, text: str) -> tuple[OutputStep, OutputStep]:
    return guard.feed(text), guard.finish()


def _text_holder(
    choice: Mapping[str, Any], endpoint: Endpoint, *, streaming: bool
) -> tuple[dict[str, Any] | None, str]:
    """The dict whose key holds a choice's text: ``delta``/``message`` ``content`` for chat,
    the choice's ``text`` for completions."""
    if not isinstance(choice, dict):
        return None, "text"
    if endpoint == "completions":
        return choice, "text"
    holder = choice.get("delta" if streaming else "message")
    return (holder if isinstance(holder, dict) else None), "content"


_HEAD = frozenset({"id", "object", "created", "model", "system_fingerprint", "choices"})


def _empty(chunk: Mapping[str, Any], endpoint: Endpoint) -> bool:
    """A chunk that says nothing once its text moved to another chunk of its batch."""
    choices = chunk.get("choices")
    if not set(chunk) <= _HEAD or not isinstance(choices, list) or not choices:
        return False
    for c in choices:
        if not isinstance(c, dict) or c.get("finish_reason") is not None:
            return False
        if c.get("logprobs") is not None:
            return False
        if endpoint == "chat":
            d = c.get("delta")
            if not set(c) <= {"index", "delta", "finish_reason", "logprobs"}:
                return False
            if not isinstance(d, dict) or any(v not in (None, "", []) for v in d.values()):
                return False
        elif c.get("text") or not set(c) <= {"index", "text", "finish_reason", "logprobs"}:
            return False
    return True


def _chunk_head(last: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    head = {k: last[k] for k in ("id", "created", "model", "system_fingerprint") if k in last}
    head["object"] = last.get(
        "object", "chat.completion.chunk" if endpoint == "chat" else "text_completion"
    )
    return head


def _worse(action: str, findings: Sequence[Finding]) -> Any:
    from openward.guard.engine import most_severe
    from openward.guard.types import ACTION_RANK

    found = most_severe(findings)
    return found if ACTION_RANK[found] > ACTION_RANK.get(action, 0) else action


def _sse(obj: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _upstream_error(message: str, status: int) -> dict[str, Any]:
    code = "upstream_timeout" if status == 504 else "upstream_unavailable"
    return error_body(message, "server_error", None, code)


def _response_headers(resp: httpx.Response, *, raw: bool = False) -> dict[str, str]:
    # the guard's server sets its own date and server headers
    drop = _HOP | {"content-type", "date", "server"}
    if not raw:
        drop |= {"content-encoding"}
    headers = {k: v for k, v in resp.headers.items() if k.lower() not in drop}
    if raw and "content-type" in resp.headers:
        headers["content-type"] = resp.headers["content-type"]
    return headers


async def _read_into(
    resp: httpx.Response, pieces: asyncio.Queue[bytes | BaseException | None]
) -> None:
    """Queue the upstream body's pieces, then None (or the exception that ended it)."""
    try:
        async for data in resp.aiter_bytes():
            pieces.put_nowait(data)
        pieces.put_nowait(None)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # (handed to the consumer, which turns it into an error event)
        pieces.put_nowait(exc)


async def _raw(resp: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        log.warning("guard pass-through broke off: %s", exc)
    finally:
        await resp.aclose()


def create_app(
    policy: Policy,
    upstream: str,
    *,
    engine: Engine | None = None,
    events: EventSink | None = None,
    metrics: GuardMetrics | None = None,
    upstream_key: str | None = None,
    max_body_bytes: int | None = None,
    client: httpx.AsyncClient | None = None,
) -> Starlette:
    """The guard as an ASGI app in front of ``upstream`` (an OpenAI-compatible base URL).

    ``engine`` defaults to the policy's detectors; ``upstream_key`` to
    ``$OPENWARD_GUARD_UPSTREAM_KEY`` (it replaces the client's key upstream; without one
    the client's ``Authorization`` header is passed on); ``max_body_bytes`` to the policy's.
    """
    if engine is None:
        engine = Engine(policy)
    guard = _Guard(
        policy,
        upstream,
        engine,
        events=events,
        metrics=metrics or GuardMetrics(),
        upstream_key=upstream_key if upstream_key is not None else os.environ.get(UPSTREAM_KEY_ENV),
        max_body_bytes=max_body_bytes or policy.limits.max_body_bytes,
        client=client,
    )

    async def chat(request: Request) -> Response:
        return await guard.guarded(request, "chat")

    async def completions(request: Request) -> Response:
        return await guard.guarded(request, "completions")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/completions", completions, methods=["POST"]),
            Route("/metrics", guard.metrics_route, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/{path:path}", guard.passthrough, methods=methods),
        ],
        lifespan=guard.lifespan,
        exception_handlers={Exception: _internal_error},
    )
    app.state.guard = guard
    return app


def build_app(
    upstream: str,
    policy: str | None = None,
    max_body_bytes: int | None = None,
    events: str | None = None,
) -> Starlette:
    """The guard as ``openward guard`` serves it: the policy file (or the default policy),
    its detectors, the usage monitor over the shared store, the event log.

    Raises:
        OpenwardError: the policy is not valid or a detector cannot be loaded.
    """
    from openward.guard.engine import usage_monitor
    from openward.guard.events import EventLog
    from openward.guard.policy import load_policy

    p = load_policy(policy)
    engine = Engine(p, usage=usage_monitor(p))
    path = events or p.events.path
    sink = None
    if path is not None:
        sink = EventLog(path, prompts=p.events.prompts, sensitive=[*p.system_prompts, *p.canaries])
    return create_app(p, upstream, engine=engine, events=sink, max_body_bytes=max_body_bytes)


def app_from_env() -> Starlette:
    """The app of one worker process of ``openward guard --workers N`` (settings in
    ``$OPENWARD_GUARD_SERVE``)."""
    settings = json.loads(os.environ[SERVE_ENV])
    return build_app(**settings)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("guard: unexpected error on %s", request.url.path, exc_info=exc)
    body = error_body("the guard failed on this request", "server_error", None, "guard_error")
    return JSONResponse(body, status_code=500)

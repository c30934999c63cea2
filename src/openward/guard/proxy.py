"""The guard's ASGI reverse proxy in front of an OpenAI-compatible server.

Paths are normalised (percent-decoding, ``//``, ``.``/``..``, trailing ``/``, case) before they
are matched. The inference endpoints of :data:`GUARDED` (OpenAI chat and completions, llama.cpp,
TGI, Responses, Anthropic-style messages, Ollama, ``/invocations``) are guarded: the request is
read, the input detectors decide (allow, flag, redact or block), the (possibly redacted)
request goes upstream to the path the guard matched, and every text channel of the response
passes through the output detectors, streamed or not. Reads of any other path pass through;
writes to any other path are refused unless the policy's ``passthrough`` lists them.
``/metrics`` serves Prometheus metrics, ``/healthz`` says the worker is up.

Workers keep no state of their own: usage counters live in the store (memory, or Redis
shared by every guard process), the upstream client is one pooled ``aiohttp.ClientSession``
(httpx cost twice the CPU of a bare relay per streamed request: docs/guard.md, "State and
scale").
Input detectors of requests over 1 000 characters run in a bounded thread pool (shorter
ones on the event loop); a full queue answers 503. Faults answer in OpenAI's
error shape: malformed JSON 400, too large 413, unknown key 401, path not allowed 403, upstream
unreachable 502, upstream too slow 504.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import json
import logging
import os
import posixpath
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, unquote

import aiohttp
import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.background import BackgroundTask
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
    collapse,
    error_body,
    load_json,
    parse_body,
    strings,
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


# The inference endpoints the guard reads, by normalised path (lower case, no trailing
# slash): OpenAI's, llama.cpp's, Anthropic-style messages, Ollama's, TGI's, SageMaker-style
# /invocations (chat or completions, by its body). A write to any other path is refused
# unless the policy's ``passthrough`` lists it.
GUARDED: Mapping[str, Endpoint | None] = {
    "/v1/chat/completions": "chat",
    "/chat/completions": "chat",
    "/v1/completions": "completions",
    "/completions": "completions",
    "/completion": "generate",
    "/v1/completion": "generate",
    "/infill": "generate",
    "/v1/responses": "responses",
    "/responses": "responses",
    "/v1/messages": "messages",
    "/api/chat": "ollama-chat",
    "/api/generate": "ollama-generate",
    "/generate": "generate",
    "/generate_stream": "generate",
    "/invocations": None,
}
_OPENAI = frozenset({"chat", "completions"})
DEFERRED_THREADS = 16  # answers whose deferred detectors run at once (one batch of asks)
_DRAIN_S = 0.5  # how long a stream's end after [DONE] is waited for (see _Guard._stream)
DEFERRED_NICENESS = 10  # how much lower the deferred models' CPU priority is
_READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})
# keys of an answer whose strings are not the model's text (some servers echo the request's
# instructions, tools or prompt back: the operator's own text, not an answer)
_ANSWER_SKIP = frozenset(
    {"finish_reason", "stop_reason", "stop_sequence", "logprobs", "top_logprobs", "usage",
     "created", "created_at", "system_fingerprint", "service_tier", "done_reason", "object",
     "instructions", "tools", "tool_choice", "metadata", "prompt", "generation_settings", "user"}
)  # fmt: skip


def normalise_path(raw: str) -> str | None:
    """The path a server would route ``raw`` to: percent-decoded until it stops changing
    (``%2F`` included), backslashes as slashes, ``//`` collapsed, ``.`` and ``..`` resolved,
    no trailing slash. None for a path with control characters."""
    path = raw
    for _ in range(5):
        decoded = unquote(path, errors="replace")
        if decoded == path:
            break
        path = decoded
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return None
    path = re.sub(r"/+", "/", "/" + path.replace("\\", "/"))
    path = posixpath.normpath(path)
    return "/" if path in ("", ".", "/") else path.rstrip("/") or "/"


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
        client: aiohttp.ClientSession | None,
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
        threads = policy.limits.detector_threads or min(8, os.cpu_count() or 1)
        self.limiter = anyio.CapacityLimiter(threads)
        # the deferred detectors (after the answer left) wait on their own threads: they must
        # not take the input detectors' turns, and answers finishing together are judged in
        # one batch (harmful-compliance embeds their asks together)
        self.deferred_limiter = anyio.CapacityLimiter(DEFERRED_THREADS)
        self.max_waiting = policy.limits.max_queued
        self.waiting = 0  # requests whose input detectors are queued or running
        self.passthrough_patterns = [p.casefold() for p in policy.passthrough]

    # --- lifecycle -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(self.engine.warm)
        if self.engine.deferred_detectors and not self.engine.slow_output:
            # the models run only after answers were delivered: live requests come first
            # (after warm(): loading them at low priority on a busy machine delays the start
            # for nothing; OpenMP threads torch started meanwhile keep their priority)
            from openward.runtime.compute import lower_compute_priority

            await anyio.to_thread.run_sync(lower_compute_priority, DEFERRED_NICENESS)
        if self._client is None:
            limits = self.policy.limits
            # connect covers waiting for a free pooled connection as well; sock_read is the
            # longest silence between two pieces of an answer (the read timeout)
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=limits.upstream_connect_timeout_s,
                sock_connect=limits.upstream_connect_timeout_s,
                sock_read=limits.upstream_read_timeout_s,
            )
            connector = aiohttp.TCPConnector(
                limit=limits.max_connections, limit_per_host=0, keepalive_timeout=30.0
            )
            # no cookie jar: a cookie one client's answer set must never go out with another
            # client's request; no proxies from the environment (trust_env off)
            self._client = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                auto_decompress=False,
                # the client's own headers go upstream; none of aiohttp's defaults are added (an
                # Accept-Encoding the client never sent would get it a compressed answer)
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
            )
        try:
            yield
        finally:
            if self._own_client and self._client is not None:
                await self._client.close()
                self._client = None
            store = getattr(self.engine.usage, "store", None)
            if store is not None and callable(getattr(store, "close", None)):
                with contextlib.suppress(Exception):
                    await store.close()

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | AsyncIterator[bytes] | None,
        *,
        decode: bool,
    ) -> aiohttp.ClientResponse:
        """Send a request upstream; the response with its body still to be read. ``decode``:
        undo a content encoding the upstream applied anyway (the guard reads that text).

        Raises:
            TimeoutError: the upstream did not connect or answer in time.
            aiohttp.ClientError: it cannot be reached, or broke the connection.
        """
        if self._client is None:  # pragma: no cover - Starlette runs the lifespan first
            raise RuntimeError("the guard's upstream client is not started")
        return await self._client.request(
            method,
            url,
            data=data,
            headers=headers,
            allow_redirects=False,
            auto_decompress=decode,
        )

    # --- helpers ---------------------------------------------------------------------------

    def request_id(self, request: Request) -> str:
        given = request.headers.get("x-request-id", "")
        return given if _REQUEST_ID.match(given) else os.urandom(16).hex()

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
        """Count each finding and write its event, one per detector and kind of what was found
        together (:func:`collapse`: a request's input findings, a scanned answer's); the
        request's text is passed along only so the event log can keep it out of the
        evidence."""
        for f in collapse(findings):
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

    async def dispatch(self, request: Request) -> Response:
        """Every path but the guard's own: normalised, then guarded (an inference endpoint),
        passed through (reads, and writes the policy's ``passthrough`` lists) or refused."""
        raw = request.scope.get("raw_path")
        given = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else request.url.path
        path = normalise_path(given.split("?", 1)[0])
        if path is None:
            body = error_body("the request path is not valid", "invalid_request_error")
            return JSONResponse(body, status_code=400)
        key = path.casefold()
        if key in GUARDED:
            if request.method == "HEAD":
                return Response(status_code=405, headers={"allow": "POST"})
            if request.method != "POST":
                msg = f"{request.method} {key} is not allowed: the guard serves POST here"
                body = error_body(msg, "invalid_request_error", None, "method_not_allowed")
                return JSONResponse(body, status_code=405, headers={"allow": "POST"})
            return await self.guarded(request, GUARDED[key], key)
        if request.method in _READ_ONLY or any(
            fnmatch.fnmatchcase(key, p) for p in self.passthrough_patterns
        ):
            return await self.passthrough(request, path)
        self.metrics.request("other", 403, "block", None)
        msg = (
            f"the guard does not forward {request.method} {path}: it is not an inference "
            "endpoint the guard reads, and the policy's passthrough list does not name it"
        )
        body = error_body(msg, "invalid_request_error", None, "path_not_allowed")
        return JSONResponse(body, status_code=403)

    async def guarded(self, request: Request, endpoint: Endpoint | None, route: str) -> Response:
        if self.tracer is None:
            return await self._guarded(request, endpoint, route, None)
        with self.tracer.start_as_current_span("openward.guard " + route) as span:
            response = await self._guarded(request, endpoint, route, span)
            span.set_attribute("http.response.status_code", response.status_code)
            return response

    async def _guarded(
        self, request: Request, endpoint: Endpoint | None, route: str, span: _Span | None
    ) -> Response:
        started = time.perf_counter()
        ex = _Exchange(
            request_id=self.request_id(request), identity="?", route=route, started=started
        )
        try:
            ex.identity = self.identity(request)
            raw = await self.body(request)
            doc = load_json(raw)
            if endpoint is None:  # /invocations: the body says which
                endpoint = "chat" if "messages" in doc else "completions"
            policy = self.policy
            parsed = parse_body(endpoint, doc, policy.untrusted, policy.allowed_fields,
                                max_chars=policy.limits.max_text_chars)  # fmt: skip
        except RequestError as exc:
            return self.error(ex, exc.status, exc.body())
        except ClientDisconnect:
            return Response(status_code=499)
        ex.model = parsed.conversation.model
        ex.raw = raw
        ex.texts = tuple(seg.text for seg in parsed.conversation.segments)
        if self.waiting >= self.max_waiting:
            self.metrics.upstream_error("busy")
            body = error_body(
                "the guard is busy: too many requests wait for its detectors; retry shortly",
                "server_error",
                None,
                "guard_busy",
            )
            response = self.error(ex, 503, body)
            response.headers["retry-after"] = "1"
            return response
        self.waiting += 1
        try:
            decision = await self.engine.check(parsed, ex.identity, self.limiter)
        finally:
            self.waiting -= 1
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
            body["error"]["detections"] = [f.public() for f in collapse(decision.findings)]
            return self.error(ex, decision.status, body, "block")
        content = raw if decision.body is parsed.body else json.dumps(decision.body).encode()
        ex.added_s = time.perf_counter() - started
        try:
            resp = await self.send(
                "POST",
                self.base + quote(route),
                self.upstream_headers(request, ex.request_id, guarded=True),
                content,
                decode=True,
            )
        except TimeoutError:
            self.metrics.upstream_error("timeout")
            return self.error(ex, 504, _upstream_error("the upstream did not answer in time", 504))
        except aiohttp.ClientError as exc:
            self.metrics.upstream_error("unreachable")
            log.warning("guard upstream %s: %s", self.base, exc)
            return self.error(ex, 502, _upstream_error("the upstream cannot be reached", 502))
        content_type = resp.headers.get("content-type", "")
        engine = self.engine
        if resp.status >= 400 or not (engine.output_detectors or engine.deferred_detectors):
            return self._relay(resp, ex, decision)
        sse = "text/event-stream" in content_type
        if sse and parsed.endpoint in _OPENAI:
            texts: dict[Any, OutputGuard] = {}
            return StreamingResponse(
                self._stream(resp, parsed, ex, decision, texts),
                status_code=resp.status,
                headers={
                    **_response_headers(resp, decoded=True, own_type=True),
                    **self.headers_for(ex, decision.action),
                },
                media_type="text/event-stream",
                background=self._later(ex, parsed, texts),
            )
        if sse or "ndjson" in content_type or (parsed.stream and "json" not in content_type):
            texts = {}
            return StreamingResponse(
                self._events(resp, parsed, ex, decision, texts, sse),
                status_code=resp.status,
                headers={
                    **_response_headers(resp, decoded=True),
                    **self.headers_for(ex, decision.action),
                },
                background=self._later(ex, parsed, texts),
            )
        return await self._whole(resp, parsed, ex, decision)

    async def _finish(self, guard: OutputGuard) -> OutputStep:
        """An output guard's end: in a worker thread when a slow detector (a model) may run
        in it, else right here (the scanners' ends are cheap; a thread hop is not)."""
        if self.engine.slow_output:
            return await anyio.to_thread.run_sync(guard.finish, limiter=self.limiter)
        return guard.finish()

    def _later(
        self, ex: _Exchange, parsed: ParsedRequest, guards: Mapping[Any, OutputGuard]
    ) -> BackgroundTask | None:
        """The deferred output detectors (harmful-compliance when it only flags) over the
        answer's texts, once the answer has been sent: an event and a metric, no latency."""
        if not self.engine.deferred_detectors:
            return None

        async def run() -> None:
            texts = [g.text for key, g in sorted(guards.items(), key=str) if _is_answer(key)]
            if not texts:
                return
            found = await anyio.to_thread.run_sync(
                self.engine.run_deferred, parsed.conversation, ex.identity, texts,
                limiter=self.deferred_limiter,
            )  # fmt: skip
            ex.findings.extend(found)
            self.record(ex, found)

        return BackgroundTask(run)

    def _relay(self, resp: aiohttp.ClientResponse, ex: _Exchange, decision: Decision) -> Response:
        """The upstream's answer as it came (errors, or nothing to scan)."""
        self.metrics.request(ex.route, resp.status, decision.action, ex.added_s)
        return StreamingResponse(
            _raw(resp),
            status_code=resp.status,
            headers={
                **_response_headers(resp, decoded=True),
                **self.headers_for(ex, decision.action),
            },
        )

    async def _whole(
        self,
        resp: aiohttp.ClientResponse,
        parsed: ParsedRequest,
        ex: _Exchange,
        decision: Decision,
    ) -> Response:
        try:
            data = await resp.read()
        except TimeoutError:
            self.metrics.upstream_error("timeout")
            return self.error(ex, 504, _upstream_error("the upstream did not answer in time", 504))
        except aiohttp.ClientError:
            self.metrics.upstream_error("broken")
            return self.error(ex, 502, _upstream_error("the upstream's answer broke off", 502))
        finally:
            resp.release()
        t0 = time.perf_counter()
        try:
            doc = json.loads(data)
            if parsed.endpoint in _OPENAI:
                choices = doc["choices"]
                if not isinstance(choices, list):
                    raise TypeError("choices")
                units = [c for c in choices if isinstance(c, dict)]
            elif isinstance(doc, dict):
                units = [doc]
            else:
                raise TypeError("not an object")
        except (ValueError, KeyError, TypeError):
            self.metrics.upstream_error("unreadable")
            return self.error(ex, 502, _upstream_error("the upstream's answer is not JSON", 502))
        action = decision.action
        # every text of the answer, each through output guards of its own: the message's
        # content (a string or parts), reasoning, refusals, tool calls' names and arguments
        plan = [
            (u, path, text)
            for u, unit in enumerate(units)
            for path, text in strings(unit, (), skip=_ANSWER_SKIP)
        ]
        # the tokens of logprobs, joined, are text the client reads as well
        plan += [(u, ("logprobs",), t) for u, unit in enumerate(units) if (t := _tokens(unit))]
        conv, identity = parsed.conversation, ex.identity

        def scan() -> list[tuple[OutputGuard, str]]:
            # whole answers (where a detector may run a model) go to a worker thread
            out = []
            for _, _, text in plan:
                guard = self.engine.output_guard(conv, identity)
                step, rest = _feed_and_finish(guard, text)
                out.append((guard, step.text + rest.text))
                if guard.blocked is not None:
                    break
            return out

        scanned = await anyio.to_thread.run_sync(scan, limiter=self.limiter)
        found: list[Finding] = []
        guards: dict[Any, OutputGuard] = {}
        touched: set[int] = set()
        for (u, path, text), (guard, result) in zip(plan, scanned, strict=False):
            found.extend(guard.findings)
            guards[(u, *path)] = guard
            if guard.blocked is not None:
                ex.findings.extend(found)
                self.record(ex, found)
                ex.added_s += time.perf_counter() - t0
                reason = f"the guard withheld the response: {guard.blocked.name}"
                body = error_body(reason, "content_filter", None, "content_policy_violation")
                body["error"]["detections"] = [f.public() for f in collapse(found)]
                return self.error(ex, 403, body, "block")
            if result != text and path != ("logprobs",):
                _set(units[u], path, result)
            if result != text or any(f.action in ("redact", "block") for f in guard.findings):
                touched.add(u)
        for u in touched:  # the tokens of what was redacted must not leave as logprobs
            _drop_logprobs(units[u])
        ex.findings.extend(found)
        self.record(ex, found)
        if found:
            action = _worse(action, found)
            data = json.dumps(doc).encode()
        ex.added_s += time.perf_counter() - t0
        self.metrics.request(ex.route, resp.status, action, ex.added_s)
        return Response(
            data,
            status_code=resp.status,
            headers={
                **_response_headers(resp, decoded=True, own_type=True),
                **self.headers_for(ex, action),
            },
            media_type="application/json",
            background=self._later(ex, parsed, guards),
        )

    async def _events(
        self,
        resp: aiohttp.ClientResponse,
        parsed: ParsedRequest,
        ex: _Exchange,
        decision: Decision,
        guards: dict[Any, OutputGuard],
        sse: bool,
    ) -> AsyncIterator[bytes]:
        """Relay a stream of another shape (Anthropic-style or Responses server-sent events,
        Ollama's JSON lines): each event's texts go to an output guard per text field, and an
        event is released once no guard still holds back any of its text. A redaction
        cannot be written into these shapes: it stops the stream like a block."""
        sep = b"\n\n" if sse else b"\n"
        held: list[tuple[bytes, dict[str, int]]] = []
        buffer = b""
        status = resp.status
        action = decision.action

        def feed(unit: bytes) -> Finding | None:
            marks: dict[str, int] = {}
            payload = unit
            if sse:
                lines = [ln[5:].strip() for ln in unit.split(b"\n") if ln.startswith(b"data:")]
                payload = b"\n".join(lines)
            try:
                obj = json.loads(payload) if payload.strip() else None
            except ValueError:
                obj = None
            for path, text in strings(obj, (), skip=_ANSWER_SKIP) if obj is not None else ():
                channel = next((k for k in reversed(path) if isinstance(k, str)), "text")
                guard = guards.get(channel)
                if guard is None:
                    guard = guards[channel] = self.engine.output_guard(
                        parsed.conversation, ex.identity
                    )
                step = guard.feed(text)
                new = step.findings
                ex.findings.extend(new)
                self.record(ex, new)
                stop = step.blocked or next((f for f in new if f.action == "redact"), None)
                if stop is not None:
                    return stop
                marks[channel] = len(guard.text)
            held.append((unit, marks))
            return None

        def ready() -> bytes:
            out = []
            while held and all(guards[c].released >= n for c, n in held[0][1].items()):
                out.append(held.pop(0)[0] + sep)
            return b"".join(out)

        def cut(stop: Finding) -> bytes:
            self.metrics.stream_cutoff(stop.name)
            reason = f"the guard stopped this response: {stop.name}"
            if sse:
                err = error_body(reason, "content_filter", None, "content_policy_violation")
                return b"event: error\ndata: " + json.dumps({"type": "error", **err}).encode() + sep
            return json.dumps({"error": reason}).encode() + sep

        try:
            async for data in resp.content.iter_any():
                t0 = time.perf_counter()
                buffer += data.replace(b"\r\n", b"\n") if sse else data
                while (at := buffer.find(sep)) >= 0:
                    unit, buffer = buffer[:at], buffer[at + len(sep) :]
                    if unit.strip() and (stop := feed(unit)) is not None:
                        action = "block"
                        yield cut(stop)  # what is still held may hold the finding
                        return
                if ex.findings:
                    action = _worse(action, ex.findings)
                ex.added_s += time.perf_counter() - t0
                if out := ready():
                    yield out
            if buffer.strip() and (stop := feed(buffer)) is not None:
                action = "block"
                yield cut(stop)
                return
            for guard in guards.values():
                step = await self._finish(guard)
                ex.findings.extend(step.findings)
                self.record(ex, step.findings)
                stop = step.blocked or next(
                    (f for f in step.findings if f.action == "redact"), None
                )
                if stop is not None:
                    action = "block"
                    yield cut(stop)
                    return
            yield b"".join(unit + sep for unit, _ in held)
        except TimeoutError:
            self.metrics.upstream_error("timeout")
            status = 504
        except aiohttp.ClientError:
            self.metrics.upstream_error("broken")
            status = 502
        finally:
            resp.release()
            self.metrics.request(ex.route, status, action, ex.added_s)

    async def _stream(
        self,
        resp: aiohttp.ClientResponse,
        parsed: ParsedRequest,
        ex: _Exchange,
        decision: Decision,
        guards: dict[Any, OutputGuard],
    ) -> AsyncIterator[bytes]:
        """Relay server-sent events. A reader task queues what the upstream sends; whatever
        has arrived when the guard gets to it is handled as one batch: each choice's deltas
        are fed to its output guards at once (so under load detectors run far less often than
        once per token, and when idle each chunk goes on as it comes); when the guards release
        exactly what came, the upstream's own bytes go out, else the chunks are rewritten
        with the released text. One write per batch."""
        finished: set[Any] = set()
        last: dict[str, Any] = {}
        action = decision.action
        status = resp.status
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
        except TimeoutError:
            self.metrics.upstream_error("timeout")
            status = 504
            yield _sse(_upstream_error("the upstream stopped sending in time", 504))
            yield b"data: [DONE]\n\n"
        except aiohttp.ClientError:
            self.metrics.upstream_error("broken")
            status = 502
            yield _sse(_upstream_error("the upstream's stream broke off", 502))
            yield b"data: [DONE]\n\n"
        finally:
            if done and not reader.done():
                # the upstream ends its body right after [DONE]: read that end, so the
                # connection goes back to the pool instead of being dropped mid-response
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(reader), _DRAIN_S)
            reader.cancel()
            resp.release()
            self.metrics.request(ex.route, status, action, ex.added_s)

    async def _batch(
        self,
        batch: Sequence[tuple[bytes, dict[str, Any]]],
        parsed: ParsedRequest,
        ex: _Exchange,
        guards: dict[Any, OutputGuard],
        finished: set[Any],
    ) -> tuple[bytes, Finding | None]:
        """Feed a batch of chunks to the guards; the bytes to send, and the blocking finding.

        Each text channel of each choice (``content``, ``reasoning_content``, ``reasoning``,
        ``refusal``, each tool call's ``name`` and ``arguments``; ``text`` for completions)
        has a guard of its own. A blocked batch sends nothing of its text (the finding may
        sit anywhere in it); a choice whose text the guards changed or held back loses its
        ``logprobs`` in this batch (they would spell out that text)."""
        # per (choice, channel): its text in this batch, where it sat; per choice: its end
        texts: dict[tuple[int, str], list[str]] = {}
        holders: dict[tuple[int, str], list[tuple[dict[str, Any], str]]] = {}
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
                for channel, holder, name in _channels(choice, parsed.endpoint):
                    value = holder.get(name)
                    if isinstance(value, str):
                        texts.setdefault((index, channel), []).append(value)
                        holders.setdefault((index, channel), []).append((holder, name))
                    elif value is not None:
                        holder[name] = ""  # not text: nothing a detector read goes out
                if tokens := _tokens(choice):  # read, never rewritten: dropped when held
                    texts.setdefault((index, "logprobs"), []).append(tokens)
                if choice.get("finish_reason") is not None:
                    ends[index] = choice
        unchanged = True
        changed: set[int] = set()
        new: list[Finding] = []
        blocked: Finding | None = None
        released: dict[tuple[int, str], str] = {}
        keys = set(texts) | {k for k in guards if k[0] in ends and k not in finished}
        for key in sorted(keys):
            guard = guards.get(key)
            if guard is None:
                guard = guards[key] = self.engine.output_guard(parsed.conversation, ex.identity)
            came = "".join(texts.get(key, ()))
            step = guard.feed(came) if came else None
            text = step.text if step is not None else ""
            if step is not None:
                new += step.findings
            if key[0] in ends and guard.blocked is None:
                fin = await self._finish(guard)
                new += fin.findings
                text += fin.text
                finished.add(key)
            if guard.blocked is not None:
                blocked = guard.blocked
                break
            released[key] = text
            if text != came:
                unchanged = False
                changed.add(key[0])
        if new:
            ex.findings.extend(new)
            self.record(ex, new)
        if blocked is not None:
            return b"", blocked
        if unchanged:
            return b"".join(b"data: " + payload + b"\n\n" for payload, _ in batch), None
        for key, text in released.items():
            spots = holders.get(key, [])
            for holder, k in spots:
                holder[k] = ""
            if spots:
                holder, k = spots[-1]
                holder[k] = text
            elif text and key[0] in ends and key[1] != "logprobs":
                _place(ends[key[0]], key[1], text, parsed.endpoint)
        out = []
        for _, chunk in batch:
            for choice in chunk.get("choices") or ():
                if isinstance(choice, dict) and choice.get("index", 0) in changed:
                    choice.pop("logprobs", None)
            if not _empty(chunk, parsed.endpoint):
                out.append(_sse(chunk))
        return b"".join(out), None

    async def _finish_all(
        self,
        last: Mapping[str, Any],
        endpoint: Endpoint,
        ex: _Exchange,
        guards: dict[Any, OutputGuard],
        finished: set[Any],
    ) -> tuple[dict[str, Any] | None, Finding | None]:
        """The held-back text of choices whose stream ended without a finish_reason."""
        choices: dict[int, dict[str, Any]] = {}
        for key, guard in sorted(guards.items()):
            if key in finished or guard.blocked is not None:
                continue
            step = await self._finish(guard)
            ex.findings.extend(step.findings)
            self.record(ex, step.findings)
            if step.blocked is not None:
                return None, step.blocked
            if step.text and key[1] != "logprobs":
                choice = choices.setdefault(key[0], {"index": key[0]})
                _place(choice, key[1], step.text, endpoint)
        if not choices:
            return None, None
        return {**_chunk_head(last, endpoint), "choices": list(choices.values())}, None

    def _cutoff(
        self,
        last: Mapping[str, Any],
        endpoint: Endpoint,
        guards: Mapping[Any, OutputGuard],
        blocked: Finding,
    ) -> bytes:
        """The last chunk of a stream the guard stopped: each choice ends with
        ``content_filter``, then an error event says which detector stopped it."""
        indices = sorted({k[0] for k in guards})
        if endpoint == "chat":
            ends = [{"index": i, "delta": {}, "finish_reason": "content_filter"} for i in indices]
        else:
            ends = [{"index": i, "text": "", "finish_reason": "content_filter"} for i in indices]
        reason = f"the guard stopped this response: {blocked.name}"
        err = error_body(reason, "content_filter", None, "content_policy_violation")
        err["error"]["detections"] = [blocked.public()]
        return _sse({**_chunk_head(last, endpoint), "choices": ends}) + _sse(err)

    async def passthrough(self, request: Request, path: str) -> Response:
        request_id = self.request_id(request)
        route = "other"
        try:
            self.identity(request)
        except RequestError as exc:
            self.metrics.request(route, exc.status, "allow", None)
            return JSONResponse(exc.body(), exc.status, headers={"x-request-id": request_id})
        url = self.base + quote(path)
        if request.url.query:
            url += "?" + request.url.query
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        try:
            resp = await self.send(
                request.method,
                url,
                self.upstream_headers(request, request_id, guarded=False),
                request.stream() if has_body else None,
                decode=False,
            )
        except TimeoutError:
            self.metrics.upstream_error("timeout")
            self.metrics.request(route, 504, "allow", None)
            return JSONResponse(_upstream_error("the upstream did not answer in time", 504), 504)
        except aiohttp.ClientError:
            self.metrics.upstream_error("unreachable")
            self.metrics.request(route, 502, "allow", None)
            return JSONResponse(_upstream_error("the upstream cannot be reached", 502), 502)
        except ClientDisconnect:
            return Response(status_code=499)
        self.metrics.request(route, resp.status, "allow", None)
        return StreamingResponse(
            _raw(resp),
            status_code=resp.status,
            headers={**_response_headers(resp), "x-request-id": request_id},
        )

    async def metrics_route(self, request: Request) -> Response:
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)


def _feed_and_finish(guard: OutputGuard, text: str) -> tuple[OutputStep, OutputStep]:
    return guard.feed(text), guard.finish()


def _channels(choice: dict[str, Any], endpoint: Endpoint) -> list[tuple[str, dict[str, Any], str]]:
    """(channel, holder, key) of each text a streamed choice carries: the completion's
    ``text``; a chat delta's ``content``, ``reasoning_content``, ``reasoning``, ``refusal``
    and each tool call's ``name`` and ``arguments`` (by the call's ``index``)."""
    if endpoint == "completions":
        return [("text", choice, "text")]
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        delta = choice["delta"] = {}  # a chunk without a delta (malformed)
    content = delta.get("content")
    if isinstance(content, list):  # parts in a delta: their text, as a string
        delta["content"] = "".join(text for _, text in strings(content, ()))
    out = [(key, delta, key) for key in _STREAMED if key in delta]
    calls = delta.get("tool_calls")
    if isinstance(calls, list):
        for pos, call in enumerate(calls):
            fn = call.get("function") if isinstance(call, dict) else None
            if not isinstance(fn, dict):
                continue
            at = call.get("index", pos)
            at = at if isinstance(at, int) else pos
            out += [(f"tool_calls.{at}.{k}", fn, k) for k in ("name", "arguments") if k in fn]
    return out


_STREAMED = ("content", "reasoning_content", "reasoning", "refusal")


def _place(choice: dict[str, Any], channel: str, text: str, endpoint: Endpoint) -> None:
    """Put held-back ``text`` of ``channel`` into a streamed choice."""
    if endpoint == "completions":
        choice["text"] = (
            choice.get("text", "") + text if isinstance(choice.get("text"), str) else text
        )
        return
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        delta = choice["delta"] = {}
    if channel.startswith("tool_calls."):
        _, at, key = channel.split(".")
        calls = delta.get("tool_calls")
        if not isinstance(calls, list):
            calls = delta["tool_calls"] = []
        calls.append({"index": int(at), "function": {key: text}})
    else:
        before = delta.get(channel)
        delta[channel] = (before if isinstance(before, str) else "") + text


def _tokens(choice: Mapping[str, Any]) -> str:
    """The text a choice's ``logprobs`` spell out (chat ``content[].token``, or the
    completions ``tokens`` list), joined."""
    lp = choice.get("logprobs")
    if not isinstance(lp, Mapping):
        return ""
    items = lp.get("content")
    if isinstance(items, list):
        return "".join(
            t["token"] for t in items if isinstance(t, Mapping) and isinstance(t.get("token"), str)
        )
    tokens = lp.get("tokens")
    if isinstance(tokens, list):
        return "".join(t for t in tokens if isinstance(t, str))
    return ""


def _set(holder: Any, path: Sequence[str | int], value: str) -> None:
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value


def _drop_logprobs(value: Any) -> None:
    """Remove every ``logprobs`` in an answer (its tokens would spell out redacted text)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "logprobs" in item:
                item["logprobs"] = None
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


_ANSWER_KEYS = frozenset({"content", "text", "response", "generated_text", "delta", "output_text"})


def _is_answer(key: Any) -> bool:
    """Whether a guard's key names the answer's own text (not reasoning or tool calls)."""
    parts = key if isinstance(key, tuple) else (key,)
    names = [p for p in parts if isinstance(p, str)]
    return bool(names) and names[-1] in _ANSWER_KEYS


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


def _response_headers(
    resp: aiohttp.ClientResponse, *, decoded: bool = False, own_type: bool = False
) -> dict[str, str]:
    """The upstream's headers a client gets: hop-by-hop ones and the server's date and name
    left out (the guard's server sets its own); ``content-encoding`` too when the body was
    decoded (``decoded``), ``content-type`` when the response sets its own (``own_type``);
    repeated headers joined with commas (of ``set-cookie``, the last)."""
    drop = _HOP | {"date", "server"}
    if decoded:
        drop |= {"content-encoding"}
    if own_type:
        drop |= {"content-type"}
    headers: dict[str, str] = {}
    for k, v in resp.headers.items():
        key = k.lower()
        if key in drop:
            continue
        headers[key] = v if key not in headers or key == "set-cookie" else headers[key] + ", " + v
    return headers


async def _read_into(
    resp: aiohttp.ClientResponse, pieces: asyncio.Queue[bytes | BaseException | None]
) -> None:
    """Queue the upstream body's pieces, then None (or the exception that ended it)."""
    try:
        async for data in resp.content.iter_any():
            pieces.put_nowait(data)
        pieces.put_nowait(None)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # (handed to the consumer, which turns it into an error event)
        pieces.put_nowait(exc)


async def _raw(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.content.iter_any():
            yield chunk
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("guard pass-through broke off: %s", exc)
    finally:
        resp.release()


def create_app(
    policy: Policy,
    upstream: str,
    *,
    engine: Engine | None = None,
    events: EventSink | None = None,
    metrics: GuardMetrics | None = None,
    upstream_key: str | None = None,
    max_body_bytes: int | None = None,
    client: aiohttp.ClientSession | None = None,
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

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    app = Starlette(
        routes=[
            Route("/metrics", guard.metrics_route, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/{path:path}", guard.dispatch, methods=methods),
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

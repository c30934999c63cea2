"""Policy + detectors -> a decision for a request, and a guard for each streamed response.

The engine reads a chat-completion or completion request body into a :class:`Conversation`
(one :class:`Segment` per text part, untrusted where the policy says so), runs the input
detectors the policy enables, and decides: the most severe action of the findings wins.
``redact`` rewrites the located spans in the body that goes upstream. On the way back an
:class:`OutputGuard` per choice feeds the model's text to the output detectors as it
streams and releases to the client only what no scanner still holds back, so a redaction
or a block acts before the text leaves.

Detectors are imported lazily from :data:`openward.guard.policy.DETECTORS` (module, class)
when the policy enables one of their names; tests and embedders may pass their own.
"""

from __future__ import annotations

import copy
import importlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast

from openward.guard.policy import DETECTORS, Policy, PolicyError, UntrustedPolicy
from openward.guard.types import (
    ACTION_RANK,
    Action,
    Conversation,
    Detection,
    DetectorContext,
    InputDetector,
    OutputDetector,
    OutputScanner,
    Segment,
)

__all__ = [
    "Decision",
    "Endpoint",
    "Engine",
    "Finding",
    "OutputGuard",
    "OutputStep",
    "ParsedRequest",
    "RequestError",
    "UsageObserver",
    "parse_request",
]

log = logging.getLogger("openward.guard")

Endpoint = Literal["chat", "completions"]


class RequestError(Exception):
    """A request the guard refuses before any detector runs (OpenAI's error shape)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type_

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# --- reading requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class Location:
    """Where a segment's text sits in the request body: ``messages[message]`` (its string
    content, its ``content[part]["text"]``, or its ``tool_calls[call]`` arguments) or the
    completion prompt; ``offset`` is where the segment starts in that string."""

    message: int
    part: int | None
    offset: int
    field: Literal["content", "arguments", "function_call", "prompt"] = "content"
    call: int = 0


@dataclass(frozen=True)
class ParsedRequest:
    endpoint: Endpoint
    body: dict[str, Any]
    conversation: Conversation
    locations: tuple[Location, ...]

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True

    @property
    def chars(self) -> int:
        return sum(len(s.text) for s in self.conversation.segments)


def _untrusted_pattern(policy: UntrustedPolicy) -> list[tuple[re.Pattern[str], re.Pattern[str]]]:
    pairs = [
        (
            re.compile(rf"<{re.escape(tag)}(?:\s[^<>]*)?>", re.IGNORECASE),
            re.compile(rf"</{re.escape(tag)}\s*>", re.IGNORECASE),
        )
        for tag in policy.tags
    ]
    pairs += [
        (re.compile(re.escape(m.start), re.IGNORECASE), re.compile(re.escape(m.end), re.IGNORECASE))
        for m in policy.markers
    ]
    return pairs


_QUOTED = re.compile(r"^[ \t]*>.*(?:\n[ \t]*>.*)*", re.MULTILINE)


class _Reader:
    """Turns one request body into segments and their locations."""

    def __init__(self, policy: UntrustedPolicy) -> None:
        self.policy = policy
        self.pairs = _untrusted_pattern(policy)
        self.segments: list[Segment] = []
        self.locations: list[Location] = []

    def _spans(self, text: str) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        for start_re, end_re in self.pairs:
            pos = 0
            while (m := start_re.search(text, pos)) is not None:
                close = end_re.search(text, m.end())
                end = (
                    close.end() if close is not None else len(text)
                )  # unclosed: untrusted to the end
                spans.append((m.start(), end))
                pos = max(end, m.end())
        if self.policy.quoted:
            spans += [(m.start(), m.end()) for m in _QUOTED.finditer(text)]
        spans.sort()
        merged: list[tuple[int, int]] = []
        for s, e in spans:
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        return merged

    def add(self, text: str, role: str, untrusted: bool, where: Location) -> None:
        if not text:
            return
        index = where.part or 0
        pieces: list[tuple[int, int, bool]] = []
        if untrusted or (not self.pairs and not self.policy.quoted):
            pieces = [(0, len(text), untrusted)]
        else:
            pos = 0
            for s, e in self._spans(text):
                if s > pos:
                    pieces.append((pos, s, False))
                pieces.append((s, e, True))
                pos = e
            if pos < len(text):
                pieces.append((pos, len(text), False))
        for s, e, flag in pieces:
            piece = text[s:e]
            if not piece.strip():
                continue
            self.segments.append(Segment(where.message, role, piece, flag, index))
            self.locations.append(
                Location(where.message, where.part, where.offset + s, where.field, where.call)
            )


def _text_of_part(part: object, where: str) -> str | None:
    if not isinstance(part, Mapping):
        raise RequestError(400, f"{where} must be an object", param=where)
    kind = part.get("type")
    if kind in ("text", "input_text", "output_text") or (kind is None and "text" in part):
        text = part.get("text")
        if not isinstance(text, str):
            raise RequestError(400, f"{where}.text must be a string", param=where)
        return text
    return None  # images, audio, files: no text to read


def _read_chat(body: Mapping[str, Any], reader: _Reader) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise RequestError(400, "'messages' must be a list of messages", param="messages")
    tool_names: dict[str, str] = {}  # tool_call_id -> the function it called
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, Mapping):
            raise RequestError(400, f"{where} must be an object", param=where)
        role = msg.get("role")
        if not isinstance(role, str):
            raise RequestError(400, f"{where}.role must be a string", param=f"{where}.role")
        name = msg.get("name")
        if role == "tool" and isinstance(msg.get("tool_call_id"), str):
            name = tool_names.get(msg["tool_call_id"], name)
        untrusted = role in reader.policy.roles or (
            isinstance(name, str) and name in reader.policy.tools
        )
        content = msg.get("content")
        if isinstance(content, str):
            reader.add(content, role, untrusted, Location(i, None, 0))
        elif isinstance(content, list):
            for j, part in enumerate(content):
                text = _text_of_part(part, f"{where}.content[{j}]")
                if text is not None:
                    reader.add(text, role, untrusted, Location(i, j, 0))
        elif content is not None:
            raise RequestError(
                400, f"{where}.content must be a string or a list of parts", param=f"{where}"
            )
        calls = msg.get("tool_calls")
        if isinstance(calls, list):
            for k, call in enumerate(calls):
                fn = call.get("function") if isinstance(call, Mapping) else None
                if not isinstance(fn, Mapping):
                    continue
                if isinstance(call.get("id"), str) and isinstance(fn.get("name"), str):
                    tool_names[call["id"]] = fn["name"]
                args = fn.get("arguments")
                if isinstance(args, str):
                    reader.add(args, role, untrusted, Location(i, None, 0, "arguments", k))
        fc = msg.get("function_call")
        if isinstance(fc, Mapping) and isinstance(fc.get("arguments"), str):
            reader.add(fc["arguments"], role, untrusted, Location(i, None, 0, "function_call"))


def _read_completion(body: Mapping[str, Any], reader: _Reader) -> None:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        reader.add(prompt, "user", False, Location(0, None, 0, "prompt"))
    elif isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        for i, p in enumerate(prompt):
            reader.add(p, "user", False, Location(i, None, 0, "prompt"))
    else:
        raise RequestError(
            400,
            "'prompt' must be a string or a list of strings (the guard reads text prompts, "
            "not token ids)",
            param="prompt",
        )


def parse_request(
    endpoint: Endpoint, raw: bytes | str, untrusted: UntrustedPolicy
) -> ParsedRequest:
    """Read a request body; :class:`RequestError` (400) for anything that is not one."""
    import json

    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise RequestError(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    return parse_body(endpoint, body, untrusted)


def parse_body(
    endpoint: Endpoint, body: dict[str, Any], untrusted: UntrustedPolicy
) -> ParsedRequest:
    model = body.get("model", "")
    if not isinstance(model, str):
        raise RequestError(400, "'model' must be a string", param="model")
    reader = _Reader(untrusted)
    if endpoint == "chat":
        _read_chat(body, reader)
    else:
        _read_completion(body, reader)
    params = {k: v for k, v in body.items() if k not in ("messages", "prompt")}
    conv = Conversation(tuple(reader.segments), model=model, params=params)
    return ParsedRequest(endpoint, body, conv, tuple(reader.locations))


# --- deciding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """A detection and what the policy does with it. ``side`` is where it was found."""

    detection: Detection
    action: Action
    side: Literal["input", "output", "usage"] = "input"

    @property
    def name(self) -> str:
        return self.detection.detector

    def public(self) -> dict[str, Any]:
        return {**self.detection.public(), "action": self.action}


@dataclass(frozen=True)
class Decision:
    """What to do with a request: ``body`` is what goes upstream (redacted where asked);
    ``status`` the HTTP status of the refusal when ``action`` is ``block``."""

    action: Action
    findings: tuple[Finding, ...]
    body: dict[str, Any]
    status: int = 200
    reason: str = ""


def most_severe(findings: Sequence[Finding]) -> Action:
    action: Action = "allow"
    for f in findings:
        if ACTION_RANK[f.action] > ACTION_RANK[action]:
            action = f.action
    return action


class UsageObserver(Protocol):
    """What the engine needs of :class:`openward.guard.usage.UsageMonitor`."""

    async def observe(self, identity: str, conv: Conversation) -> list[Detection]: ...


REDACTED = "[redacted:{}]"
# Findings scoring under this are dropped unless the policy sets a threshold: every
# detector's score is in [0, 1] with 0.5 at its operating point (docs/guard-detectors.md).
DEFAULT_THRESHOLD = 0.5


class Engine:
    """The policy's detectors, ready to look at requests and responses."""

    def __init__(
        self,
        policy: Policy,
        detectors: Sequence[InputDetector | OutputDetector] | None = None,
        *,
        usage: UsageObserver | None = None,
    ) -> None:
        self.policy = policy
        self.usage = usage
        loaded = list(detectors) if detectors is not None else load_detectors(policy)
        self.input_detectors: list[InputDetector] = [
            cast("InputDetector", d) for d in loaded if callable(getattr(d, "detect", None))
        ]
        self.output_detectors: list[OutputDetector] = [
            cast("OutputDetector", d) for d in loaded if callable(getattr(d, "scanner", None))
        ]
        self._contexts: dict[str, DetectorContext] = {}

    def warm(self) -> None:
        """Run every detector once on a short conversation, so models and tables they load
        lazily (the classifier, the character LM, detect-secrets' plugins) are loaded before
        the first request rather than during it. Failures are left for requests to meet."""
        conv = Conversation((Segment(0, "user", "Hello, what is the capital of France?"),))
        ctx = self.context("anonymous")
        self.inspect_input(conv, ctx)
        guard = self.output_guard(conv, "anonymous")
        guard.feed("The capital of France is Paris.")
        guard.finish()

    def context(self, identity: str) -> DetectorContext:
        ctx = self._contexts.get(identity)
        if ctx is None:
            p = self.policy
            ctx = DetectorContext(
                identity=identity,
                system_prompts=tuple(p.system_prompts),
                canaries=tuple(p.canaries),
                thresholds={
                    n: r.threshold for n, r in p.detectors.items() if r.threshold is not None
                },
                options={n: r.options for n, r in p.detectors.items() if r.options},
            )
            if len(self._contexts) < 10_000:
                self._contexts[identity] = ctx
        return ctx

    def finding(self, d: Detection, side: Literal["input", "output", "usage"]) -> Finding | None:
        """The policy's verdict on one detection (None: below its threshold or allowed)."""
        rule = self.policy.detectors.get(d.detector)
        threshold = DEFAULT_THRESHOLD
        if rule is not None and rule.threshold is not None:
            threshold = rule.threshold
        if d.score < threshold:
            return None
        action = self.policy.action_for(d.detector, d.kind)
        if action == "allow":
            return None
        return Finding(d, action, side)

    def error_finding(
        self, name: str, exc: BaseException, side: Literal["input", "output", "usage"]
    ) -> Finding | None:
        log.warning("guard detector %s raised %s: %s", name, type(exc).__name__, exc)
        rule = self.policy.detectors.get(name)
        default = {
            "input": self.policy.on_error.input,
            "output": self.policy.on_error.output,
            "usage": self.policy.on_error.usage,
        }[side]
        action = rule.on_error if rule is not None and rule.on_error is not None else default
        if action == "allow":
            return None
        d = Detection(name, "error", 1.0, evidence={"error": type(exc).__name__})
        return Finding(d, action, side)

    def inspect_input(self, conv: Conversation, ctx: DetectorContext) -> list[Finding]:
        """Run every input detector (CPU only, synchronous)."""
        findings: list[Finding] = []
        for det in self.input_detectors:
            try:
                found = det.detect(conv, ctx)
            except Exception as exc:
                if (f := self.error_finding(det.name, exc, "input")) is not None:
                    findings.append(f)
                continue
            for d in found:
                if (f := self.finding(d, "input")) is not None:
                    findings.append(f)
        return findings

    async def check(self, request: ParsedRequest, identity: str) -> Decision:
        """Input detectors in a worker thread (numpy work releases the GIL, and the event
        loop keeps relaying other streams meanwhile) while the usage monitor talks to its
        store; then the decision."""
        import asyncio

        import anyio.to_thread

        ctx = self.context(identity)
        conv = request.conversation
        detect = anyio.to_thread.run_sync(self.inspect_input, conv, ctx)
        if self.usage is None:
            return self.decide(request, await detect)
        findings, usage = await asyncio.gather(detect, self._observe(identity, conv))
        return self.decide(request, findings + usage)

    async def _observe(self, identity: str, conv: Conversation) -> list[Finding]:
        assert self.usage is not None
        try:
            found = await self.usage.observe(identity, conv)
        except Exception as exc:  # (a store outage: on_error.usage decides)
            return [f] if (f := self.error_finding("burst", exc, "usage")) is not None else []
        return [f for d in found if (f := self.finding(d, "usage")) is not None]

    def decide(self, request: ParsedRequest, findings: Sequence[Finding]) -> Decision:
        """The most severe action wins; ``redact`` rewrites the located spans. A redaction
        that cannot be located (a finding about the whole conversation) blocks instead."""
        action = most_severe(findings)
        body = request.body
        reason = ""
        if action == "redact":
            spans: list[tuple[int, int, int, str]] = []
            for f in findings:
                if f.action != "redact":
                    continue
                seg = f.detection.segment
                if seg is None or not 0 <= seg < len(request.locations):
                    action = "block"
                    reason = f"{f.name}: a finding the guard cannot redact in place"
                    break
                text = request.conversation.segments[seg].text
                start = f.detection.start if f.detection.start is not None else 0
                end = f.detection.end if f.detection.end is not None else len(text)
                start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
                if end > start:
                    spans.append((seg, start, end, f.name))
            else:
                body = _redact_body(request, spans)
        if action == "block":
            blocking = [f for f in findings if f.action == "block"]
            status = 403 if any(f.side == "usage" for f in blocking) else 400
            names = sorted({f.name for f in blocking}) or sorted({f.name for f in findings})
            reason = reason or "the guard's policy blocks this request: " + ", ".join(names)
            return Decision("block", tuple(findings), body, status, reason)
        return Decision(action, tuple(findings), body)

    def output_guard(self, conv: Conversation, identity: str) -> OutputGuard:
        return OutputGuard(self, conv, self.context(identity))


def _redact_body(
    request: ParsedRequest, spans: Sequence[tuple[int, int, int, str]]
) -> dict[str, Any]:
    """A copy of the body with each (segment, start, end, detector) span replaced."""
    by_string: dict[tuple[Any, ...], list[tuple[int, int, str]]] = {}
    for seg, start, end, name in spans:
        loc = request.locations[seg]
        key = (loc.message, loc.part, loc.field, loc.call)
        by_string.setdefault(key, []).append((loc.offset + start, loc.offset + end, name))
    body = copy.deepcopy(request.body)
    for (message, part, fld, call), found in by_string.items():
        if fld == "prompt":
            prompt = body["prompt"]
            if isinstance(prompt, list):
                prompt[message] = _replace(prompt[message], found)
            else:
                body["prompt"] = _replace(prompt, found)
            continue
        msg = body["messages"][message]
        if fld == "arguments":
            fn = msg["tool_calls"][call]["function"]
            fn["arguments"] = _replace(fn["arguments"], found)
        elif fld == "function_call":
            msg["function_call"]["arguments"] = _replace(msg["function_call"]["arguments"], found)
        elif part is None:
            msg["content"] = _replace(msg["content"], found)
        else:
            msg["content"][part]["text"] = _replace(msg["content"][part]["text"], found)
    return body


def _replace(text: str, spans: Sequence[tuple[int, int, str]]) -> str:
    out: list[str] = []
    pos = 0
    for start, end, name in sorted(spans):
        if end <= pos:
            continue
        start = max(start, pos)
        out.append(text[pos:start])
        out.append(REDACTED.format(name))
        pos = end
    out.append(text[pos:])
    return "".join(out)


USAGE_NAMES = tuple(n for n, info in DETECTORS.items() if info.side == "usage")


def usage_monitor(policy: Policy, environ: Mapping[str, str] | None = None) -> UsageObserver | None:
    """The usage monitor over the store ``OPENWARD_GUARD_REDIS`` names (else in memory), or
    None when the policy allows every usage finding. The policy's ``usage:`` section is its
    configuration; a wrong key or value is a :class:`PolicyError` naming it."""
    wanted = False
    for name in USAGE_NAMES:
        rule = policy.detectors.get(name)
        if rule is not None and (
            rule.action != "allow" or any(a != "allow" for a in rule.kinds.values())
        ):
            wanted = True
    if not wanted:
        return None
    from pydantic import ValidationError

    from openward.guard.state import store_from_env
    from openward.guard.usage import UsageConfig, UsageMonitor

    try:
        config = UsageConfig.model_validate(policy.usage)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise PolicyError(f"usage.{where}: {err['msg']}") from None
    env = dict(environ) if environ is not None else None
    return UsageMonitor(store_from_env(env), config)


def load_detectors(policy: Policy) -> list[InputDetector | OutputDetector]:
    """One instance of each implementation the policy enables (usage detectors excepted:
    the proxy builds the usage monitor with its store)."""
    wanted: dict[tuple[str, str], list[str]] = {}
    for name, rule in policy.detectors.items():
        info = DETECTORS[name]
        if info.side == "usage":
            continue
        if rule.action == "allow" and all(a == "allow" for a in rule.kinds.values()):
            continue
        wanted.setdefault((info.module, info.cls), []).append(name)
    loaded: list[InputDetector | OutputDetector] = []
    for (module, cls), names in wanted.items():
        try:
            impl = getattr(importlib.import_module(module), cls)
        except (ImportError, AttributeError) as exc:
            raise PolicyError(
                f"detectors.{names[0]}: its implementation {module}.{cls} cannot be loaded "
                f"({exc}); set its action to allow or install openward[guard]"
            ) from None
        loaded.append(impl())
    return loaded


# --- the output side ---------------------------------------------------------------------------


@dataclass
class OutputStep:
    """What one piece of the model's text became: ``text`` may go to the client now;
    ``findings`` are new; ``blocked`` is the finding that ends the response, if any."""

    text: str
    findings: list[Finding] = field(default_factory=list)
    blocked: Finding | None = None


class OutputGuard:
    """The output detectors' scanners over one choice's text, and the hold-back.

    Text is released to the client only up to the point no scanner still holds back
    (:meth:`OutputScanner.pending`); a ``redact`` finding replaces its span before release,
    a ``block`` stops the release for good.
    """

    def __init__(self, engine: Engine, conv: Conversation, ctx: DetectorContext) -> None:
        self.engine = engine
        self.text = ""
        self.released = 0
        self.blocked: Finding | None = None
        self.findings: list[Finding] = []
        self._spans: list[tuple[int, int, str]] = []
        self._scanners: list[tuple[str, OutputScanner]] = []
        self._errors: list[Finding] = []
        for det in engine.output_detectors:
            try:
                self._scanners.append((det.name, det.scanner(conv, ctx)))
            except Exception as exc:
                if (f := engine.error_finding(det.name, exc, "output")) is not None:
                    self._errors.append(f)

    @property
    def active(self) -> bool:
        return bool(self._scanners) or bool(self._errors)

    def _take(self, found: list[Detection], step: OutputStep) -> None:
        for d in found:
            verdict = self.engine.finding(d, "output")
            if verdict is None:
                continue
            if verdict.action == "redact":
                if d.start is None or d.end is None:
                    verdict = Finding(d, "block", "output")  # nothing to cut out: withhold it all
                else:
                    self._spans.append((max(0, d.start), min(len(self.text), d.end), d.detector))
            self._record(verdict, step)

    def _record(self, f: Finding, step: OutputStep) -> None:
        self.findings.append(f)
        step.findings.append(f)
        if f.action == "block" and self.blocked is None:
            self.blocked = f
            step.blocked = f

    def _run(self, step: OutputStep, call: str, delta: str = "") -> None:
        alive: list[tuple[str, OutputScanner]] = []
        for name, scanner in self._scanners:
            try:
                found = scanner.feed(delta) if call == "feed" else scanner.finish()
            except Exception as exc:
                if (f := self.engine.error_finding(name, exc, "output")) is not None:
                    self._record(f, step)
                continue
            alive.append((name, scanner))
            self._take(found, step)
        self._scanners = alive

    def _stopped(self) -> bool:
        return self.blocked is not None

    def feed(self, delta: str) -> OutputStep:
        step = OutputStep("")
        for f in self._errors:
            self._record(f, step)
        self._errors = []
        if self._stopped():
            return step
        self.text += delta
        self._run(step, "feed", delta)
        if self._stopped():
            return step
        hold = 0
        for name, scanner in self._scanners:
            try:
                hold = max(hold, int(scanner.pending()))
            except Exception as exc:  # (on_error decides)
                if (err := self.engine.error_finding(name, exc, "output")) is not None:
                    self._record(err, step)
        if self._stopped():
            return step
        step.text = self._release(len(self.text) - hold)
        return step

    def finish(self) -> OutputStep:
        step = self.feed("")
        if self._stopped():
            return step
        self._run(step, "finish")
        if not self._stopped():
            step.text += self._release(len(self.text))
        return step

    def _release(self, upto: int) -> str:
        if upto <= self.released:
            return ""
        out: list[str] = []
        pos = self.released
        for start, end, name in sorted(self._spans):
            if end <= pos or start >= upto:
                continue
            start = max(start, pos)
            out.append(self.text[pos:start])
            out.append(REDACTED.format(name))
            pos = end
            upto = max(upto, end)
        if upto > pos:
            out.append(self.text[pos:upto])
        self.released = max(upto, pos)
        return "".join(out)

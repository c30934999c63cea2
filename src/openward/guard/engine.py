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
import dataclasses
import importlib
import logging
import re
from collections.abc import Awaitable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from openward.guard.pasted import pasted_spans
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
    "collapse",
    "parse_request",
    "strings",
]

if TYPE_CHECKING:
    from anyio import CapacityLimiter

log = logging.getLogger("openward.guard")


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

# The request shapes the guard reads: OpenAI chat and text completions, OpenAI responses,
# Anthropic-style messages, Ollama's chat and generate, llama.cpp's native completion and
# TGI's generate (the last four: ``prompt``/``inputs`` style bodies).
Endpoint = Literal[
    "chat", "completions", "responses", "messages", "ollama-chat", "ollama-generate", "generate"
]

# Fields some servers render into the prompt themselves (a caller-supplied chat template,
# its arguments, RAG documents, Ollama's template and token context, prompt embeddings): the
# guard cannot read what they make of them, so a request carrying one is refused unless the
# policy's ``allowed_fields`` names it.
PROMPT_SHAPING = (
    "chat_template",
    "chat_template_kwargs",
    "documents",
    "template",
    "context",
    "prompt_embeds",
)

# Keys whose string values are not text a model reads (ids, types, media, signatures).
_NOT_TEXT = frozenset(
    {
        "type", "role", "id", "tool_call_id", "tool_use_id", "call_id", "model", "image_url",
        "url", "media_type", "mime_type", "format_type", "detail", "signature", "cache_control",
        "status", "images", "file_data", "file_id", "index", "object", "input_audio",
        "video_url", "audio", "encoding_format",
    }
)  # fmt: skip
# C0 controls (but tab, newline, carriage return) and DEL read as spaces: the detectors see
# words a NUL or a form feed would split (one character for one, so offsets stay right).
_CONTROLS = {c: " " for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]}

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Piece:
    """Characters ``[start, start + length)`` of a segment are characters
    ``[offset, offset + length)`` of the string at ``path`` in the request body."""

    path: JsonPath
    offset: int
    start: int
    length: int


@dataclass(frozen=True)
class Location:
    """Where a segment's text sits in the request body (one piece, or several for a segment
    that joins a message's parts or consecutive user turns)."""

    pieces: tuple[Piece, ...]


@dataclass(frozen=True)
class ParsedRequest:
    """A request read: ``conversation`` (what every detector sees), ``joined`` (segments
    that join a message's text parts, and consecutive user turns, scored as well), and one
    location per segment of both, in that order."""

    endpoint: Endpoint
    body: dict[str, Any]
    conversation: Conversation
    locations: tuple[Location, ...]
    joined: tuple[Segment, ...] = ()

    @property
    def stream(self) -> bool:
        if self.endpoint in ("ollama-chat", "ollama-generate"):
            return self.body.get("stream") is not False  # Ollama streams unless told not to
        return self.body.get("stream") is True

    @property
    def segments(self) -> tuple[Segment, ...]:
        return self.conversation.segments + self.joined

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


def strings(
    value: object, path: JsonPath, skip: Collection[str] = ()
) -> list[tuple[JsonPath, str]]:
    """Every string a model may read in ``value`` (depth first, in order), with its path;
    keys of :data:`_NOT_TEXT` and ``skip`` are skipped (a ``data`` key only counts beside
    ``type: text``)."""
    out: list[tuple[JsonPath, str]] = []
    stack: list[tuple[JsonPath, object]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            out.append((where, item))
        elif isinstance(item, Mapping):
            children = []
            for k, v in item.items():
                if k in _NOT_TEXT or k in skip or (k == "data" and item.get("type") != "text"):
                    continue
                children.append(((*where, k), v))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([((*where, i), v) for i, v in enumerate(item)]))
    return out


class _Reader:
    """Turns one request body into segments and their locations."""

    def __init__(self, policy: UntrustedPolicy) -> None:
        self.policy = policy
        self.pairs = _untrusted_pattern(policy)
        self.segments: list[Segment] = []
        self.locations: list[Location] = []
        self.runs = True  # join consecutive user messages (not a batch of prompts)
        self.chars = 0
        self.max_chars: int | None = None  # refuse (413) as soon as the text is longer

    def _spans(self, text: str, role: str = "") -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        if self.policy.pasted and role == "user":
            spans += pasted_spans(text)
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

    def add(self, text: str, role: str, untrusted: bool, path: JsonPath, message: int,
            part: int = 0) -> None:  # fmt: skip
        if not text:
            return
        self.chars += len(text)
        if self.max_chars is not None and self.chars > self.max_chars:
            raise RequestError(
                413,
                f"the request's text is longer than the guard's limit of {self.max_chars} "
                "characters",
                code="request_too_large",
            )
        text = text.translate(_CONTROLS)
        pieces: list[tuple[int, int, bool]] = []
        pasted = self.policy.pasted and role == "user"
        if untrusted or (not self.pairs and not self.policy.quoted and not pasted):
            pieces = [(0, len(text), untrusted)]
        else:
            pos = 0
            for s, e in self._spans(text, role):
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
            self.segments.append(Segment(message, role, piece, flag, part))
            self.locations.append(Location((Piece(path, s, 0, e - s),)))

    def add_all(self, value: object, path: JsonPath, role: str, untrusted: bool, message: int,
                part: int = 0) -> None:  # fmt: skip
        for where, text in strings(value, path):
            if where[-1] == "name":  # an identifier reads as words: Ignore_all_previous...
                text = text.replace("_", " ")
            self.add(text, role, untrusted, where, message, part)

    def joined(self) -> tuple[list[Segment], list[Location]]:
        """Segments joining the text of one message (its parts, its other fields, the pieces
        either side of an untrusted span) and of each run of consecutive user messages, so
        an instruction split across them is scored whole. Only same-trust pieces are joined;
        a join of one piece is left out."""
        order: dict[int, list[int]] = {}  # message -> its segments
        for i, seg in enumerate(self.segments):
            if seg.message >= 0:
                order.setdefault(seg.message, []).append(i)
        runs: list[list[int]] = []
        run: list[int] = []
        for m in sorted(order) if self.runs else ():
            if self.segments[order[m][0]].role != "user":
                run = []
                continue
            if run and m != run[-1] + 1:
                run = []
            if not run:
                runs.append(run)
            run.append(m)
        groups: list[list[int]] = []
        in_runs: set[int] = set()
        for r in runs:
            trusted = [i for m in r for i in order[m] if not self.segments[i].untrusted]
            if len(r) > 1 and len(trusted) > 1:
                groups.append(trusted)
                in_runs.update(r)
        for m, indices in order.items():
            for flag in () if m in in_runs else (False, True):
                same = [i for i in indices if self.segments[i].untrusted == flag]
                if len(same) > 1:
                    groups.append(same)
        segments: list[Segment] = []
        locations: list[Location] = []
        for group in groups:
            text = ""
            pieces: list[Piece] = []
            for i in group:
                seg = self.segments[i]
                # a space between pieces unless one side already has one: "ignore all" +
                # "previous" reads as the words a model would see
                if text and not text[-1].isspace() and not seg.text[0].isspace():
                    text += " "
                for p in self.locations[i].pieces:
                    pieces.append(Piece(p.path, p.offset, len(text) + p.start, p.length))
                text += seg.text
            first = self.segments[group[0]]
            untrusted = all(self.segments[i].untrusted for i in group)
            segments.append(Segment(first.message, first.role, text, untrusted))
            locations.append(Location(tuple(pieces)))
        return segments, locations


def _check_part(part: object, where: str) -> None:
    if not isinstance(part, Mapping):
        raise RequestError(400, f"{where} must be an object", param=where)
    kind = part.get("type")
    text_part = kind in ("text", "input_text", "output_text") or kind is None
    if text_part and "text" in part and not isinstance(part.get("text"), str):
        raise RequestError(400, f"{where}.text must be a string", param=where)


_TOOL_PARTS = frozenset({"tool_result", "function_call_output", "mcp_tool_result"})
_ASSISTANT_ITEMS = frozenset({"function_call", "reasoning", "tool_use", "mcp_call"})


def _read_message(msg: Mapping[str, Any], i: int, path: JsonPath, reader: _Reader,
                  tool_names: dict[str, str], strict: bool) -> None:  # fmt: skip
    """One message (or Responses input item): its content first (each part on its own, a
    part of a tool result untrusted), then every other field that carries text (``name``,
    ``reasoning_content``, ``thinking``, tool calls' names and arguments...)."""
    where = f"messages[{i}]"
    kind = msg.get("type")
    role = msg.get("role")
    if role is None and isinstance(kind, str):
        role = (
            "tool" if kind in _TOOL_PARTS else "assistant" if kind in _ASSISTANT_ITEMS else "user"
        )
    if not isinstance(role, str):
        raise RequestError(400, f"{where}.role must be a string", param=f"{where}.role")
    name = msg.get("name")
    if role == "tool" and isinstance(msg.get("tool_call_id"), str):
        name = tool_names.get(msg["tool_call_id"], name)
    untrusted = role in reader.policy.roles or (
        isinstance(name, str) and name in reader.policy.tools
    )
    tool_untrusted = "tool" in reader.policy.roles
    content = msg.get("content")
    if isinstance(content, str):
        reader.add(content, role, untrusted, (*path, "content"), i)
    elif isinstance(content, list):
        for j, part in enumerate(content):
            if strict:
                _check_part(part, f"{where}.content[{j}]")
            if isinstance(part, Mapping) and part.get("type") in _TOOL_PARTS:
                reader.add_all(part, (*path, "content", j), "tool", tool_untrusted, i, j)
            else:
                reader.add_all(part, (*path, "content", j), role, untrusted, i, j)
    elif content is not None and strict:
        raise RequestError(
            400, f"{where}.content must be a string or a list of parts", param=f"{where}"
        )
    elif content is not None:
        reader.add_all(content, (*path, "content"), role, untrusted, i)
    calls = msg.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            fn = call.get("function") if isinstance(call, Mapping) else None
            if (
                isinstance(fn, Mapping)
                and isinstance(call.get("id"), str)
                and isinstance(fn.get("name"), str)
            ):
                tool_names[call["id"]] = fn["name"]
    if kind in _TOOL_PARTS and not untrusted:
        role, untrusted = "tool", tool_untrusted
    for key, value in msg.items():
        if key != "content" and key not in _NOT_TEXT:
            reader.add_all(value, (*path, key), role, untrusted, i)


def _read_messages(body: Mapping[str, Any], key: str, reader: _Reader, strict: bool) -> None:
    messages = body.get(key)
    if not isinstance(messages, list):
        raise RequestError(400, f"'{key}' must be a list of messages", param=key)
    tool_names: dict[str, str] = {}  # tool_call_id -> the function it called
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping):
            raise RequestError(400, f"messages[{i}] must be an object", param=f"messages[{i}]")
        _read_message(msg, i, (key, i), reader, tool_names, strict)


def _read_prompt(body: Mapping[str, Any], key: str, reader: _Reader, message: int = 0) -> None:
    prompt = body.get(key)
    if isinstance(prompt, str):
        reader.add(prompt, "user", False, (key,), message)
    elif isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        for i, p in enumerate(prompt):
            reader.add(p, "user", False, (key, i), message + i)
    else:
        raise RequestError(
            400,
            f"'{key}' must be a string or a list of strings (the guard reads text prompts, "
            "not token ids)",
            param=key,
        )


def _read_tools(body: Mapping[str, Any], reader: _Reader) -> None:
    """Tool definitions (names, descriptions, parameter schemas: the model reads them all, and
    whoever wrote a tool may not be the caller: tool poisoning) as untrusted ``tool`` text;
    response schemas (``response_format``, ``text.format``, Ollama's ``format``) as the
    caller's own text."""
    for key in ("tools", "functions"):
        if key in body:
            reader.add_all(body[key], (key,), "tool", True, -1)
    for key in ("response_format", "format", "text"):
        if key in body and not isinstance(body[key], str):
            reader.add_all(body[key], (key,), "user", False, -1)


def _read_shape(endpoint: Endpoint, body: Mapping[str, Any], reader: _Reader) -> None:
    _read_tools(body, reader)
    if endpoint == "chat":
        _read_messages(body, "messages", reader, strict=True)
    elif endpoint == "ollama-chat":
        _read_messages(body, "messages", reader, strict=False)
    elif endpoint == "messages":
        if "system" in body:
            reader.add_all(body["system"], ("system",), "system", False, -1)
        _read_messages(body, "messages", reader, strict=False)
    elif endpoint == "responses":
        if "instructions" in body:
            reader.add_all(body["instructions"], ("instructions",), "system", False, -1)
        if "prompt" in body:  # a stored prompt's variables
            reader.add_all(body["prompt"], ("prompt",), "user", False, -1)
        given = body.get("input")
        if isinstance(given, str):
            reader.add(given, "user", False, ("input",), 0)
        else:
            _read_messages(body, "input", reader, strict=False)
    elif endpoint == "completions":
        reader.runs = False
        _read_prompt(body, "prompt", reader)
        if isinstance(body.get("suffix"), str):
            reader.add(body["suffix"], "user", False, ("suffix",), 0)
    else:  # ollama-generate, generate (llama.cpp /completion and /infill, TGI /generate)
        reader.runs = False
        if "system" in body:
            reader.add_all(body["system"], ("system",), "system", False, -1)
        key = "inputs" if "inputs" in body and "prompt" not in body else "prompt"
        if key in body or endpoint == "ollama-generate":
            _read_prompt({key: body.get(key, "")}, key, reader)
        for extra in ("suffix", "input_prefix", "input_suffix", "input_extra"):
            if extra in body:
                reader.add_all(body[extra], (extra,), "user", False, 0)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise RequestError(400, f"the request body repeats the key {key!r}", param=key)
            seen.add(key)
    return out


def load_json(raw: bytes | str) -> dict[str, Any]:
    """A request body as a JSON object; 400 for invalid JSON, another type, or a key given
    twice in one object (parsers disagree about which one counts, so the guard might read
    one and the server run the other)."""
    import json

    try:
        body = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):
        raise RequestError(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    return body


def parse_request(
    endpoint: Endpoint,
    raw: bytes | str,
    untrusted: UntrustedPolicy,
    allowed_fields: Collection[str] = (),
) -> ParsedRequest:
    """Read a request body; :class:`RequestError` (400) for anything that is not one."""
    return parse_body(endpoint, load_json(raw), untrusted, allowed_fields)


def parse_body(
    endpoint: Endpoint,
    body: dict[str, Any],
    untrusted: UntrustedPolicy,
    allowed_fields: Collection[str] = (),
    max_chars: int | None = None,
) -> ParsedRequest:
    """Read a parsed body (``max_chars``: refuse longer text with 413 while reading)."""
    model = body.get("model", "")
    if not isinstance(model, str):
        raise RequestError(400, "'model' must be a string", param="model")
    for key in PROMPT_SHAPING:
        if key in body and key not in allowed_fields:
            raise RequestError(
                400,
                f"the guard refuses '{key}': the server would build prompt text from it that "
                "the guard cannot read (a policy may allow it in allowed_fields)",
                param=key,
                code="unsupported_field",
            )
    reader = _Reader(untrusted)
    reader.max_chars = max_chars
    _read_shape(endpoint, body, reader)
    joined, joined_at = reader.joined()
    skip = ("messages", "prompt", "input", "tools", "functions", "system", "instructions")
    params = {k: v for k, v in body.items() if k not in skip}
    conv = Conversation(tuple(reader.segments), model=model, params=params)
    return ParsedRequest(
        endpoint, body, conv, tuple(reader.locations) + tuple(joined_at), tuple(joined)
    )


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


def collapse(findings: Sequence[Finding]) -> list[Finding]:
    """One finding per side, detector, kind and action, in order of first appearance: the
    highest-scoring of its group (its location and evidence), with ``findings`` (how many were
    merged) and ``segments`` (how many distinct request segments they were in) added to the
    evidence when it stands for more than one. What the event log, the metrics, a refusal's
    ``detections`` and ``openward guard check`` report: a many-shot request whose 22 fabricated
    turns each read as a harmful ask is one ``harmful-request``/``plain`` event, not 22. (The
    decision itself, redaction spans included, uses every finding.)"""
    groups: dict[tuple[str, str, str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.side, f.name, f.detection.kind, f.action), []).append(f)
    out: list[Finding] = []
    for group in groups.values():
        best = max(group, key=lambda f: f.detection.score)  # the first of equal scores
        if len(group) > 1:
            segments = {f.detection.segment for f in group if f.detection.segment is not None}
            evidence = {**best.detection.evidence, "findings": len(group)}
            if segments:
                evidence["segments"] = len(segments)
            best = Finding(dataclasses.replace(best.detection, evidence=evidence), best.action,
                           best.side)  # fmt: skip
        out.append(best)
    return out


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
# Output detectors slow enough (an embedding model per answer) to run after the answer was
# delivered when the policy only flags their findings (and off the event loop when not).
DEFERRABLE = frozenset({"harmful-compliance"})
# Findings scoring under this are dropped unless the policy sets a threshold: every
# detector's score is in [0, 1] with 0.5 at its operating point (docs/guard-detectors.md).
DEFAULT_THRESHOLD = 0.5


# Requests up to this many characters have their input detectors run on the event loop (see
# Engine.check): about 3 ms for a 400-character prose prompt on the benchmark machine; the
# slowest 1 000-character texts found (letters spaced out, base64, one repeated letter) took
# 30-45 ms, which every other stream then waits. Longer requests go to the worker threads.
INLINE_CHARS = 1000


async def _done(value: list[Finding]) -> list[Finding]:
    return value


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
        outputs = [
            cast("OutputDetector", d) for d in loaded if callable(getattr(d, "scanner", None))
        ]
        # slow detectors whose findings can only flag run after the answer left (no latency)
        self.deferred_detectors: list[OutputDetector] = [
            d for d in outputs if d.name in DEFERRABLE and self._only_flags(d.name)
        ]
        self.output_detectors: list[OutputDetector] = [
            d for d in outputs if d not in self.deferred_detectors
        ]
        # whether an inline output detector may run a model at the end of an answer (the
        # proxy then ends answers in a worker thread)
        self.slow_output = any(d.name in DEFERRABLE for d in self.output_detectors)
        self._contexts: dict[str, DetectorContext] = {}

    def _only_flags(self, name: str) -> bool:
        rule = self.policy.detectors.get(name)
        if rule is None:
            return True
        actions = {rule.action, *rule.kinds.values()}
        if rule.on_error is not None:
            actions.add(rule.on_error)
        else:
            actions.add(self.policy.on_error.output)
        return actions <= {"allow", "flag"}

    def run_deferred(
        self, conv: Conversation, identity: str, texts: Sequence[str]
    ) -> list[Finding]:
        """The deferred output detectors over each of an answer's texts (after it was sent:
        their findings can only be recorded)."""
        ctx = self.context(identity)
        findings: list[Finding] = []
        for det in self.deferred_detectors:
            for text in texts:
                if not text.strip():
                    continue
                try:
                    scanner = det.scanner(conv, ctx)
                    found = [*scanner.feed(text), *scanner.finish()]
                except Exception as exc:
                    if (f := self.error_finding(det.name, exc, "output")) is not None:
                        findings.append(f)
                    continue
                findings += [f for d in found if (f := self.finding(d, "output")) is not None]
        return findings

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
        self.run_deferred(conv, "anonymous", ["The capital of France is Paris."])
        for det in [*self.output_detectors, *self.deferred_detectors]:
            warm = getattr(det, "warm", None)  # a model only some answers reach (a prefilter)
            if callable(warm):
                try:
                    warm()
                except Exception as exc:
                    log.warning("guard detector %s did not warm up: %s", det.name, exc)

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

    def inspect_request(self, request: ParsedRequest, ctx: DetectorContext) -> list[Finding]:
        """Every input detector over the conversation, then over the joined segments (a
        message's parts, consecutive user turns) as a conversation of their own; a joined
        finding of a detector that already found something is left out."""
        findings = self.inspect_input(request.conversation, ctx)
        if not request.joined:
            return findings
        offset = len(request.conversation.segments)
        joined = Conversation(
            request.joined, model=request.conversation.model, params=request.conversation.params
        )
        seen = {f.name for f in findings}
        for f in self.inspect_input(joined, ctx):
            if f.name in seen:
                continue
            d = f.detection
            if d.segment is not None:
                d = dataclasses.replace(d, segment=d.segment + offset)
            findings.append(Finding(d, f.action, f.side))
        return findings

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

    async def check(
        self, request: ParsedRequest, identity: str, limiter: CapacityLimiter | None = None
    ) -> Decision:
        """Input detectors while the usage monitor talks to its store; then the decision.

        A request of at most :data:`INLINE_CHARS` characters is read right here, on the event
        loop (a few milliseconds: the hand-off to a worker thread and back cost more CPU than
        the GIL-bound detectors gain there); a longer one in a worker thread of ``limiter``
        (the event loop keeps relaying other streams meanwhile)."""
        import asyncio

        import anyio.to_thread

        ctx = self.context(identity)
        conv = request.conversation
        detect: Awaitable[list[Finding]]
        if request.chars <= INLINE_CHARS:
            detect = _done(self.inspect_request(request, ctx))
        else:
            detect = anyio.to_thread.run_sync(self.inspect_request, request, ctx, limiter=limiter)
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
                text = request.segments[seg].text
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
    """A copy of the body with each (segment, start, end, detector) span replaced, in every
    string of the body the span's characters came from."""
    by_path: dict[JsonPath, list[tuple[int, int, str]]] = {}
    for seg, start, end, name in spans:
        for p in request.locations[seg].pieces:
            s, e = max(start, p.start), min(end, p.start + p.length)
            if e > s:
                by_path.setdefault(p.path, []).append(
                    (p.offset + s - p.start, p.offset + e - p.start, name)
                )
    body = copy.deepcopy(request.body)
    for path, found in by_path.items():
        holder: Any = body
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = _replace(holder[path[-1]], found)
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

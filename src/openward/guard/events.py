"""The guard's event log: one JSON object per line per detection, and its summary.

An event says who (``identity``), what (``detector``, ``kind``, ``score``, ``evidence``), what
the guard did (``action``), where (``route``, ``model``) and when (``time``, RFC 3339 UTC),
with the ``request_id`` the proxy also sends upstream and returns to the client::

    {"time": "2026-12-07T05:30:00.123Z", "request_id": "...", "identity": "team-a",
     "detector": "model-extraction", "kind": "volume-diversity", "score": 0.61,
     "action": "flag", "route": "/v1/chat/completions", "model": "llama-3-8b",
     "evidence": {"requests": 1300, "distinct_prompts": 1291, ...},
     "prompt_sha256": "9f86d081884c7d65..."}

Prompts and outputs never go in. ``prompts`` chooses what is kept of the prompt: ``hash`` its
SHA-256 (to correlate with a client's own records), ``redact`` nothing of it, ``none`` (or
``omit``) nothing of it and no text-derived evidence at all (only numbers and booleans).
Whatever the mode, evidence strings are scrubbed before they are written: a string that quotes
the request or the response (any 12 characters of it), contains one of the configured
sensitive strings (system prompts, canaries), looks like a credential, or is longer than 200
characters is replaced by a marker. Detectors should not put such things in evidence; this is
the second line.

Writing: each line is one ``write(2)`` on a descriptor opened with ``O_APPEND``, under a lock:
lines from threads of one process never interleave, and appends from several processes to a
local file do not either. The log follows its path: when the file is renamed or removed
(logrotate's ``create`` mode) the next event opens a new one; ``copytruncate`` works as well.
Rotation itself is left to logrotate, or give each process a path of its own.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from openward.guard.types import Detection

__all__ = ["EventLog", "PromptMode", "parse_since", "render_summary", "scrub", "summarise"]

PromptMode = Literal["hash", "redact", "none", "omit"]

FIELDS = (
    "time",
    "request_id",
    "identity",
    "detector",
    "kind",
    "score",
    "action",
    "route",
    "model",
    "side",
    "evidence",
    "prompt_sha256",
)
_REQUIRED = ("time", "identity", "detector", "action")
_QUOTE_CHARS = 12  # evidence quoting this many characters of the request is the request
_MAX_STRING = 200
_SECRET_SHAPES = re.compile(
    r"AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|\bsk-[A-Za-z0-9_-]{16,}"  # OpenAI-style API keys
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}"  # GitHub tokens
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"  # Slack tokens
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWT
    r"|\b[Bb]earer\s+\S{12,}"
)
# Any long run of letters and digits, as keys and tokens are (not for request ids: UUIDs)
_LONG_TOKEN = re.compile(
    r"(?<![A-Za-z0-9+/_=-])(?=[A-Za-z0-9+/_=-]*[0-9])(?=[A-Za-z0-9+/_=-]*[A-Za-z])"
    r"[A-Za-z0-9+/_=-]{32,}"
)
_HEX = re.compile(r"^[0-9a-f]{8,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Scrubber:
    def __init__(self, texts: Sequence[str], sensitive: Sequence[str]) -> None:
        self.texts = [t for t in texts if len(t) >= _QUOTE_CHARS]
        self.sensitive = [s for s in sensitive if len(s) >= 4]

    def quotes(self, value: str) -> bool:
        if not self.texts or len(value) < _QUOTE_CHARS:
            return False
        windows = {value[i : i + _QUOTE_CHARS] for i in range(len(value) - _QUOTE_CHARS + 1)}
        return any(w in text for text in self.texts for w in windows)

    def string(self, value: str, quotes: bool = True, tokens: bool = True) -> str:
        if len(value) > _MAX_STRING:
            return f"[dropped: {len(value)} characters]"
        if any(s in value for s in self.sensitive):
            return "[redacted: sensitive]"
        if _SECRET_SHAPES.search(value) or (tokens and _LONG_TOKEN.search(value)):
            return "[redacted: credential-shaped]"
        if quotes and self.quotes(value):
            return "[redacted: quotes the request or response]"
        return value

    def value(self, value: Any, strings: bool, depth: int = 0) -> Any:
        if value is None or isinstance(value, bool | int):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if depth > 4:
            return "[dropped: nested too deep]"
        if isinstance(value, str):
            return self.string(value) if strings else None
        if isinstance(value, Mapping):
            out = {}
            for k, v in list(value.items())[:50]:
                key = self.string(str(k))
                if (item := self.value(v, strings, depth + 1)) is not None or v is None:
                    out[key] = item
            return out
        if isinstance(value, list | tuple | set | frozenset):
            items = [self.value(v, strings, depth + 1) for v in list(value)[:50]]
            return [v for v in items if v is not None]
        return self.string(str(value)) if strings else None


def scrub(
    evidence: Mapping[str, Any],
    texts: Sequence[str] = (),
    sensitive: Sequence[str] = (),
    strings: bool = True,
) -> dict[str, Any]:
    """``evidence`` as it may be written: numbers and booleans as they are; strings replaced
    by a marker when they quote any of ``texts``, contain any of ``sensitive``, look like a
    credential or are long (and dropped when ``strings`` is false); at most 50 items a level,
    five levels deep."""
    out = _Scrubber(texts, sensitive).value(dict(evidence), strings)
    return out if isinstance(out, dict) else {}


class EventLog:
    """Appends events to ``path`` (None: a log that writes nothing), safe to share between
    threads and processes. ``sensitive`` strings (the deployment's system prompts, canary
    tokens) never appear in an event."""

    def __init__(
        self,
        path: Path | str | None,
        prompts: PromptMode = "hash",
        sensitive: Iterable[str] = (),
    ) -> None:
        if prompts not in ("hash", "redact", "none", "omit"):
            raise ValueError(f"prompts must be hash, redact or none, not {prompts!r}")
        self.path = None if path is None else Path(path)
        self.prompts: PromptMode = "none" if prompts == "omit" else prompts
        self.sensitive = tuple(sensitive)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._ino: tuple[int, int] | None = None

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _descriptor(self) -> int:
        assert self.path is not None
        if self._fd is not None:
            try:
                st = os.stat(self.path)
                if (st.st_dev, st.st_ino) == self._ino:
                    return self._fd
            except FileNotFoundError:
                pass  # removed: fall through, close it and open the path anew
            os.close(self._fd)  # renamed or removed (rotated): follow the path
            self._fd = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.path, flags, 0o600)
        st = os.fstat(fd)
        self._fd, self._ino = fd, (st.st_dev, st.st_ino)
        return fd

    def event(self, event: Mapping[str, Any], texts: Sequence[str] = ()) -> dict[str, Any]:
        """The line :meth:`write` writes for ``event``: the known fields in order, other
        scalar fields after them, strings scrubbed, the prompt hash only in ``hash`` mode."""
        scrubber = _Scrubber(texts, self.sensitive)
        text_evidence = self.prompts != "none"
        out: dict[str, Any] = {}
        for name in FIELDS:
            value = event.get(name)
            if name == "evidence":
                if isinstance(value, Mapping) and value:
                    out[name] = scrub(value, texts, self.sensitive, text_evidence)
            elif name == "prompt_sha256":
                if self.prompts == "hash" and isinstance(value, str) and _HEX.match(value):
                    out[name] = value
            elif name == "score":
                if isinstance(value, int | float) and math.isfinite(value):
                    out[name] = round(float(value), 4)
            elif isinstance(value, str):
                # names (identities, routes, models, request ids), not content: they may well
                # occur in a prompt, and be long and hyphenated; known credential shapes and
                # the sensitive strings are still kept out
                out[name] = scrubber.string(value, quotes=False, tokens=False)
            elif name in event:
                out[name] = scrubber.value(value, text_evidence)
        for name, value in event.items():
            if name in FIELDS or not isinstance(value, str | int | float | bool):
                continue
            if isinstance(value, str) and not text_evidence:
                continue
            out[scrubber.string(str(name)[:64])] = scrubber.value(value, True)
        out.setdefault("time", _rfc3339(datetime.now(UTC)))
        return out

    def write(self, event: Mapping[str, Any], texts: Sequence[str] = ()) -> None:
        """Append one event, as :meth:`event` makes it. ``texts`` (the request's and the
        response's text) are only read, to make sure no evidence quotes them; they are never
        written."""
        self._append(self.event(event, texts))

    def _append(self, line: Mapping[str, Any]) -> None:
        if self.path is None:
            return
        data = (json.dumps(line, ensure_ascii=True) + "\n").encode()
        with self._lock:
            fd = self._descriptor()
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]

    def record(
        self,
        detection: Detection,
        *,
        request_id: str,
        identity: str,
        action: str,
        route: str = "",
        model: str = "",
        prompt: str | None = None,
        texts: Sequence[str] = (),
        when: datetime | None = None,
    ) -> dict[str, Any]:
        """Write the event of one detection and return it as written. ``prompt`` (the request's
        text) is hashed in ``hash`` mode and otherwise only used, like ``texts``, to keep it
        out of the evidence."""
        event: dict[str, Any] = {
            "time": _rfc3339(when or datetime.now(UTC)),
            "request_id": request_id,
            "identity": identity,
            "detector": detection.detector,
            "kind": detection.kind,
            "score": detection.score,
            "action": action,
            "route": route,
            "model": model,
            "evidence": dict(detection.evidence),
        }
        if prompt is not None and self.prompts == "hash":
            event["prompt_sha256"] = hashlib.sha256(prompt.encode()).hexdigest()
        line = self.event(event, [*texts, prompt] if prompt is not None else list(texts))
        self._append(line)
        return line


# ---------------------------------------------------------------------------------------------
# Reading


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(since: datetime | str, now: datetime | None = None) -> datetime:
    """An RFC 3339 time (``2026-12-07T05:00:00Z``; a date alone is midnight UTC) or a
    duration back from now (``90s``, ``30m``, ``2h``, ``7d``, ``1w``) as an aware datetime."""
    if isinstance(since, datetime):
        return since if since.tzinfo else since.replace(tzinfo=UTC)
    text = since.strip()
    if m := _DURATION.match(text):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--since {since!r}: give an RFC 3339 time (2026-12-07T05:00:00Z) "
            "or a duration (30m, 2h, 7d)"
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _parse_event(raw: bytes) -> tuple[dict[str, Any], datetime] | None:
    try:
        event = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(event, dict) or not all(isinstance(event.get(k), str) for k in _REQUIRED):
        return None
    try:
        t = datetime.fromisoformat(event["time"])
    except ValueError:
        return None
    return event, (t if t.tzinfo else t.replace(tzinfo=UTC))


def summarise(
    path: Path | str,
    since: datetime | str | None = None,
    identity: str | None = None,
    top: int = 10,
) -> dict[str, Any]:
    """Counts over an event log: events by detector, by kind, by action and by identity, the
    ``top`` identities, and the time range, over events at or after ``since`` and of
    ``identity`` when given. Lines that are not events are counted as ``malformed`` and
    skipped. Raises ``FileNotFoundError`` when ``path`` does not exist."""
    start = None if since is None else parse_since(since)
    events = malformed = 0
    first: datetime | None = None
    last: datetime | None = None
    by_detector: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    by_action: Counter[str] = Counter()
    by_identity: Counter[str] = Counter()
    identity_detectors: dict[str, Counter[str]] = {}
    with open(path, "rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            parsed = _parse_event(raw)
            if parsed is None:
                malformed += 1
                continue
            event, t = parsed
            if (start is not None and t < start) or (
                identity is not None and event["identity"] != identity
            ):
                continue
            events += 1
            first = t if first is None or t < first else first
            last = t if last is None or t > last else last
            detector, who = event["detector"], event["identity"]
            kind = event.get("kind")
            by_detector[detector] += 1
            by_kind[f"{detector}/{kind}" if isinstance(kind, str) and kind else detector] += 1
            by_action[event["action"]] += 1
            by_identity[who] += 1
            identity_detectors.setdefault(who, Counter())[detector] += 1
    return {
        "path": str(path),
        "since": None if start is None else _rfc3339(start),
        "identity": identity,
        "events": events,
        "malformed": malformed,
        "first": None if first is None else _rfc3339(first),
        "last": None if last is None else _rfc3339(last),
        "by_detector": dict(by_detector.most_common()),
        "by_kind": dict(by_kind.most_common()),
        "by_action": dict(by_action.most_common()),
        "by_identity": dict(by_identity.most_common()),
        "top_identities": [
            {"identity": who, "events": n, "detectors": dict(identity_detectors[who])}
            for who, n in by_identity.most_common(top)
        ],
    }


def _safe(text: Any, width: int = 0) -> str:
    """Text from a log file, made harmless for a terminal (no control or bidi characters)."""
    s = _CONTROL.sub("?", str(text))
    if width and len(s) > width:
        s = s[: width - 1] + "…"
    return s


def render_summary(summary: Mapping[str, Any]) -> str:
    """The text ``openward guard events`` prints for a :func:`summarise` result."""
    lines = []
    head = f"{summary['events']} event(s) in {_safe(summary['path'])}"
    if summary.get("first"):
        head += f", {summary['first']} to {summary['last']}"
    filters = []
    if summary.get("since"):
        filters.append(f"since {summary['since']}")
    if summary.get("identity") is not None:
        filters.append(f"identity {_safe(summary['identity'], 40)}")
    if filters:
        head += f" ({', '.join(filters)})"
    lines.append(head)
    if summary.get("malformed"):
        lines.append(f"{summary['malformed']} malformed line(s) skipped")
    if not summary["events"]:
        return "\n".join(lines) + "\n"

    def table(title: str, counts: Mapping[str, int]) -> None:
        lines.append("")
        lines.append(title)
        width = min(48, max(len(_safe(k)) for k in counts))
        for name, n in counts.items():
            lines.append(f"  {_safe(name, 48):<{width}}  {n:>8}")

    table("By detector", summary["by_detector"])
    table("By kind", summary["by_kind"])
    table("By action", summary["by_action"])
    lines.append("")
    lines.append("Top identities")
    tops = summary["top_identities"]
    width = min(40, max(len(_safe(t["identity"])) for t in tops))
    for t in tops:
        detectors = ", ".join(f"{_safe(d, 32)} {n}" for d, n in t["detectors"].items())
        lines.append(f"  {_safe(t['identity'], 40):<{width}}  {t['events']:>8}  {detectors}")
    return "\n".join(lines) + "\n"

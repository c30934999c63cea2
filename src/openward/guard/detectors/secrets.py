"""Credentials in the model's output, by detect-secrets' own detectors, as the text streams.

The plugins are detect-secrets' classes, instantiated here with their default settings and
called through ``analyze_string`` (no global settings, no filters, no verification, no
network): every ``RegexBasedDetector`` it ships (AWS, Azure, GitHub, GitLab, Slack, Stripe,
OpenAI, SendGrid, Twilio, npm, PyPI, Discord, Telegram, Mailchimp, JWT, basic-auth URLs,
Artifactory, Cloudant, IBM, Softlayer, Square, private-key headers) except ``IPPublicDetector``
(a public IP address in an answer is not a secret), plus ``KeywordDetector`` and the two
high-entropy string plugins, tuned for prose:

- ``Base64HighEntropyString`` (limit 4.5, quoted strings only, as in a file scan) counts only
  strings of 20+ characters mixing upper case, lower case and digits; a hex string or a word
  does not;
- ``HexHighEntropyString`` counts only when the line also names a key, token, secret or
  password (a SHA-256 in an explanation is not a secret);
- ``KeywordDetector`` (``password = "..."``) skips placeholders (``your-api-key``, ``xxx``,
  ``<token>``, ``changeme``, ``...``).

A private key is its ``BEGIN ... PRIVATE KEY`` line up to its ``END`` line: 0.95 when 64 or more
base64 characters lie between them, 0.3 for a header alone (an answer about PEM files).

Scores: provider-specific formats 0.95 (JWT 0.6), keyword assignments 0.7, high-entropy strings
0.5. Lines are scanned once they end; :meth:`pending` holds back the unfinished line (and a
private key block until its END line), up to :data:`MAX_HOLD` characters, after which the line
is cut at its next whitespace (the same place whatever the deltas were).

Evidence: the detect-secrets type, the value's length and a 12-hex-digit SHA-256: never the value.
"""

from __future__ import annotations

import re
from typing import Any, Final

from openward.guard.detectors._common import short_hash
from openward.guard.types import Conversation, Detection, DetectorContext

__all__ = ["SecretsDetector", "SecretsScanner", "find_secrets"]

NAME: Final = "secrets"
MAX_HOLD: Final = 2048
MAX_KEY: Final = 8192  # a private key block without its END line ends here (RSA-4096: 3.3 kB)
_WS = re.compile(r"\s")

_PLACEHOLDER = re.compile(
    r"your|example|sample|dummy|placeholder|changeme|change_me|xxx|\*\*\*|\.\.\.|<|>|\{|\}|"
    r"^(?:password|secret|token|api[_-]?key|test|none|null|true|false)$|redacted",
    re.I,
)
_FAKE = re.compile(r"example|(.)\1{5,}|x{4,}|0123456|123456789|abcdefgh", re.I)


def _placeholder(value: str) -> bool:
    """Documentation values: AKIAIOSFODNN7EXAMPLE, AKIAXXXXXXXXXXXXXXXX, sk_live_000000..."""
    return bool(_FAKE.search(value))


_KEY_WORD = re.compile(r"key|token|secret|passw|pwd|auth|credential|bearer", re.I)
_BEGIN_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|PuTTY-User-Key-File-\d"
)
_END_KEY = re.compile(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_B64_CHARS = re.compile(r"[A-Za-z0-9+/=]")


def _plugins() -> list[tuple[Any, float]]:
    """detect-secrets' plugin instances, each with the score its findings earn."""
    import importlib
    import inspect
    import pkgutil

    import detect_secrets.plugins as pkg
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.high_entropy_strings import (
        Base64HighEntropyString,
        HexHighEntropyString,
    )
    from detect_secrets.plugins.keyword import KeywordDetector

    out: list[tuple[Any, float]] = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        mod = importlib.import_module(f"detect_secrets.plugins.{info.name}")
        for obj in sorted(vars(mod).values(), key=lambda o: str(getattr(o, "__name__", ""))):
            if (
                isinstance(obj, type)
                and issubclass(obj, RegexBasedDetector)
                and not inspect.isabstract(obj)
                and obj.__module__ == mod.__name__
                and obj.__name__ not in _NOT_USED
            ):
                out.append((obj(), 0.6 if obj.__name__ == "JwtTokenDetector" else 0.95))
    out.append((KeywordDetector(), 0.7))
    out.append((Base64HighEntropyString(limit=4.5), 0.5))
    out.append((HexHighEntropyString(limit=3.0), 0.5))
    return out


# public IPs are not secrets; private keys are read as whole blocks (see SecretsScanner)
_NOT_USED: Final = frozenset({"IPPublicDetector", "PrivateKeyDetector"})


def find_secrets(line: str, plugins: list[tuple[Any, float]]) -> list[tuple[int, int, str, float]]:
    """``(start, end, type, score)`` of each secret in one line."""
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.high_entropy_strings import (
        HexHighEntropyString,
        HighEntropyStringsPlugin,
    )
    from detect_secrets.plugins.keyword import KeywordDetector

    found: dict[tuple[int, int], tuple[str, float]] = {}

    def add(start: int, end: int, kind: str, score: float) -> None:
        prev = found.get((start, end))
        if prev is None or prev[1] < score:
            found[(start, end)] = (kind, score)

    for plugin, score in plugins:
        kind = str(plugin.secret_type)
        if isinstance(plugin, RegexBasedDetector):
            # the plugin's own patterns, read for their spans: analyze_string yields a pattern's
            # first group, which for some (GitHub's "(ghp|gho|...)_...") is only the prefix
            for rx in plugin.denylist:
                for m in rx.finditer(line):
                    groups = [i for i in range(1, (rx.groups or 0) + 1) if m.group(i)]
                    best = max(groups, key=lambda i: len(m.group(i)), default=0)
                    span = m.span(best) if best and len(m.group(best)) >= 8 else m.span()
                    if not _placeholder(line[span[0] : span[1]]):
                        add(span[0], span[1], kind, score)
            continue
        for value in set(plugin.analyze_string(line)):
            if not value or len(value) < 6 or _placeholder(value):
                continue
            if isinstance(plugin, HighEntropyStringsPlugin):
                if plugin.calculate_shannon_entropy(value) <= plugin.entropy_limit:
                    continue
                if isinstance(plugin, HexHighEntropyString):
                    if not _KEY_WORD.search(line):
                        continue
                elif not (
                    len(value) >= 20
                    and re.search(r"[A-Z]", value)
                    and re.search(r"[a-z]", value)
                    and re.search(r"\d", value)
                    and not re.fullmatch(r"[0-9a-fA-F]+", value)
                ):
                    continue
            if isinstance(plugin, KeywordDetector) and _PLACEHOLDER.search(value):
                continue
            for m in re.finditer(re.escape(value), line):
                add(m.start(), m.end(), kind, score)
    # a span inside a higher-scoring one is the same secret
    spans = sorted(found.items(), key=lambda kv: (-kv[1][1], kv[0][0]))
    kept: list[tuple[int, int, str, float]] = []
    for (s, e), (kind, score) in spans:
        if any(s < ke and e > ks for ks, ke, _k, _s in kept):
            continue
        kept.append((s, e, kind, score))
    return sorted(kept)


class SecretsScanner:
    """One response's scanner."""

    def __init__(self, plugins: list[tuple[Any, float]]) -> None:
        self._plugins = plugins
        self._text = ""
        self._done_to = 0  # everything before this offset has been scanned
        self._key_start: int | None = None  # an open private key block
        self._key_scan = 0  # where to look for its END line
        self._done = False

    def feed(self, delta: str) -> list[Detection]:
        if not delta or self._done:
            return []
        self._text += delta
        return self._advance(final=False)

    def finish(self) -> list[Detection]:
        if self._done:
            return []
        out = self._advance(final=True)
        self._done = True
        return out

    def pending(self) -> int:
        return len(self._text) - (self._key_start if self._key_start is not None else self._done_to)

    def _advance(self, final: bool) -> list[Detection]:
        out: list[Detection] = []
        while True:
            if self._key_start is not None:
                end = _END_KEY.search(self._text, self._key_scan, self._key_start + MAX_KEY)
                if end is None and not final and len(self._text) < self._key_start + MAX_KEY:
                    # the END line may arrive in pieces: search again from a little before
                    self._key_scan = max(self._key_scan, len(self._text) - 64)
                    return out
                stop = end.end() if end else min(len(self._text), self._key_start + MAX_KEY)
                out.append(self._key_detection(self._key_start, stop))
                self._key_start = None
                self._done_to = stop
                continue
            cut = self._next_cut(final)
            if cut is None:
                return out
            line = self._text[self._done_to : cut]
            begin = _BEGIN_KEY.search(line)
            if begin:
                out.extend(self._line(line[: begin.start()], self._done_to))
                self._key_start = self._done_to + begin.start()
                self._key_scan = self._done_to + begin.end()
                continue
            out.extend(self._line(line, self._done_to))
            self._done_to = cut

    def _next_cut(self, final: bool) -> int | None:
        """Where the next scannable unit ends: after a newline within MAX_HOLD characters,
        else at the first whitespace after that, else at 2 * MAX_HOLD; at the end of the
        text only when it is final. Depends on the text alone, not on how it arrived."""
        start = self._done_to
        text = self._text
        if start >= len(text):
            return None
        limit = start + MAX_HOLD
        nl = text.find("\n", start, limit + 1)
        if nl != -1:
            return nl + 1
        if len(text) > limit:
            ws = _WS.search(text, limit, start + 2 * MAX_HOLD)
            if ws is not None:
                return ws.end()
            if len(text) >= start + 2 * MAX_HOLD:
                return start + 2 * MAX_HOLD
        return len(text) if final else None

    def _line(self, line: str, offset: int) -> list[Detection]:
        out = []
        for s, e, kind, score in find_secrets(line, self._plugins):
            value = line[s:e]
            out.append(
                Detection(
                    detector=NAME,
                    kind=kind,
                    score=score,
                    start=offset + s,
                    end=offset + e,
                    evidence={"type": kind, "length": len(value), "sha256_12": short_hash(value)},
                )
            )
        return out

    def _key_detection(self, start: int, end: int) -> Detection:
        block = self._text[start:end]
        header = _BEGIN_KEY.search(block)
        body = block[header.end() :] if header else block
        body = _END_KEY.sub("", body)
        b64 = len(_B64_CHARS.findall(body))
        return Detection(
            detector=NAME,
            kind="Private Key",
            score=0.95 if b64 >= 64 else 0.3,
            start=start,
            end=end,
            evidence={
                "type": "Private Key",
                "body_chars": b64,
                "sha256_12": short_hash(block),
            },
        )


class SecretsDetector:
    name = NAME

    def __init__(self) -> None:
        self._plugins: list[tuple[Any, float]] | None = None

    def scanner(self, conv: Conversation, ctx: DetectorContext) -> SecretsScanner:
        if self._plugins is None:
            self._plugins = _plugins()
        return SecretsScanner(self._plugins)

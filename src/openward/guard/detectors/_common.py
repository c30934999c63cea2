"""Pieces several detectors share: short hashes for evidence, "does this read as an
instruction to a model", "does this look like a harmful request", the optional classifier,
the per-request cap on what a detector reads (:func:`capped_segments`), and the cache of what
a detector read in one text (:class:`TextCache`)."""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Final, Generic, TypeVar

from openward.guard.types import Conversation, Segment

__all__ = [
    "MAX_CHARS_PER_REQUEST",
    "MAX_SEGMENTS",
    "TEXT_CACHE_ENTRIES",
    "CappedText",
    "TextCache",
    "cap_text",
    "capped_segments",
    "capped_texts",
    "classifier_score",
    "harmful_request_score",
    "instruction_score",
    "short_hash",
]


V = TypeVar("V")

TEXT_CACHE_ENTRIES: Final = 4096  # texts whose reading one detector keeps


class TextCache(Generic[V]):
    """A bounded LRU of what a detector read in one text, keyed by the text's SHA-256.

    A conversation's requests repeat its system prompt, tool definitions and earlier turns;
    a detector whose reading of a text depends on that text alone (not on the rest of the
    request, the identity or the policy) keeps it here and reads each repeated text once.
    Values are shared between requests: they must not be changed. Thread-safe (detectors run
    in a thread pool); two threads meeting the same new text may both read it."""

    def __init__(self, entries: int = TEXT_CACHE_ENTRIES) -> None:
        self.entries = entries
        self._lock = threading.Lock()
        self._items: OrderedDict[bytes, V] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, text: str, read: Callable[[str], V]) -> V:
        """``read(text)``, computed once per distinct text while it stays in the cache."""
        if self.entries <= 0:
            return read(text)
        key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
        value = read(text)
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.entries:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def short_hash(text: str, n: int = 12) -> str:
    """The first ``n`` hex digits of the SHA-256 of ``text``: names a string in evidence
    without showing it."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


# Phrases that, found inside decoded or hidden text, mean it is talking to the model.
_INJECTION: Final = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass|skip)\b.{0,40}?"
    r"\b(?:instructions?|prompts?|rules|guidelines|directions|above|previous|prior|earlier|"
    r"everything|policy|policies|restrictions|safety|filters?)\b"
    r"|\bsystem\s*prompt\b|\bnew\s+instructions?\b|\byou\s+are\s+now\b|\bact\s+as\b"
    r"|\bdeveloper\s+mode\b|\bdo\s+anything\s+now\b|\bjailbr[eo]a?k"
    r"|\bpretend\s+(?:to\s+be|you)\b|\bfrom\s+now\s+on\b|\bno\s+(?:longer\s+)?restrictions\b"
    r"|\b(?:reveal|print|output|repeat|show|leak|tell\s+me)\b.{0,30}?"
    r"\b(?:instructions?|prompt|secrets?|password|api\s*keys?|credentials|rules)\b"
    r"|\bwhat(?:'s|\s+is|\s+are|\s+was)\s+(?:the|your)\s+(?:secret\s+)?(?:password|passcode|"
    r"secret|api\s*key|system\s+prompt|instructions)\b"
    r"|\b(?:send|forward|email|exfiltrate|upload|post)\b.{0,40}?\b(?:to\s+https?://|to\s+\S+@\S+)",
    re.I | re.S,
)
# An imperative opening: a decoded payload that starts by telling someone to do something.
_IMPERATIVE: Final = re.compile(
    r"^\W*(?:please\s+)?(?:ignore|disregard|forget|write|tell|give|print|say|output|explain|"
    r"describe|list|send|delete|remove|execute|run|call|open|visit|click|download|install|"
    r"respond|reply|answer|translate|generate|create|make|show|reveal|repeat|provide|"
    r"do\s+not|don't|never|always|you\s+must|you\s+will|how\s+(?:to|do\s+i|can\s+i))\b",
    re.I,
)


def instruction_score(text: str) -> float:
    """How much ``text`` reads as an instruction to a model: 0.9 with an injection phrase,
    0.7 when it opens with an imperative, 0.0 otherwise; raised to the trained classifier's
    injection/jailbreak probability when that classifier is installed."""
    score = 0.0
    if _INJECTION.search(text):
        score = 0.9
    elif _IMPERATIVE.search(text):
        score = 0.7
    cls = classifier_score(text)
    if cls is not None:
        score = max(score, cls)
    return score


@cache
def _classifier() -> Any | None:
    try:
        from openward.guard import classifier  # type: ignore[attr-defined,unused-ignore]

        return classifier.GuardClassifier.default()
    except (ImportError, AttributeError, OSError, ValueError, RuntimeError):
        return None
    except Exception:  # an OpenwardError (weights missing) or similar: no classifier
        return None


def classifier_score(text: str) -> float | None:
    """The trained classifier's max(injection, jailbreak) for ``text``, or None when
    :mod:`openward.guard.classifier` is not there (it is another part of the guard)."""
    model = _classifier()
    if model is None or not text.strip():
        return None
    scores = model.score(text)
    return float(max(scores.get("injection", 0.0), scores.get("jailbreak", 0.0)))


# Harmful-looking requests: the asks many-shot attacks and harmful-compliance care about.
_HARM_VERB: Final = (
    r"(?:how\s+(?:do\s+i|can\s+i|to|would\s+i|should\s+i)|what(?:'s| is)\s+the\s+best\s+way\s+to|"
    r"give\s+me|tell\s+me\s+how|explain\s+how|steps\s+to|instructions\s+(?:for|to|on)|"
    r"write|help\s+me|teach\s+me|show\s+me\s+how|can\s+you)"
)
_HARM_OBJECT: Final = (
    r"(?:bomb|explosive|detonat|pipe\s*bomb|napalm|thermite|nerve\s+agent|sarin|ricin|anthrax|"
    r"bioweapon|chemical\s+weapon|meth(?:amphetamine)?|cocaine|heroin|fentanyl|"
    r"poison|kill|murder|assassinat|hurt|harm|stab|shoot|strangle|kidnap|torture|"
    r"hack(?:ing)?\s+into|break\s+into|steal|shoplift|rob\b|launder|counterfeit|fake\s+(?:id|passport)|"
    r"ransomware|malware|keylogger|virus|phishing|ddos|botnet|exploit|credit\s+card\s+numbers?|"
    r"stalk|dox|blackmail|extort|suicide|self[-\s]harm|untraceable|without\s+getting\s+caught|"
    r"evade\s+(?:police|taxes|detection)|bypass\s+(?:security|the\s+law)|weapon|gun|firearm|"
    r"child\s+(?:porn|sexual)|groom|traffick|racist|hate\s+speech|propaganda|disinformation)"
)
_HARMFUL: Final = re.compile(
    rf"\b{_HARM_VERB}\b.{{0,80}}?{_HARM_OBJECT}|{_HARM_OBJECT}\w*.{{0,40}}?\b(?:step[-\s]by[-\s]step|"
    r"recipe|instructions|tutorial|guide)\b",
    re.I | re.S,
)
_HARM_WORD: Final = re.compile(rf"\b{_HARM_OBJECT}", re.I)


def harmful_request_score(text: str) -> float:
    """A rough 0..1 for "this asks for something harmful": 0.8 for an ask with a harmful
    object, 0.4 for a harmful word alone, else 0. A phrase list: it misses euphemism and
    paraphrase, and "how do I kill a Python process" scores 0.8 (callers weigh it with more)."""
    if _HARMFUL.search(text):
        return 0.8
    if _HARM_WORD.search(text):
        return 0.4
    return 0.0


# --- the per-request input cap ---------------------------------------------------------------

MAX_CHARS_PER_REQUEST: Final = 64_000  # what one detector reads of one request, at most
_HEAD_SHARE: Final = 0.375  # of a capped segment's budget: its start, its end the same,
_SLICES: Final = 8  # and the rest in this many evenly spaced slices of the middle
_MIN_SLICE: Final = 256  # no slices of the middle shorter than this
_GAP: Final = "\n\n"  # what stands between two slices in the capped text
MAX_SEGMENTS: Final = 64  # segments one detector reads per request (evenly spaced, last kept)


@dataclass(frozen=True)
class CappedText:
    """A segment's text as the detectors read it: the whole text, or (when the request is over
    :data:`MAX_CHARS_PER_REQUEST`) its head, its tail and evenly spaced slices of its middle,
    joined by blank lines. ``pieces`` are ``(capped_start, original_start, length)``;
    :meth:`to_original` maps an offset in ``text`` back to the segment's text (a finding's
    ``start``/``end`` must locate the original)."""

    text: str
    original_length: int
    pieces: tuple[tuple[int, int, int], ...]
    skipped_segments: int = 0  # other segments of the request left unread

    @property
    def cut(self) -> bool:
        return len(self.pieces) > 1 or (
            bool(self.pieces) and self.pieces[0][2] < self.original_length
        )

    @property
    def truncated(self) -> bool:
        """This text was cut, or other segments of its request were not read."""
        return self.cut or self.skipped_segments > 0

    def to_original(self, pos: int) -> int:
        if not self.cut:
            return pos
        at = 0
        for i, (cstart, _ostart, _length) in enumerate(self.pieces):
            if cstart <= pos:
                at = i
        cstart, ostart, length = self.pieces[at]
        return ostart + max(0, min(pos - cstart, length))


def _snap(text: str, pos: int, forward: bool, reach: int = 200) -> int:
    """``pos`` moved to the nearest line break (else space) within ``reach`` characters, so a
    slice does not start or end mid-word (the word would read as token soup)."""
    if forward:
        window = text[pos : pos + reach]
        for sep in ("\n", " "):
            k = window.find(sep)
            if k != -1:
                return pos + k + 1
        return pos
    window = text[max(0, pos - reach) : pos]
    for sep in ("\n", " "):
        k = window.rfind(sep)
        if k != -1:
            return pos - len(window) + k
    return pos


def cap_text(text: str, budget: int) -> CappedText:
    """``text`` cut to about ``budget`` characters: head, tail and evenly spaced slices."""
    n = len(text)
    if n <= budget:
        return CappedText(text, n, ((0, 0, n),))
    head = int(budget * _HEAD_SHARE)
    if (budget - 2 * head) // _SLICES < _MIN_SLICE:
        head = budget // 2  # too little for slices of the middle: head and tail only
    tail = head
    spans: list[tuple[int, int]] = [(0, _snap(text, head, forward=False) or head)]
    middle_from, middle_to = head, n - tail
    each = (budget - head - tail) // _SLICES
    if each >= _MIN_SLICE:
        stride = (middle_to - middle_from) / _SLICES
        for k in range(_SLICES):
            a = int(middle_from + stride * (k + 0.5) - each / 2)
            a, b = _snap(text, a, forward=True), _snap(text, a + each, forward=False)
            if b > a:
                spans.append((a, b))
    tail_start = _snap(text, n - tail, forward=True)
    spans.append((tail_start if tail_start < n else n - tail, n))
    parts: list[str] = []
    pieces: list[tuple[int, int, int]] = []
    at = 0
    for a, b in spans:
        if parts:
            parts.append(_GAP)
            at += len(_GAP)
        pieces.append((at, a, b - a))
        parts.append(text[a:b])
        at += b - a
    return CappedText("".join(parts), n, tuple(pieces))


def capped_texts(texts: Sequence[str], limit: int = MAX_CHARS_PER_REQUEST) -> list[CappedText]:
    """Each of ``texts`` (a request's segments, in order) capped so that together they come to
    about ``limit`` characters: texts shorter than an even share are read whole, the longer
    ones share what is left equally (water-filling)."""
    sizes = [len(t) for t in texts]
    if sum(sizes) <= limit:
        return [CappedText(t, len(t), ((0, 0, len(t)),)) for t in texts]
    budget = {i: 0 for i in range(len(texts))}
    left = limit
    open_ = sorted(range(len(texts)), key=lambda i: sizes[i])
    while open_:
        share = left // len(open_)
        i = open_[0]
        if sizes[i] <= share:
            budget[i] = sizes[i]
            left -= sizes[i]
            open_.pop(0)
            continue
        for j in open_:
            budget[j] = share
        break
    return [cap_text(t, max(budget[i], 0)) for i, t in enumerate(texts)]


def capped_segments(
    conv: Conversation,
    skip_roles: Sequence[str] = ("system", "developer", "assistant"),
    limit: int = MAX_CHARS_PER_REQUEST,
    max_segments: int | None = MAX_SEGMENTS,
) -> list[tuple[int, Segment, CappedText]]:
    """The segments a detector reads (``(index, segment, capped text)``, roles in
    ``skip_roles`` left out), capped together at ``limit`` characters per request so a
    detector's cost has a ceiling whatever the body size; of more than ``max_segments``
    segments, that many evenly spaced ones are read (the first and the last among them). A
    detector that reads a capped text says so with ``evidence["truncated"] = True`` and maps
    offsets back with :meth:`CappedText.to_original`."""
    chosen = [(i, s) for i, s in enumerate(conv.segments) if s.role not in skip_roles]
    skipped = 0
    if max_segments is not None and len(chosen) > max_segments:
        n = len(chosen)
        keep = sorted({round(k * (n - 1) / (max_segments - 1)) for k in range(max_segments)})
        skipped = n - len(keep)
        chosen = [chosen[k] for k in keep]
    caps = capped_texts([s.text for _i, s in chosen], limit)
    if skipped:
        caps = [replace(c, skipped_segments=skipped) for c in caps]
    return [(i, s, c) for (i, s), c in zip(chosen, caps, strict=True)]

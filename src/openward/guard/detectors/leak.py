"""The system prompt repeated in the output, found as it streams.

Both the deployment's prompts (``ctx.system_prompts``) and the request's own ``system`` /
``developer`` messages are protected. Text is compared as words: NFKC, case-folded, apostrophes
dropped, split at anything that is not a letter or digit; so case, whitespace, punctuation and
markdown around the words do not matter.

A *run* starts where three consecutive output words equal three consecutive prompt words and
follows the prompt word by word, tolerating small edits: one prompt word skipped, one word
added, or one word changed, at most one edit per five matched words plus one. A run becomes a
finding once it holds :data:`MIN_RUN` matched words of which at least :data:`MIN_CONTENT` are
not stop words: "You are a helpful assistant" alone never fires; eight consecutive words of a
distinctive prompt do. The score rises with the share of the prompt leaked:
``0.6 + 0.4 * min(1, leaked / 0.5)`` (half the prompt or more: 1.0).

Findings are reported when a run crosses the threshold (``start``/``end`` cover the run so
far) and again, as ``kind`` ``verbatim-continued``, for the part of the run written after that
when the run ends. :meth:`pending` holds back the text of a run in progress, the words that
could begin one (a prefix of a prompt trigram) and a word not yet finished, so a proxy can
redact or block before the text leaves.

The prompt's *secret parts* are matched on their own too (``kind`` ``secret-part``, 0.9): codes
and keys (a token mixing letters and digits, 5+ characters: ``NW-7731``), numbers of 5+ digits
(not years), emails, URLs and quoted strings of 8+ characters, taken from the configured
prompts and the request's system/developer messages. A leak of the escalation code alone,
without the sentence around it, fires. Runs of base64 (24+ characters) and hex (32+ digits) in
the output are decoded and the decoded text is read for prompt runs and secret parts
(``kind`` ``encoded``, located on the encoded run).

Not found: translations, paraphrases that change most words, leaks spelled out letter by letter
or encoded other ways (reversed, rot13, split over several encodings).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Final

from openward.guard.detectors._common import short_hash
from openward.guard.types import Conversation, Detection, DetectorContext

__all__ = [
    "SystemPromptLeakDetector",
    "SystemPromptLeakScanner",
    "normalise_words",
    "secret_parts",
]

NAME: Final = "system-prompt-leak"
SHINGLE: Final = 3
MIN_RUN: Final = 8
MIN_CONTENT: Final = 3
MIN_PROMPT_WORDS: Final = 8

MAX_WORD: Final = 64  # longer runs of letters are read as several words (no prompt word is)
_WORD = re.compile(rf"[^\W_]{{1,{MAX_WORD}}}")
_TRAILING = re.compile(r"['’]*")  # what may follow a word that could still go on
_STOP: Final = frozenset(
    "a an the and or but if of to in on at for with by from as is are was were be been "  # noqa: SIM905
    "being you your yours i me my we our us it its this that these those there here do "
    "does did not no yes can could will would should shall may might must have has had "
    "am so than then they them their he she his her him who whom which what when where "
    "why how all any each helpful assistant ai language model always never please".split()
)


def _norm(word: str) -> str:
    return unicodedata.normalize("NFKC", word).casefold().replace("\u02bc", "")


def _join_apostrophes(text: str) -> str:
    """Apostrophes inside words become a letter-like mark (U+02BC) that :func:`_norm` drops:
    "don't" is one word, "dont", and offsets stay put."""
    return re.sub(r"(?<=\w)['’](?=\w)", "\u02bc", text)


def normalise_words(text: str) -> list[str]:
    """The words of ``text`` as the detector compares them."""
    return [_norm(m.group()) for m in _WORD.finditer(_join_apostrophes(text))]


@dataclass
class _Prompt:
    words: list[str]
    index: dict[tuple[str, ...], list[int]]  # trigram -> position of its last word
    prefixes: set[tuple[str, ...]]  # the first one or two words of every trigram
    covered: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, text: str) -> _Prompt:
        words = normalise_words(text)
        index: dict[tuple[str, ...], list[int]] = {}
        prefixes: set[tuple[str, ...]] = set()
        for i in range(SHINGLE - 1, len(words)):
            gram = tuple(words[i - SHINGLE + 1 : i + 1])
            index.setdefault(gram, []).append(i)
            for k in range(1, SHINGLE):
                prefixes.add(gram[:k])
        return cls(words, index, prefixes)


@dataclass
class _Run:
    prompt: int
    pos: int  # prompt position of the last word aligned
    start: int  # output char offset where the run starts
    end: int  # output char offset where its last matched word ends
    matched: list[int]  # prompt positions matched
    edits: int = 0
    misses: int = 0  # consecutive words not matched
    reported_end: int | None = None


class _RunScanner:
    """The word-run matcher (see the module docstring)."""

    def __init__(self, prompts: list[str]) -> None:
        self._prompts = [
            p for p in (_Prompt.of(t) for t in prompts) if len(p.words) >= MIN_PROMPT_WORDS
        ]
        self._text = ""
        self._scan = 0  # where the next unread word may start
        self._words: list[tuple[str, int, int]] = []  # normalised word, start, end
        self._runs: list[_Run] = []
        self._out: list[Detection] = []
        self._done = False

    def feed(self, delta: str) -> list[Detection]:
        if not self._prompts or not delta:
            return []
        self._text += delta
        return self._advance(final=False)

    def finish(self) -> list[Detection]:
        if not self._prompts or self._done:
            return []
        self._done = True
        found = self._advance(final=True)
        for run in self._runs:
            found.extend(self._close(run))
        self._runs = []
        return found

    def pending(self) -> int:
        if not self._prompts:
            return 0
        hold_from = self._scan if self._scan < len(self._text) else len(self._text)
        # an unfinished word
        tail = self._text[-64:]
        m = re.search(r"[\w'’]+$", tail)
        if m:
            hold_from = min(hold_from, len(self._text) - len(tail) + m.start())
        for run in self._runs:
            hold_from = min(hold_from, run.start if run.reported_end is None else run.reported_end)
        # complete words that may begin a run: the longest tail that is a trigram prefix
        for k in range(SHINGLE - 1, 0, -1):
            if len(self._words) >= k:
                last = tuple(w for w, _s, _e in self._words[-k:])
                if any(last in p.prefixes for p in self._prompts):
                    hold_from = min(hold_from, self._words[-k][1])
                    break
        return len(self._text) - hold_from

    # -- internals ------------------------------------------------------------------------

    def _advance(self, final: bool) -> list[Detection]:
        found: list[Detection] = []
        base = self._scan
        # one character of look-behind so an apostrophe at the boundary is read as in one piece
        left = max(0, base - 1)
        text = _join_apostrophes(self._text[left:])
        for m in _WORD.finditer(text, base - left):
            if not final and len(m.group()) < MAX_WORD and _TRAILING.fullmatch(text, m.end()):
                self._scan = left + m.start()
                break  # the word may continue in the next delta
            self._scan = left + m.end()
            found.extend(self._word(_norm(m.group()), left + m.start(), left + m.end()))
        else:
            self._scan = len(self._text)  # what is left holds no word
        return found

    def _word(self, word: str, start: int, end: int) -> list[Detection]:
        found: list[Detection] = []
        self._words.append((word, start, end))
        alive: list[_Run] = []
        for run in self._runs:
            words = self._prompts[run.prompt].words
            nxt = run.pos + 1
            if nxt < len(words) and words[nxt] == word:
                run.pos, run.end, run.misses = nxt, end, 0
                run.matched.append(nxt)
            elif nxt + 1 < len(words) and words[nxt + 1] == word:  # a prompt word left out
                run.pos, run.end, run.misses = nxt + 1, end, 0
                run.matched.append(nxt + 1)
                run.edits += 1
            elif run.misses == 0:  # a word added, or changed (then the next word skips one)
                run.misses = 1
                run.edits += 1
            else:
                found.extend(self._close(run))
                continue
            if run.edits > 1 + len(run.matched) // 5:
                found.extend(self._close(run))
                continue
            if run.reported_end is None and self._qualifies(run):
                found.append(self._detection(run, run.start, run.end, "verbatim"))
                run.reported_end = run.end
            alive.append(run)
        self._runs = alive
        # new runs where the last three words are a prompt trigram not already followed
        if len(self._words) >= SHINGLE:
            gram = tuple(w for w, _s, _e in self._words[-SHINGLE:])
            for pi, prompt in enumerate(self._prompts):
                for pos in prompt.index.get(gram, []):
                    if any(r.prompt == pi and r.pos == pos for r in self._runs):
                        continue
                    run = _Run(
                        prompt=pi,
                        pos=pos,
                        start=self._words[-SHINGLE][1],
                        end=end,
                        matched=list(range(pos - SHINGLE + 1, pos + 1)),
                    )
                    self._runs.append(run)
        return found

    def _qualifies(self, run: _Run) -> bool:
        words = self._prompts[run.prompt].words
        content = sum(1 for i in set(run.matched) if words[i] not in _STOP)
        return len(set(run.matched)) >= MIN_RUN and content >= MIN_CONTENT

    def _close(self, run: _Run) -> list[Detection]:
        if run.reported_end is None:
            return []
        out = []
        if run.end > run.reported_end:
            out.append(self._detection(run, run.reported_end, run.end, "verbatim-continued"))
        run.reported_end = run.end
        return out

    def _detection(self, run: _Run, start: int, end: int, kind: str) -> Detection:
        prompt = self._prompts[run.prompt]
        prompt.covered.update(run.matched)
        leaked = len(prompt.covered) / len(prompt.words)
        det = Detection(
            detector=NAME,
            kind=kind,
            score=0.6 + 0.4 * min(1.0, leaked / 0.5),
            start=start,
            end=end,
            evidence={
                "prompt_index": run.prompt,
                "prompt_words": len(prompt.words),
                "run_words": len(set(run.matched)),
                "leaked_fraction": round(leaked, 3),
                "edits": run.edits,
                "sha256_12": short_hash(" ".join(prompt.words)),
            },
        )
        self._out.append(det)
        return det


class SystemPromptLeakDetector:
    name = NAME

    def scanner(self, conv: Conversation, ctx: DetectorContext) -> SystemPromptLeakScanner:
        prompts = list(ctx.system_prompts)
        prompts += [s.text for s in conv.segments if s.role in ("system", "developer")]
        unique = list(dict.fromkeys(p for p in prompts if p.strip()))
        return SystemPromptLeakScanner(unique)


# --- secret parts and encoded runs ------------------------------------------------------------

_PART = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # emails
    r"|https?://[^\s\"'<>)]+"  # URLs
    r"|(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9][\w-]{3,}[A-Za-z0-9](?![\w-])"  # codes
    r"|(?<![\w.])\d[\d ,.-]{3,}\d(?![\w])"  # numbers
)
_QUOTED = re.compile(r"\"([^\"\n]{8,120})\"|“([^”\n]{8,120})”|(?<!\w)'([^'\n]{8,120})'(?!\w)")
_YEAR = re.compile(r"^(?:1[89]|20)\d\d$")
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")
_HEX_RUN = re.compile(r"(?:[0-9a-fA-F]{2}[\s:]?){16,}")
MAX_PART: Final = 200
HOLD_ENCODED: Final = 4096  # the longest base64/hex run held back while it grows
_B64_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-=")
_HEX_CHARS: Final = frozenset("0123456789abcdefABCDEF :\t")
_HEX_TAIL = re.compile(r"(?:[0-9a-fA-F]{2}[ :\t]?){8,}")


def _run_start(text: str, start: int, delta_from: int, chars: frozenset[str]) -> int:
    """Where the trailing run of ``chars`` in ``text`` starts, given that it started at
    ``start`` before ``text[delta_from:]`` was added (linear in the new text only)."""
    for k in range(len(text) - 1, delta_from - 1, -1):
        if text[k] not in chars:
            return k + 1
    return start


def secret_parts(prompt: str) -> list[str]:
    """The distinctive pieces of ``prompt`` that are secret on their own: codes and keys,
    numbers of 5+ digits, emails, URLs, quoted strings of 8+ characters."""
    parts: list[str] = []
    for m in _PART.finditer(prompt):
        v = m.group().rstrip(".,;:")
        digits = sum(c.isdigit() for c in v)
        numeric = v[:1].isdigit() and not any(c.isalpha() for c in v)
        if numeric and (digits < 5 or _YEAR.match(v)):
            continue
        parts.append(v)
    for m in _QUOTED.finditer(prompt):
        v = next(g for g in m.groups() if g)
        if sum(1 for w in normalise_words(v) if w not in _STOP) >= 1:
            parts.append(v)
    return list(dict.fromkeys(p[:MAX_PART] for p in parts if len(p) >= 5))


def _decode_run(run: str) -> str | None:
    raw: bytes | None = None
    compact = re.sub(r"[\s:]", "", run)
    if re.fullmatch(r"[0-9a-fA-F]+", compact) and len(compact) % 2 == 0:
        raw = bytes.fromhex(compact)
    else:
        try:
            raw = base64.b64decode(
                run + "=" * (-len(run) % 4), altchars=b"-_" if "-" in run or "_" in run else None
            )
        except (binascii.Error, ValueError):
            return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    good = sum(c.isprintable() or c.isspace() for c in text)
    return text if text and good >= 0.95 * len(text) else None


class SystemPromptLeakScanner:
    """One response's scanner: prompt word runs, secret parts, and both inside decoded
    base64/hex runs (see the module docstring)."""

    def __init__(self, prompts: list[str]) -> None:
        self._runs = _RunScanner(prompts)
        self._prompts = prompts
        self._parts = [p for t in prompts for p in secret_parts(t)]
        self._folded = [p.lower() for p in self._parts]
        self._text = ""
        self._part_scan = 0
        self._enc_scan = 0  # everything before this offset has been checked for encoded runs
        self._reported: set[tuple[int, int]] = set()
        self._encoded: set[int] = set()
        self._b64_from = 0  # where the trailing run of base64 characters starts
        self._hex_from = 0  # where the trailing run of hex digits and separators starts
        self._done = False

    def feed(self, delta: str) -> list[Detection]:
        if not delta or self._done or not self._prompts:
            return []
        before = len(self._text)
        self._text += delta
        self._b64_from = _run_start(self._text, self._b64_from, before, _B64_CHARS)
        self._hex_from = _run_start(self._text, self._hex_from, before, _HEX_CHARS)
        return self._runs.feed(delta) + self._advance(final=False)

    def _encoded_tail(self) -> int:
        """Where a base64 or hex run still growing at the end of the text starts (the text's
        length when none does); at most :data:`HOLD_ENCODED` characters back."""
        n = len(self._text)
        tail = n
        if n - self._b64_from >= 8:
            tail = self._b64_from
        if n - self._hex_from >= 16 and _HEX_TAIL.match(self._text, self._hex_from):
            tail = min(tail, self._hex_from)
        return max(tail, n - HOLD_ENCODED)

    def finish(self) -> list[Detection]:
        if self._done or not self._prompts:
            return []
        self._done = True
        return self._runs.finish() + self._advance(final=True)

    def pending(self) -> int:
        if not self._prompts:
            return 0
        hold = self._runs.pending()
        text = self._text
        # a tail that may still grow into a secret part
        folded = text[-MAX_PART:].lower()
        for part in self._folded:
            for k in range(min(len(part), len(folded)), 0, -1):
                if folded.endswith(part[:k]):
                    hold = max(hold, k)
                    break
        # an encoded run still growing
        tail = self._encoded_tail()
        if len(text) - tail >= 8:
            hold = max(hold, len(text) - tail)
        return min(len(text), hold)

    def _advance(self, final: bool) -> list[Detection]:
        out: list[Detection] = []
        text = self._text
        lo = max(0, self._part_scan - MAX_PART)
        window = text[lo:]
        folded = window.lower()
        if len(folded) != len(window):  # a letter whose lower case is longer: match as is
            folded = window
        limit = len(text) if final else max(lo, len(text) - 1)
        for part, fpart in zip(self._parts, self._folded, strict=True):
            at = folded.find(fpart)
            while at != -1 and lo + at + len(fpart) <= limit:
                at += lo
                if (at, at + len(fpart)) not in self._reported and self._bounded(
                    text, at, len(fpart)
                ):
                    self._reported.add((at, at + len(fpart)))
                    out.append(self._det("secret-part", at, at + len(fpart), part))
                at = folded.find(fpart, at - lo + 1)
        self._part_scan = limit
        # encoded runs that have ended (or all of them at the end)
        tail = len(text) if final else self._encoded_tail()
        runs = list(_B64_RUN.finditer(text, self._enc_scan, tail))
        runs += list(_HEX_RUN.finditer(text, self._enc_scan, tail))
        for m in runs:
            if m.start() in self._encoded:
                continue
            decoded = _decode_run(m.group().strip())
            if decoded is None:
                continue
            inner = _RunScanner(self._prompts)
            hits = inner.feed(decoded) + inner.finish()
            fd = decoded.lower()
            if hits or any(p in fd for p in self._folded):
                self._encoded.add(m.start())
                out.append(self._det("encoded", m.start(), m.end(), decoded))
        self._enc_scan = tail
        return out

    @staticmethod
    def _bounded(text: str, at: int, n: int) -> bool:
        before = text[at - 1] if at > 0 else " "
        after = text[at + n] if at + n < len(text) else " "
        return not (before.isalnum() or after.isalnum())

    def _det(self, kind: str, start: int, end: int, value: str) -> Detection:
        return Detection(
            detector=NAME,
            kind=kind,
            score=0.9,
            start=start,
            end=end,
            evidence={"length": end - start, "sha256_12": short_hash(value)},
        )

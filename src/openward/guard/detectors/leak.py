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

Not found: translations, paraphrases that change most words, leaks spelled out letter by letter
or encoded (base64, reversed).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Final

from openward.guard.detectors._common import short_hash
from openward.guard.types import Conversation, Detection, DetectorContext

__all__ = ["SystemPromptLeakDetector", "SystemPromptLeakScanner", "normalise_words"]

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


class SystemPromptLeakScanner:
    """One response's scanner (see the module docstring)."""

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

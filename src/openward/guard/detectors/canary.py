"""Canary tokens (``ctx.canaries``) in the output: exact, case-insensitive, and with spaces or
invisible characters slipped between their letters (``C A N A R Y``, ``can\\u200bary``).

The output is read as a stream of *kept* characters: NFKC-folded, case-folded, with whitespace,
zero-width characters, soft hyphens and bidi controls dropped; each kept character remembers
its offset in the output. A canary (folded the same way) found in that stream is a finding,
score 1.0, located from its first to its last character in the output. :meth:`pending` holds
back the longest tail of the stream that begins some canary.

Not found: canaries paraphrased, translated, encoded (base64, hex) or split by punctuation.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from openward.guard.detectors._common import short_hash
from openward.guard.types import Conversation, Detection, DetectorContext

__all__ = ["CanaryDetector", "CanaryScanner"]

NAME: Final = "canary"
MIN_CANARY: Final = 4  # shorter canaries would fire on ordinary words

_IGNORED: Final = frozenset(
    "\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def _fold(ch: str) -> str:
    if ch in _IGNORED or ch.isspace():
        return ""
    return unicodedata.normalize("NFKC", ch).casefold()


def fold(text: str) -> str:
    return "".join(_fold(c) for c in text)


class CanaryScanner:
    def __init__(self, canaries: list[str]) -> None:
        self._canaries = [(c, f) for c in canaries if len(f := fold(c)) >= MIN_CANARY]
        self._longest = max((len(f) for _c, f in self._canaries), default=0)
        # a window on the folded stream: characters from absolute index _base on (older ones
        # can no longer begin a canary), each with its offset in the output
        self._kept = ""
        self._where: list[int] = []
        self._base = 0
        self._length = 0  # output characters seen
        self._searched = 0  # folded positions before this have been searched as starts
        self._seen: set[tuple[int, int]] = set()
        self._done = False

    def feed(self, delta: str) -> list[Detection]:
        if not self._canaries or not delta or self._done:
            return []
        for i, ch in enumerate(delta):
            piece = _fold(ch)
            self._kept += piece
            self._where.extend([self._length + i] * len(piece))
        self._length += len(delta)
        return self._search(final=False)

    def finish(self) -> list[Detection]:
        if self._done:
            return []
        self._done = True
        return self._search(final=True) if self._canaries else []

    def pending(self) -> int:
        if not self._canaries:
            return 0
        kept = self._kept[-self._longest :]
        for k in range(min(len(kept), self._longest - 1), 0, -1):
            tail = kept[-k:]
            if any(f.startswith(tail) for _c, f in self._canaries):
                return self._length - self._where[-k]
        return 0

    def _search(self, final: bool) -> list[Detection]:
        out: list[Detection] = []
        kept = self._kept
        for index, (canary, folded) in enumerate(self._canaries):
            pos = kept.find(folded, max(0, self._searched - self._base - len(folded)))
            while pos != -1:
                key = (index, self._base + pos)
                if key not in self._seen:
                    self._seen.add(key)
                    start = self._where[pos]
                    end = self._where[pos + len(folded) - 1] + 1
                    out.append(
                        Detection(
                            detector=NAME,
                            kind="exact" if end - start == len(canary) else "spaced",
                            score=1.0,
                            start=start,
                            end=end,
                            evidence={"canary_index": index, "sha256_12": short_hash(canary)},
                        )
                    )
                pos = kept.find(folded, pos + 1)
        self._searched = self._base + len(kept)
        # keep only what could still be the start of a canary
        cut = len(kept) - self._longest
        if cut > 4 * self._longest + 1024:
            self._kept = kept[cut:]
            self._where = self._where[cut:]
            self._base += cut
        return out


class CanaryDetector:
    name = NAME

    def scanner(self, conv: Conversation, ctx: DetectorContext) -> CanaryScanner:
        return CanaryScanner(list(dict.fromkeys(ctx.canaries)))

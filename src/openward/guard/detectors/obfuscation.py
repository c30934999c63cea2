"""Hidden and encoded payloads: decode what is there, then ask whether it reads as an instruction.

:func:`decode` finds and decodes, in one segment's text:

- ``tags``: Unicode tag characters U+E0000-E007F, invisible in most renderers but read by
  models ("ASCII smuggling": U+E0020-E007E mirror ASCII 0x20-0x7E);
- ``variation-selectors``: bytes hidden as variation selectors after a visible character
  (VS1-16 = 0-15, VS17-256 = 16-255), the "emoji smuggling" trick;
- ``zero-width``: zero-width characters inside words (``ig\\u200bnore``), decoded as the word
  without them; runs of two kinds of zero-width characters are also read as bits (8 per byte);
- ``bidi``: bidirectional controls (Trojan Source); the decoded text is the text without them;
- ``homoglyph``: words mixing Latin with Cyrillic/Greek/Armenian look-alikes (``іgnore`` with a
  Cyrillic і), decoded to their Latin skeleton; ``compat``: fullwidth or mathematical letters
  (``ｉｇｎｏｒｅ``, ``𝐢𝐠𝐧𝐨𝐫𝐞``), decoded by NFKC;
- ``base64`` / ``base64url``, ``hex`` (plain, ``\\x69``, ``0x69``, spaced pairs), ``url``
  (%-encoding): decoded when the result is text; ``data-url`` and ``jwt`` are recognised and
  named, never scored high for existing;
- ``rot13``, ``reversed``, ``leetspeak`` and ``pig-latin``: a sentence that becomes much more
  like English under the transformation (judged by the character language model of
  :mod:`._charlm`); ``morse``: runs of dots and dashes, decoded.

The score of a segment is the highest of its findings: hidden tag text 0.95 (0.99 when it reads
as an instruction); any decoded payload that reads as an instruction
(:func:`._common.instruction_score`: a phrase list and, when installed, the trained classifier)
0.9; homoglyph words 0.6 (0.9 when their skeleton is an injection word); readable but
harmless decoded text 0.3; encodings that decode to nothing readable (images, hashes, JWTs, keys)
0.1 or nothing.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass
from functools import cache
from typing import Final

import numpy as np

from openward.guard.detectors._common import (
    TEXT_CACHE_ENTRIES,
    TextCache,
    capped_segments,
    instruction_score,
    short_hash,
)
from openward.guard.types import Conversation, Detection, DetectorContext

__all__ = ["CONFUSABLES", "Decoded", "ObfuscationDetector", "decode"]

NAME: Final = "obfuscation"


@dataclass(frozen=True)
class Decoded:
    """One hidden or encoded span of a text: ``kind``, its character offsets, and what it
    decodes to (``text``)."""

    kind: str
    start: int
    end: int
    text: str


# --- confusables: letters of other scripts that render like Latin ones -----------------------
# From Unicode's confusables data (UTS #39, confusables.txt), the single-letter mappings to
# Latin of the Cyrillic, Greek and Armenian letters seen in homoglyph attacks.
CONFUSABLES: Final[dict[str, str]] = {
    # Cyrillic lower case
    "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "і": "i", "ј": "j",
    "к": "k", "ӏ": "l", "м": "m", "п": "n", "о": "o", "р": "p", "ԛ": "q", "г": "r",
    "ѕ": "s", "т": "t", "ц": "u", "ѵ": "v", "ԝ": "w", "х": "x", "у": "y", "ь": "b",
    "ё": "e", "ї": "i",
    # Cyrillic upper case
    "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K",
    "М": "M", "О": "O", "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y", "Ԛ": "Q",
    "Ԝ": "W", "Ӏ": "I",
    # Greek
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "γ": "y", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z",
    "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T",
    "Υ": "Y", "Χ": "X",
    # Armenian
    "օ": "o", "ս": "u", "ո": "n", "հ": "h", "ց": "g", "զ": "q", "ա": "w", "Տ": "S",
    "Օ": "O",
}  # fmt: skip
_INJECTION_WORDS: Final = frozenset(
    "ignore disregard forget instructions instruction system prompt previous override "  # noqa: SIM905
    "bypass jailbreak reveal secret password admin developer mode rules restrictions".split()
)

_TAG_RUN = re.compile("[\U000e0000-\U000e007f]+")
_VS_RUN = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]{2,}")
_ZW = "\u200b\u200c\u200d\u2060\ufeff\u180e\u200e\u200f"
_ZW_IN_WORD = re.compile(rf"\w(?:[{_ZW}]+\w)+")
_ZW_RUN = re.compile(rf"[{_ZW}]{{16,}}")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_COMPAT_RUN = re.compile("[\uff01-\uff5e\U0001d400-\U0001d7ff]{3,}")
_DATA_URL = re.compile(r"data:[\w/+.-]+(?:;[\w=.-]+)*;base64,[A-Za-z0-9+/=\s]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_B64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX_PLAIN = re.compile(r"(?<![0-9A-Za-z])(?:[0-9a-fA-F]{2}){8,}(?![0-9A-Za-z])")
_HEX_ESCAPED = re.compile(r"(?:(?:\\x|0x)[0-9a-fA-F]{2}[\s,]*){6,}")
_HEX_SPACED = re.compile(r"(?<![0-9A-Za-z])(?:[0-9a-fA-F]{2}[ :]){6,}[0-9a-fA-F]{2}(?![0-9A-Za-z])")
_PCT = re.compile(
    r"(?:%[0-9a-fA-F]{2}|[A-Za-z0-9._~+-]){0,40}(?:%[0-9a-fA-F]{2}[A-Za-z0-9._~+-]*){3,}"
)
_TOKEN = re.compile(r"\S+")
_SENTENCE = re.compile(r"[^\n.!?]{16,}[.!?]?")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                       "$": "s", "8": "b", "9": "g", "!": "i", "|": "l"})  # fmt: skip
_LEET_WORD = re.compile(r"[A-Za-z013457@$8|!9]{3,32}")  # a whitespace token, punctuation trimmed
_LEET_DIGIT = re.compile(r"[013457@$]")
_ALPHA = re.compile(r"[A-Za-z]")


def _printable_share(s: str) -> float:
    if not s:
        return 0.0
    good = sum(ch.isprintable() or ch in "\n\r\t" for ch in s)
    return good / len(s)


def _as_text(raw: bytes) -> str | None:
    """``raw`` as UTF-8 text when it reads as text (mostly printable, some letters)."""
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    letters = sum(ch.isalpha() for ch in s)
    if len(s) < 4 or _printable_share(s) < 0.95 or letters < 0.5 * len(s.replace(" ", "")):
        return None
    return s


def _b64_decode(token: str) -> tuple[str, str] | None:
    urlsafe = "-" in token or "_" in token
    body = token.rstrip("=")
    if len(body) % 4 == 1:
        return None
    padded = body + "=" * (-len(body) % 4)
    try:
        raw = (base64.urlsafe_b64decode if urlsafe else base64.b64decode)(padded)
    except (binascii.Error, ValueError):
        return None
    text = _as_text(raw)
    if text is None:
        return None
    return ("base64url" if urlsafe else "base64", text)


def _lm_gain(original: str, transformed: str) -> float:
    """How many nats per character more English-like ``transformed`` is than ``original``."""
    from openward.guard.detectors._charlm import CharLM

    lm = CharLM.default()
    return lm.logprob_per_char(transformed.lower()) - lm.logprob_per_char(original.lower())


def _lm_gains(pairs: list[tuple[str, str]]) -> list[float]:
    """:func:`_lm_gain` of many pairs at once: each side's texts are read by the model as one
    text joined by line breaks (two model calls instead of two per pair; a text's first
    characters see the line break before them as context, which changes its mean by little)."""
    if not pairs:
        return []
    from openward.guard.detectors._charlm import CharLM

    lm = CharLM.default()
    means: list[list[float]] = []
    for side in (1, 0):
        texts = [p[side].lower() for p in pairs]
        lp = lm.char_logprobs("\n".join(texts))
        csum = np.concatenate([[0.0], np.cumsum(lp)])
        at, row = 0, []
        for t in texts:
            n = len(t)
            row.append(float(csum[at + n] - csum[at]) / n if n else 0.0)
            at += n + 1
        means.append(row)
    return [t - o for t, o in zip(means[0], means[1], strict=True)]


def _zero_width_bits(run: str) -> str | None:
    kinds = sorted(set(run))
    if len(kinds) != 2:
        return None
    bits = "".join("0" if ch == kinds[0] else "1" for ch in run)
    for order in (bits, bits.translate(str.maketrans("01", "10"))):
        raw = bytes(int(order[i : i + 8], 2) for i in range(0, len(order) - 7, 8))
        text = _as_text(raw)
        if text:
            return text
    return None


def _is_flag_sequence(text: str, start: int, end: int) -> bool:
    """An emoji subdivision flag: U+1F3F4, two to six tag letters/digits, U+E007F (the flags
    of England, Scotland and Wales are written this way)."""
    run = text[start:end]
    return (
        start > 0
        and text[start - 1] == "\U0001f3f4"
        and run.endswith("\U000e007f")
        and 3 <= len(run) <= 7
    )


def decode(text: str) -> list[Decoded]:
    """Every hidden or encoded span of ``text`` that decodes, in order of position."""
    found: list[Decoded] = []
    for m in _TAG_RUN.finditer(text):
        if _is_flag_sequence(text, m.start(), m.end()):
            continue
        inner = "".join(chr(ord(ch) - 0xE0000) for ch in m.group() if 0xE0020 <= ord(ch) <= 0xE007E)
        found.append(Decoded("tags", m.start(), m.end(), inner))
    for m in _VS_RUN.finditer(text):
        vals = []
        for ch in m.group():
            cp = ord(ch)
            vals.append(cp - 0xFE00 if cp <= 0xFE0F else cp - 0xE0100 + 16)
        decoded = _as_text(bytes(vals))
        if decoded:
            found.append(Decoded("variation-selectors", m.start(), m.end(), decoded))
    for m in _ZW_RUN.finditer(text):
        bits = _zero_width_bits(m.group())
        if bits:
            found.append(Decoded("zero-width", m.start(), m.end(), bits))
    for m in _ZW_IN_WORD.finditer(text):
        if m.group().isascii() or any(c.isascii() and c.isalpha() for c in m.group()):
            stripped = re.sub(f"[{_ZW}]", "", m.group())
            if any(c.isascii() and c.isalpha() for c in stripped):
                found.append(Decoded("zero-width", m.start(), m.end(), stripped))
    for m in _BIDI.finditer(text):
        found.append(Decoded("bidi", m.start(), m.end(), ""))
    found.extend(_homoglyphs(text))
    for m in _COMPAT_RUN.finditer(text):
        found.append(
            Decoded("compat", m.start(), m.end(), unicodedata.normalize("NFKC", m.group()))
        )
    found.extend(_encodings(text))
    found.extend(_transforms(text))
    found.extend(_morse(text))
    found.extend(_pig_latin(text))
    found.extend(_spaced(text))
    found.sort(key=lambda d: (d.start, d.end))
    return found


def _homoglyphs(text: str) -> list[Decoded]:
    if text.isascii():
        return []  # every look-alike of CONFUSABLES is outside ASCII
    out = []
    words = list(_WORD.finditer(text))
    latin_letters = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    all_letters = sum(1 for ch in text if ch.isalpha())
    mostly_latin = all_letters > 0 and latin_letters / all_letters >= 0.8
    for m in words:
        w = m.group()
        confusable = [ch for ch in w if ch in CONFUSABLES]
        if not confusable:
            continue
        latin = any(ch.isascii() for ch in w)
        others = [ch for ch in w if not ch.isascii() and ch not in CONFUSABLES]
        # a word that mixes scripts, or is made only of look-alikes inside Latin text
        if (latin and not others) or (mostly_latin and not others and len(w) >= 3):
            skeleton = "".join(CONFUSABLES.get(ch, ch) for ch in w)
            out.append(Decoded("homoglyph", m.start(), m.end(), skeleton))
    return out


def _encodings(text: str) -> list[Decoded]:
    out: list[Decoded] = []
    taken: list[tuple[int, int]] = []

    def free(s: int, e: int) -> bool:
        return all(e <= a or s >= b for a, b in taken)

    for m in _DATA_URL.finditer(text):
        out.append(Decoded("data-url", m.start(), m.end(), m.group().split(",", 1)[0]))
        taken.append(m.span())
    for m in _JWT.finditer(text):
        if free(*m.span()):
            parts = m.group().split(".")
            shown = []
            for p in parts[:2]:
                got = _b64_decode(p)
                shown.append(got[1] if got else "")
            out.append(Decoded("jwt", m.start(), m.end(), ".".join(shown)))
            taken.append(m.span())
    for rx, kind in ((_HEX_ESCAPED, "hex"), (_HEX_SPACED, "hex"), (_HEX_PLAIN, "hex")):
        for m in rx.finditer(text):
            if not free(*m.span()):
                continue
            digits = re.sub(r"\\x|0x|[\s,:]", "", m.group())
            try:
                raw = bytes.fromhex(digits)
            except ValueError:
                continue
            decoded = _as_text(raw)
            if decoded:
                out.append(Decoded(kind, m.start(), m.end(), decoded))
                taken.append(m.span())
    for m in _B64.finditer(text):
        tok = m.group()
        if not free(*m.span()) or not _looks_base64(tok):
            continue
        got = _b64_decode(tok)
        if got:
            out.append(Decoded(got[0], m.start(), m.end(), got[1]))
            taken.append(m.span())
    for m in _PCT.finditer(text):
        if not free(*m.span()):
            continue
        decoded = urllib.parse.unquote(m.group())
        if decoded != m.group() and sum(c.isalpha() for c in decoded) >= 3:
            out.append(Decoded("url", m.start(), m.end(), decoded))
    return out


def _looks_base64(tok: str) -> bool:
    """Not a word, path or identifier: base64 of text mixes cases and digits."""
    has_upper = any(c.isupper() for c in tok)
    has_lower = any(c.islower() for c in tok)
    has_digit = any(c.isdigit() for c in tok)
    return has_upper and has_lower and (has_digit or tok.endswith("=") or len(tok) >= 24)


_MORSE_CODES: Final = (
    ".- -... -.-. -.. . ..-. --. .... .. .--- -.- .-.. -- -. --- .--. --.- .-. ... - "
    "..- ...- .-- -..- -.-- --.. ----- .---- ..--- ...-- ....- ..... -.... --... "
    "---.. ----. .-.-.- --..-- ..--.. -.-.-- -..-. .----."
)
_MORSE: Final = dict(
    zip(_MORSE_CODES.split(), "abcdefghijklmnopqrstuvwxyz0123456789.,?!/'", strict=True)
)
_MORSE_RUN = re.compile(r"(?<![\w.-])(?:[.-]{1,7}(?:\s*/\s*|\s+)){4,}[.-]{1,7}(?![\w.-])")
_PIG_WORD = re.compile(r"\b[a-z]+(?:yay|[b-df-hj-np-tv-z]{1,3}ay)\b", re.I)


def _morse(text: str) -> list[Decoded]:
    out = []
    for m in _MORSE_RUN.finditer(text):
        words = re.split(r"\s*/\s*|\s{2,}", m.group().strip())
        decoded = " ".join(
            "".join(_MORSE.get(code, "?") for code in word.split()) for word in words
        )
        if decoded.count("?") <= len(decoded) // 10 and sum(c.isalpha() for c in decoded) >= 4:
            out.append(Decoded("morse", m.start(), m.end(), decoded))
    return out


# Twelve or more single letters, each followed by one separator (space, dot, hyphen, underscore,
# asterisk, pipe); a wider gap, a slash or a separator and a space marks a word break.
_SPACED_RUN = re.compile(
    r"(?<![A-Za-z0-9])(?:[A-Za-z](?:[.\-_*|][ ]{1,3}|[ ]{2,4}|[ ]?/[ ]?|[ .\-_*|])){11,}"
    r"[A-Za-z](?![A-Za-z0-9])"
)
_SPACED_BREAK = re.compile(r"[.\-_*|][ ]+|[ ]{2,}|[ ]?/[ ]?")


@cache
def _word_set() -> frozenset[str]:
    from openward.guard.detectors.perplexity import english_words

    return english_words()


def _segment(letters: str, words: frozenset[str]) -> str:
    """``letters`` split into words of ``words`` with the fewest pieces (an unknown letter
    costs three words); as it was when the word list is empty."""
    if not words:
        return letters
    n = len(letters)
    best: list[tuple[float, int]] = [(0.0, 0)] + [(float("inf"), 0)] * n
    for i in range(1, n + 1):
        for j in range(max(0, i - 20), i):
            piece = letters[j:i]
            cost = (
                1.0
                if (piece in words and (len(piece) > 1 or piece in "ai"))
                else (3.0 if i - j == 1 else float("inf"))
            )
            c = best[j][0] + cost
            if c < best[i][0]:
                best[i] = (c, j)
    out, i = [], n
    while i > 0:
        j = best[i][1]
        out.append(letters[j:i])
        i = j
    return " ".join(reversed(out))


SPACED_SEGMENT_LETTERS: Final = 160
"""Letters of unbroken spelled-out runs split into words per text at most (the split is a
dynamic programme over the word list; the rest of a longer run is read as one string)."""


def _spaced(text: str) -> list[Decoded]:
    out = []
    budget = SPACED_SEGMENT_LETTERS
    for m in _SPACED_RUN.finditer(text):
        run = m.group()
        groups = [re.sub(r"[^A-Za-z]", "", g) for g in _SPACED_BREAK.split(run)]
        groups = [g for g in groups if g]
        if len(groups) == 1 and budget > 0:
            head, rest = groups[0][:budget], groups[0][budget:]
            budget -= len(head)
            split = _segment(head.lower(), _word_set()) + (" " + rest if rest else "")
            pieces = split.split()
            lone = sum(1 for w in pieces if len(w) == 1 and w not in "ai")
            plain = split if lone <= len(head) // 10 else groups[0]
        else:
            plain = " ".join(groups)
        out.append(Decoded("spaced", m.start(), m.end(), plain))
    return out


def _unpig(word: str) -> str:
    """The English word a Pig Latin word most likely came from (by the char LM)."""
    low = word.lower()
    if low.endswith("yay"):
        return low[:-3]
    stem = low[:-2]
    candidates = [stem[-k:] + stem[:-k] for k in (1, 2, 3) if len(stem) > k]
    if not candidates:
        return stem
    from openward.guard.detectors._charlm import CharLM

    lm = CharLM.default()
    return max(candidates, key=lambda c: lm.logprob_per_char(f" {c} "))


def _pig_latin(text: str) -> list[Decoded]:
    out = []
    for m in _SENTENCE.finditer(text):
        words = re.findall(r"[A-Za-z]+", m.group())
        pig = _PIG_WORD.findall(m.group())
        if len(words) >= 4 and len(pig) >= 0.7 * len(words):
            plain = _PIG_WORD.sub(lambda w: _unpig(w.group()), m.group())
            if _lm_gain(m.group(), plain) >= 0.3:
                out.append(Decoded("pig-latin", m.start(), m.end(), plain.strip()))
    return out


_ASCII_LETTER: Final = re.compile(r"[A-Za-z]")


def _transforms(text: str) -> list[Decoded]:
    """rot13, reversed and leetspeak sentences: kept when the transformed text is much more
    English-like (>= 0.9 nats/char better under the char LM) and says something."""
    out: list[Decoded] = []
    found: list[tuple[str, int, int, str, str]] = []  # kind, start, end, original, transformed
    for m in _SENTENCE.finditer(text):
        s = m.group().strip()
        letters = len(_ASCII_LETTER.findall(s))
        if letters < 12 or letters < 0.6 * len(s):
            continue
        for kind, t in (("rot13", codecs.encode(s, "rot13")), ("reversed", s[::-1])):
            found.append((kind, m.start(), m.end(), s, t))
    gains = _lm_gains([(s, t) for _k, _a, _b, s, t in found])
    for (kind, a, b, _s, t), gain in zip(found, gains, strict=True):
        if gain >= 0.9:
            out.append(Decoded(kind, a, b, t))
    leet: list[tuple[int, int]] = []
    for m in _TOKEN.finditer(text):
        word = m.group().strip(".,;:?\"'()")
        if _LEET_WORD.fullmatch(word) and _ALPHA.search(word) and _LEET_DIGIT.search(word):
            at = m.start() + m.group().find(word)
            leet.append((at, at + len(word)))
    if len(leet) >= 3:
        start, end = leet[0][0], leet[-1][1]
        span = text[start:end]
        parts, pos = [], start
        for a, b in leet:
            parts += [text[pos:a], text[a:b].translate(_LEET)]
            pos = b
        plain = "".join(parts)
        if _lm_gain(span, plain) >= 0.5:
            out.append(Decoded("leetspeak", start, end, plain))
    return out


# --- scoring ---------------------------------------------------------------------------------

_HARMLESS_KINDS: Final = frozenset({"data-url", "jwt"})


def _score(d: Decoded) -> float:
    if d.kind == "tags":
        if not d.text.strip():
            return 0.5  # tag characters with nothing to say (flag emoji sequences use them)
        return 0.99 if instruction_score(d.text) >= 0.5 else 0.95
    if d.kind in _HARMLESS_KINDS:
        return 0.1
    if d.kind == "bidi":
        return 0.35  # raised by the detector when the text has no right-to-left letters
    if d.kind == "homoglyph":
        words = {w.lower() for w in _WORD.findall(d.text)}
        return 0.9 if words & _INJECTION_WORDS else 0.6
    if d.kind == "variation-selectors":
        return max(0.9, instruction_score(d.text))
    instr = instruction_score(d.text)
    if instr >= 0.5:
        return 0.9 if instr >= 0.7 else 0.75
    if d.kind in ("zero-width", "compat"):
        return 0.55 if d.kind == "zero-width" else 0.4
    return 0.3


def _reveal(text: str, found: list[Decoded]) -> str:
    """``text`` with each in-word finding replaced by its decoded form."""
    out = []
    pos = 0
    for d in sorted(found, key=lambda d: d.start):
        if d.start < pos or (d.kind == "zero-width" and d.end - d.start > 64):
            continue
        out.append(text[pos : d.start])
        out.append(d.text)
        pos = d.end
    out.append(text[pos:])
    return "".join(out)


@dataclass(frozen=True)
class _Kind:
    """One kind of finding in a text: its best span's score and decoding, how many spans."""

    kind: str
    score: float
    best: Decoded
    count: int


def read_text(text: str) -> tuple[_Kind, ...]:
    """What the detector finds in ``text``, by kind (it depends on the text alone)."""
    by_kind: dict[str, list[tuple[float, Decoded]]] = {}
    for d in decode(text):
        by_kind.setdefault(d.kind, []).append((_score(d), d))
    # look-alike letters and invisible characters inside words hide words: read the
    # text with them undone, and if only then does it say "ignore the instructions",
    # that is what they were for
    inside = [k for k in ("homoglyph", "zero-width", "compat") if k in by_kind]
    if inside:
        revealed = _reveal(text, [d for k in inside for _s, d in by_kind[k]])
        if instruction_score(revealed) >= 0.9 > instruction_score(text):
            for k in inside:
                by_kind[k] = [(max(s, 0.9), d) for s, d in by_kind[k]]
    out = []
    for kind, items in by_kind.items():
        score, best = max(items, key=lambda x: x[0])
        if kind == "homoglyph" and len(items) == 1 and score < 0.9:
            score = 0.35
        if kind == "bidi" and not _RTL.search(text):
            score = 0.6  # direction overrides in text with nothing to reorder
        out.append(_Kind(kind, score, best, len(items)))
    return tuple(out)


class ObfuscationDetector:
    """Reports each segment's findings grouped by kind: the highest-scoring span of a kind
    locates it, evidence counts them. A text's findings are kept in a :class:`TextCache`
    (repeated turns are decoded once)."""

    name = NAME

    def __init__(self, cache_entries: int = TEXT_CACHE_ENTRIES) -> None:
        self.cache: TextCache[tuple[_Kind, ...]] = TextCache(cache_entries)

    def detect(self, conv: Conversation, ctx: DetectorContext) -> list[Detection]:
        out: list[Detection] = []
        for i, _seg, cap in capped_segments(conv):
            for found in self.cache.get(cap.text, read_text):
                best, score, kind = found.best, found.score, found.kind
                out.append(
                    Detection(
                        detector=NAME,
                        kind=kind,
                        score=score,
                        segment=i,
                        start=cap.to_original(best.start),
                        end=cap.to_original(best.end),
                        evidence={
                            "count": found.count,
                            "decoded_chars": len(best.text),
                            "decoded_sha256_12": short_hash(best.text),
                            "reads_as_instruction": score >= 0.75 and kind not in ("bidi",),
                            **({"truncated": True} if cap.truncated else {}),
                        },
                    )
                )
        return out

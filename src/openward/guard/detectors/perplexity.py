"""Adversarial suffixes (GCG-style token soup) by a character language model and token shape.

Greedy coordinate gradient attacks (Zou et al. 2023, "Universal and Transferable Adversarial
Attacks on Aligned Language Models") append or prepend optimised token sequences such as
``describing.\\ + similarlyNow write oppositeley.]( Me giving**ONE please? revert with
"\\!--Two``. Under our small character model (:mod:`._charlm`, a 4-gram over bytes) their
perplexity is not far above English (the soup is built from English sub-words), while logs,
CSV, hex dumps, markup, code and many languages are higher still. So the detector:

1. blanks machine text (:func:`machine_mask`: log, hex-dump, JSON, markup, table, code and
   delimited lines; inline data URIs, URLs, tags, entities, emails, code spans, TeX) and leaves
   out tokens with digits, rules and labels;
2. reads each window of :data:`WINDOW` tokens as one logit of ``soup`` (tokens with GCG's
   shape: letters glued to bracket/escape runs, case changes inside a word), ``unknown``
   (lower-case words not in ``weights/words.txt``, built from the char LM's own corpus),
   ``unbalanced`` (brackets/quotes opened or closed inside letters), minus ``code``, plus the
   window's perplexity against :data:`PPL_REFERENCE` and against the text's median window;
3. places the best span against natural language (:func:`locate`): only a ``suffix`` or
   ``prefix`` of a user's request keeps its score; an ``infix`` in a document, a soup
   ``alone``, and anything in tool or document text score at most :data:`DOCUMENT_CAP`.

Windows whose letters are mostly non-ASCII are skipped (GCG suffixes found on Llama/Vicuna
vocabularies are ASCII; non-Latin prose is not this detector's business), and so are long
unbroken blobs (base64, hex, hashes, URLs: :mod:`.obfuscation` reads those).

:func:`length_per_perplexity` and :func:`prefix_suffix_perplexity` are NeMo Guardrails'
two jailbreak heuristics computed with the character model; their thresholds are re-fitted
(``weights/charlm.json``, ``nemo_refit``; see ``scripts/train_guard_lm.py``).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Final

import numpy as np

from openward.guard.detectors._charlm import WEIGHTS_DIR, CharLM
from openward.guard.detectors._common import TEXT_CACHE_ENTRIES, TextCache, capped_segments
from openward.guard.types import Conversation, Detection, DetectorContext

__all__ = [
    "DOCUMENT_CAP",
    "AdversarialSuffixDetector",
    "CharLM",
    "english_words",
    "length_per_perplexity",
    "locate",
    "machine_mask",
    "nemo_thresholds",
    "prefix_suffix_perplexity",
    "suffix_windows",
]

NAME: Final = "adversarial-suffix"
WINDOW: Final = 12  # whitespace tokens per window (NeMo's prefix/suffix read 19 words)
MIN_TOKENS: Final = 6  # shorter texts carry no optimised suffix worth the name
PPL_REFERENCE: Final = 16.0  # per-char perplexity of unremarkable text under the char LM
NON_ASCII_SKIP: Final = 0.2  # skip windows with more than this share of non-ASCII letters
MIN_PROSE: Final = 3  # dictionary words on a side for it to count as natural language
DOCUMENT_CAP: Final = 0.45  # the most an infix, a lone soup or a non-user span scores

# logit = SOUP_W*soup + UNK_W*unknown + BRACKET_W*unbalanced - CODE_W*code
#         + PPL_W*(1-code)*ln(ppl/ref) + SELF_W*ln(ppl/median) + BIAS
SOUP_W: Final = 7.0
UNK_W: Final = 3.0
BRACKET_W: Final = 3.0
CODE_W: Final = 7.0
PPL_W: Final = 1.5
SELF_W: Final = 0.5
BIAS: Final = -2.4
SLOPE: Final = 2.0  # score = sigmoid(SLOPE * logit)
UNKNOWN_ENGLISH: Final = 0.15  # share of unlisted words an English window may hold

WORDS_FILE: Final = WEIGHTS_DIR / "words.txt"

_TOKEN = re.compile(r"\S+")
_BLOB = re.compile(
    r"^(?:[A-Za-z0-9+/=_\-.:%?&#~@,;]{20,}|(?:0x)?[0-9a-fA-F]{8,}[,;.]?|[a-z]+://\S+)$"
)
_SOUP = re.compile(
    r"[A-Za-z][^\w\s'’\-,.:;!?]+[A-Za-z]"  # letters around a symbol run: oppositeley.](Me
    r"|[^\w\s]{2,}[A-Za-z]"  # a symbol run into letters: **ONE, ([github
    r"|[A-Za-z][^\w\s]*[\\\[\]{}@*^|<>~`][^\w\s]*"  # letters into brackets/escapes: surely]{\
)
# a case change inside a word that starts lower-case (similarlyNow, githubINST) or capitals
# running into lower case mid-word (SureBEtera); brand names (ChatGPT, OpenAI) do neither
_CAMEL = re.compile(r"^\W*[a-z]{2,}[A-Z]|[a-z][A-Z]{2,}[a-z]|[A-Z]{2,}[a-z]{2,}[A-Z]")
_WRAPPED = re.compile(r"^[\[({<\"'*_]*[\w'’-]+[\])}>\"'*_]*[.,:;!?]*$")  # [City], **bold**
_CODE = re.compile(
    r"^(?:[{\[(]*[\"'][^\"']*[\"'][:,\]})]*"  # JSON-ish strings and keys
    r"|[\w.]+\(.*\)[,;:]?"  # calls
    r"|.*[=;]$|[=|&<>+*/%-]{1,3}"  # assignments, statements, operators
    r"|-{1,2}[a-zA-Z][\w-]*|\$\w+|\\[a-zA-Z]+[{\[]?.*"  # flags, variables, LaTeX commands
    r"|def|elif|const|var|function|fn|pub|SELECT|WHERE|JOIN|echo|sudo|grep)$"  # not English
)
_CORE = re.compile(r"[A-Za-z]+")
_DATA = re.compile(r"\d")  # numbers, amounts, ids, dates: data, not a token soup
_RULE = re.compile(r"^[^\w\s]{4,}$|^[A-Za-z]{1,12}:$")  # ----, ......, ====, labels (Q: A:)
_PROSE_WORD = re.compile(r"^[\"'(“‘]?[A-Za-z][a-z]*(?:['’][a-z]+)?[\"')”’.,;:!?]*$")

# Machine text, line by line: logs, hex dumps, JSON, markup, tables, code.
_LOG_LINE = re.compile(
    r"^\s*(?:\[?\d{4}-\d\d-\d\d[T _]\d|\[?\d{1,2}:\d\d:\d\d|[A-Z][a-z]{2} +\d{1,2} \d\d:"
    r"|##\[|\[?(?:INFO|DEBUG|WARN(?:ING)?|ERROR|TRACE|FATAL|CRITICAL|NOTICE)\b\]?"
    r"|npm (?:ERR|WARN)!|[EWIDF]\d{4} \d\d:|\d+\.\d+\s*(?:ms|s)\b)"
)
_HEX_LINE = re.compile(r"^\s*(?:0x)?[0-9A-Fa-f]{4,16}:?\s+(?:[0-9A-Fa-f]{2,8}\s+){3,}")
_CODE_LINE = re.compile(
    r"^\s*(?:def|class|import|from\s+\S+\s+import|return|elif|else:|try:|except|const|let|"
    r"var|function|#include|#define|public|private|static|package|using|SELECT|INSERT|"
    r"UPDATE|CREATE|\$|>>>|\.\.\.|@\w+)\b|[;{}\[(]\s*$|\)\s*:\s*$|^\s*[}\])]|^\s*//|^\s*/\*"
    r"|^\s*[\w.\[\]'\"]+\s*[+\-*/]?=\s*\S|^\s{4,}\S.*[(){}\[\]=;:]"
)
_TAG = re.compile(r"</?[A-Za-z][\w:-]*(?:\s[^<>]{0,500})?/?>|<!--.*?-->|<!DOCTYPE[^>]*>", re.S)
# inline machine spans inside prose: data URIs, URLs, tags, entities, emails, code in backticks
_INLINE = re.compile(
    r"```.*?(?:```|$)|`[^`\n]+`|data:[\w.+-]+/[\w.+-]+(?:;[\w=.-]+)*,\S*"
    # a URL or an email starts where a run of its characters starts (possessive runs): tried at
    # every character of a long run, both took time quadratic in it ("a" * 4 000: 0.2 s)
    r"|(?<![\w+.-])[A-Za-z][\w+.-]*+://\S+|www\.\S+|<!--.*?-->"
    r"|</?[A-Za-z][\w:-]*(?:\s[^<>]{0,500})?/?>"
    r"|&#?\w{1,10};|(?<![\w.+-])[\w.+-]++@[\w-]++(?:\.[\w-]+)+|\$[^$\n]{1,300}\$",
    re.S,
)
_DELIMS: Final = (",", "\t", ";", "|")


@cache
def english_words() -> frozenset[str]:
    """The word list (``weights/words.txt``, built by ``scripts/build_guard_words.py`` from the
    char LM's training corpus); empty when the file is missing (the feature then reads 0)."""
    try:
        return frozenset(WORDS_FILE.read_text(encoding="utf-8").split())
    except OSError:
        return frozenset()


def _known(word: str, words: frozenset[str]) -> bool:
    w = word.lower()
    if w in words or len(w) <= 2:
        return True
    for end, back in (
        ("s", ""),
        ("es", ""),
        ("ed", ""),
        ("ed", "e"),
        ("ing", ""),
        ("ing", "e"),
        ("ly", ""),
        ("er", ""),
        ("est", ""),
        ("ies", "y"),
        ("ied", "y"),
        ("'s", ""),
    ):
        if w.endswith(end) and w[: -len(end)] + back in words:
            return True
    return False


def _line_is_machine(line: str) -> bool:
    stripped = line.strip()
    if not stripped:
        return False
    if _LOG_LINE.match(line) or _HEX_LINE.match(line) or _CODE_LINE.search(line):
        return True
    if stripped[0] in "{[" and re.search(r"[\"']\s*:|[\]}],?\s*$|\"\s*,", stripped):
        return True  # JSON, Python literals
    if len(re.findall(r"\"[^\"\n]{1,40}\"\s*:\s*[\"\[{\d\-tfn]", stripped)) >= 2:
        return True  # "key": value pairs
    if stripped.startswith("|") and stripped.count("|") >= 2:
        return True  # a markdown table row
    tags = sum(len(m.group()) for m in _TAG.finditer(stripped))
    return tags >= 0.3 * len(stripped) or (stripped.startswith("<") and stripped.endswith(">"))


def machine_mask(text: str) -> list[tuple[int, int]]:
    """The spans of ``text`` that are machine text rather than someone's words: whole lines of
    logs, hex dumps, JSON, markup, tables, code and delimited rows (CSV/TSV: two or more
    adjacent lines with the same count of one delimiter), and inline data URIs, URLs, tags,
    entities, emails, inline code and TeX. The detector does not read them: their perplexity
    is high by nature."""
    spans: list[tuple[int, int]] = []
    lines: list[tuple[int, int, str]] = []
    at = 0
    for line in text.split("\n"):
        lines.append((at, at + len(line), line))
        at += len(line) + 1
    counts = [{d: line.count(d) for d in _DELIMS} for _a, _b, line in lines]
    for k, (a, b, line) in enumerate(lines):
        machine = _line_is_machine(line)
        if not machine:
            for d in _DELIMS:
                n = counts[k][d]
                if n < 2:
                    continue
                near = [counts[j][d] for j in (k - 1, k + 1) if 0 <= j < len(lines)]
                fields = line.split(d)
                if n in near and sum(len(f) for f in fields) / len(fields) <= 40:
                    machine = True
                    break
        if machine:
            spans.append((a, b))
    spans.extend(m.span() for m in _INLINE.finditer(text))
    return spans


@dataclass(frozen=True)
class SuffixWindow:
    """One window's reading: character offsets, perplexity, shape fractions and score."""

    start: int
    end: int
    perplexity: float
    soup: float
    code: float
    score: float
    unknown: float = 0.0
    unbalanced: float = 0.0
    first_token: int = 0  # index of its first token among the tokens read


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


def _unbalanced(tok: str) -> bool:
    """A bracket or quote opened or closed inside a token and not matched there: ``]( ``,
    ``{\\comment={[@``, ``"\\!--Two``."""
    if tok.count('"') % 2 or tok.count("“") != tok.count("”"):
        return any(c.isalpha() for c in tok) and not (tok[0] in '"“' or tok[-1] in '"”.,;:!?')
    for o, c in ("()", "[]", "{}"):
        if tok.count(o) != tok.count(c):
            core = tok.strip(".,;:!?\"'")
            # "(see", "word)" wrap words in prose; a bracket between symbols or mid-token
            # does not
            if not (core[:1] == o and core[1:2].isalnum()) and not (
                core[-1:] == c and core[-2:-1].isalnum()
            ):
                return True
    return False


def _tokens(text: str) -> tuple[list[re.Match[str]], str]:
    """The tokens the detector reads (machine text, blobs, numbers and rules left out) and
    the text with the machine spans blanked."""
    spans = machine_mask(text)
    if spans:
        chars = list(text)
        for a, b in spans:
            for k in range(a, b):
                if chars[k] != "\n":
                    chars[k] = " "
        masked = "".join(chars)
    else:
        masked = text
    toks = [m for m in _TOKEN.finditer(masked) if _read_token(m.group())]
    return toks, masked


@lru_cache(maxsize=1 << 16)
def _read_token(tok: str) -> bool:
    """Whether the detector reads a token: not a blob, a number or a rule (kept per token)."""
    return not _BLOB.match(tok) and not _DATA.search(tok) and not _RULE.match(tok)


@lru_cache(maxsize=1 << 16)
def _token_features(tok: str) -> tuple[float, float, float, float, float, float]:
    """One token's shape: soup, code, unknown, unbalanced (each 0 or 1), its letters and its
    non-ASCII letters. A function of the token alone (and the word list), so it is kept per
    token: prose repeats its words, and a text's cost is mostly these regular expressions."""
    words = english_words()
    camel = bool(_CAMEL.search(tok))
    soup = camel or (bool(_SOUP.search(tok)) and not _WRAPPED.match(tok))
    code = bool(_CODE.match(tok))
    unknown = (
        bool(words)
        and any(not _known(c, words) for c in _CORE.findall(tok) if len(c) >= 3)
        and not tok[:1].isupper()  # names and sentence starts are not fragments
    ) or camel
    letters = sum(c.isalpha() for c in tok)
    foreign = sum(c.isalpha() and ord(c) > 127 for c in tok)
    return (float(soup), float(code), float(unknown), float(_unbalanced(tok)), float(letters),
            float(foreign))  # fmt: skip


def suffix_windows(text: str, lm: CharLM | None = None) -> list[SuffixWindow]:
    """Every window's reading (empty for texts of fewer than :data:`MIN_TOKENS` tokens)."""
    lm = lm or CharLM.default()
    toks, _masked = _tokens(text)
    n = len(toks)
    if n < MIN_TOKENS:
        return []
    # the model reads the text case-folded (an all-caps sentence is not a token soup; the
    # case changes GCG makes are counted by their shape) and judges ASCII only: other
    # characters (emoji, accents, other scripts) add nothing to a window's perplexity
    folded = text.lower()
    lp = lm.char_logprobs(folded if len(folded) == len(text) else text)
    ascii_char = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4") < 128
    csum = np.concatenate([[0.0], np.cumsum(np.where(ascii_char, lp, 0.0))])
    cnt = np.concatenate([[0], np.cumsum(ascii_char)])
    starts = np.array([m.start() for m in toks])
    ends = np.array([m.end() for m in toks])
    tok_lp = csum[ends] - csum[starts]
    tok_len = (cnt[ends] - cnt[starts]).astype(np.float64)
    strs = [m.group() for m in toks]
    # columns: soup, code, unknown, unbalanced, letters, foreign (see _token_features)
    feats = np.array([_token_features(t) for t in strs], dtype=np.float64).reshape(-1, 6)
    soup, code, unknown = feats[:, 0], feats[:, 1], feats[:, 2]
    unbalanced, letters, foreign = feats[:, 3], feats[:, 4], feats[:, 5]
    w = min(WINDOW, n)

    def win(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        c = np.concatenate([[0.0], np.cumsum(a)])
        out: np.ndarray[Any, Any] = c[w:] - c[:-w]
        return out

    ppl = np.exp(-win(tok_lp) / np.maximum(win(tok_len), 1.0))
    soup_f, code_f = win(soup) / w, win(code) / w
    unk_f, unb_f = win(unknown) / w, win(unbalanced) / w
    keep = win(foreign) <= NON_ASCII_SKIP * np.maximum(win(letters), 1.0)
    if not keep.any():
        return []
    median = float(np.median(ppl[keep]))
    # a text's own rate of words the English list lacks (a Dutch or Welsh message is all
    # "unknown"): past what English prose has (UNKNOWN_ENGLISH), only a window's excess over
    # the text's most ordinary window counts
    base_unknown = max(0.0, float(unk_f[keep].min()) - UNKNOWN_ENGLISH)
    out = []
    for i in np.flatnonzero(keep).tolist():
        logit = (
            SOUP_W * soup_f[i]
            + UNK_W * (unk_f[i] - base_unknown)
            + BRACKET_W * unb_f[i]
            - CODE_W * code_f[i]
            + PPL_W * (1.0 - code_f[i]) * math.log(ppl[i] / PPL_REFERENCE)
            + SELF_W * math.log(ppl[i] / median)
            + BIAS
        )
        out.append(
            SuffixWindow(
                start=int(starts[i]),
                end=int(ends[i + w - 1]),
                perplexity=float(ppl[i]),
                soup=float(soup_f[i]),
                code=float(code_f[i]),
                score=_sigmoid(SLOPE * logit),
                unknown=float(unk_f[i]),
                unbalanced=float(unb_f[i]),
                first_token=i,
            )
        )
    return out


NATURAL_SHARE: Final = 0.75  # of a side's tokens that must be plain words to read as language


END_RUN: Final = 4  # plain words that must close a text for what follows a soup to be language


def _natural_words(text: str, lo: int, hi: int, edge: str) -> int:
    """Whether natural language stands in ``text[lo:hi]`` (machine text left out): the number
    of plain word-shaped tokens in it (letters, an apostrophe, punctuation around; no symbol
    glued inside, no case change), or 0 when that is not language. Before a soup
    (``edge="start"``): when they are :data:`NATURAL_SHARE` of its tokens or 3+ open it. After
    one (``"end"``): when they are that share *and* :data:`END_RUN` of them close it; the
    rest of a soup made of English words (``under next tutorial Format dla "# soit
    background scenario``) is not language, the sentence a document goes on with is."""
    toks, _masked = _tokens(text[lo:hi]) if hi > lo else ([], "")
    flags = [bool(_PROSE_WORD.match(m.group())) and not _CAMEL.search(m.group()) for m in toks]
    plain = sum(flags)
    run = 0
    for f in flags if edge == "start" else reversed(flags):
        if not f:
            break
        run += 1
    share = plain >= NATURAL_SHARE * len(toks)
    if edge == "end":
        return plain if share and run >= END_RUN else 0
    return plain if share or run >= MIN_PROSE else 0


def locate(text: str, windows: list[SuffixWindow]) -> tuple[str, int, int, SuffixWindow]:
    """Where the soup sits: the run of windows scoring at least half the best one around the
    best, trimmed to its odd tokens; ``kind`` ``suffix`` (natural language before it, none
    after), ``prefix`` (the reverse), ``infix`` (both) or ``alone`` (neither)."""
    best = max(windows, key=lambda x: x.score)
    k = windows.index(best)
    lo = hi = k
    while lo > 0 and windows[lo - 1].score >= 0.35 * best.score:
        lo -= 1
    while hi + 1 < len(windows) and windows[hi + 1].score >= 0.35 * best.score:
        hi += 1
    start, end = windows[lo].start, windows[hi].end
    # trim plain words off both ends of the run: they are the request the soup is glued to
    toks, _masked = _tokens(text)
    inside = [m for m in toks if start <= m.start() and m.end() <= end]
    odd = [
        m
        for m in inside
        if not _PROSE_WORD.match(m.group())
        or _CAMEL.search(m.group())
        or (
            english_words()
            and not all(_known(c, english_words()) for c in _CORE.findall(m.group()))
        )
    ]
    if odd:
        start, end = odd[0].start(), odd[-1].end()
    before = _natural_words(text, 0, start, "start")
    after = _natural_words(text, end, len(text), "end")
    if before >= MIN_PROSE and after < MIN_PROSE:
        kind = "suffix"
    elif after >= MIN_PROSE and before < MIN_PROSE:
        kind = "prefix"
    elif before >= MIN_PROSE:
        kind = "infix"
    else:
        kind = "alone"
    return kind, start, end, best


@dataclass(frozen=True)
class _Reading:
    """What the detector reads in one text, whoever sent it: where the soup sits and its
    best window, the number of windows, the span's short hash."""

    kind: str
    start: int
    end: int
    best: SuffixWindow
    windows: int
    sha256_12: str


def read_text(text: str) -> _Reading | None:
    """The detector's reading of ``text`` (None: too short, or nothing it judges)."""
    if not text.strip():
        return None
    windows = suffix_windows(text)
    if not windows:
        return None
    kind, start, end, best = locate(text, windows)
    digest = hashlib.sha256(text[start:end].encode()).hexdigest()[:12]
    return _Reading(kind, start, end, best, len(windows), digest)


class AdversarialSuffixDetector:
    """Flags the highest-scoring span of each user or untrusted segment (``kind`` ``suffix``,
    ``prefix``, ``infix`` or ``alone`` by where it sits against natural language); only a
    ``suffix`` or ``prefix`` in a user turn scores above :data:`DOCUMENT_CAP`. Reports spans
    scoring at least ``report_from``; reads at most the per-request cap of text. A text's
    reading is kept in a :class:`TextCache` (repeated turns are read once)."""

    name = NAME

    def __init__(self, report_from: float = 0.2, cache_entries: int = TEXT_CACHE_ENTRIES) -> None:
        self.report_from = report_from
        self.cache: TextCache[_Reading | None] = TextCache(cache_entries)

    def detect(self, conv: Conversation, ctx: DetectorContext) -> list[Detection]:
        out: list[Detection] = []
        for i, seg, cap in capped_segments(conv):
            reading = self.cache.get(cap.text, read_text)
            if reading is None:
                continue
            best = reading.best
            score = best.score
            if reading.kind in ("infix", "alone") or seg.role != "user" or seg.untrusted:
                score = min(score, DOCUMENT_CAP)
            if score < self.report_from:
                continue
            evidence: dict[str, Any] = {
                "perplexity_per_char": round(best.perplexity, 2),
                "soup_fraction": round(best.soup, 3),
                "unknown_fraction": round(best.unknown, 3),
                "unbalanced_fraction": round(best.unbalanced, 3),
                "code_fraction": round(best.code, 3),
                "window_score": round(best.score, 3),
                "windows": reading.windows,
                "sha256_12": reading.sha256_12,
            }
            if cap.truncated:
                evidence["truncated"] = True
            out.append(
                Detection(
                    detector=NAME,
                    kind=reading.kind,
                    score=score,
                    segment=i,
                    start=cap.to_original(reading.start),
                    end=cap.to_original(reading.end),
                    evidence=evidence,
                )
            )
        return out


# --- NeMo Guardrails' jailbreak heuristics, on the character model ---------------------------


def _perplexity(text: str, lm: CharLM) -> float:
    return lm.perplexity(text) if text else 1.0


def length_per_perplexity(text: str, lm: CharLM | None = None) -> float:
    """NeMo's ``len(text) / perplexity(text)`` (its ``check_jb_lp`` statistic: long prompts
    that read fluently, like DAN-style role-play walls, score high), with per-character
    perplexity from the char LM instead of GPT-2-large token perplexity."""
    lm = lm or CharLM.default()
    return len(text) / _perplexity(text, lm) if text else 0.0


def prefix_suffix_perplexity(text: str, lm: CharLM | None = None) -> float:
    """NeMo's prefix/suffix statistic: the larger perplexity of the first 19 and of the 19
    words before the last (``split()[0:19]`` and ``split()[-20:-1]``, as NeMo slices them);
    0.0 for texts of fewer than 20 words (NeMo does not judge those)."""
    lm = lm or CharLM.default()
    words = text.strip().split()
    if len(words) < 20:
        return 0.0
    return max(_perplexity(" ".join(words[-20:-1]), lm), _perplexity(" ".join(words[0:19]), lm))


@cache
def nemo_thresholds() -> dict[str, float]:
    """The re-fitted thresholds for the two statistics (``weights/charlm.json``): NeMo's own
    (89.79 and 1845.65) are GPT-2-large token perplexities and do not apply here."""
    nemo = CharLM.default().meta.get("nemo_refit", {})
    return {
        name: float(nemo[name]["threshold"])
        for name in ("length_per_perplexity", "prefix_suffix_perplexity")
        if name in nemo
    }

"""The guard's trained prompt-injection / jailbreak classifier (numpy at run time).

Model: static token embeddings distilled from all-MiniLM-L6-v2 (each WordPiece token's
contextual embedding, model2vec-style, PCA-reduced and stored as int8 with a per-row scale),
a 1-D convolution over them (widths 2-4, ReLU), max-pooled over each window of tokens, and a
linear layer giving two independent probabilities: ``injection`` (an instruction aimed at the
model that does not come from its operator, directly or planted in a document or tool result)
and ``jailbreak`` (a prompt that tries to talk the model out of its rules).

Long texts are read in windows of :data:`WINDOW` tokens every :data:`STRIDE` tokens; a text's
score is its best window's, so an instruction planted in the middle of a 16 000-character
document is found where it is, and a long benign document is not flagged for its length. The
convolution runs once over the whole token sequence and each window only takes a maximum.

Work is capped: a segment is read up to :data:`MAX_CHARS` characters; a longer one is read as
evenly spaced slices (its head and tail included) that add up to that, and ``truncated`` is
reported in the evidence. Zero-width and other format characters (Unicode ``Cf``) are dropped
before tokenizing (their offsets are mapped back), so they cannot split a trigger phrase.

The weights (``weights/guard_clf.safetensors``, with ``guard_clf.json``: training data hashes,
hyper-parameters, thresholds and validation figures, and ``guard_clf_tokenizer.json``) are
written by ``scripts/train_guard.py`` (``make train-guard``). No torch here.
"""

from __future__ import annotations

import json
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from openward.guard.detectors._common import TEXT_CACHE_ENTRIES, TextCache
from openward.guard.types import Conversation, Detection, DetectorContext

WEIGHTS_DIR: Final = Path(__file__).parent / "weights"
WEIGHTS_FILE: Final = WEIGHTS_DIR / "guard_clf.safetensors"
META_FILE: Final = WEIGHTS_DIR / "guard_clf.json"
TOKENIZER_FILE: Final = WEIGHTS_DIR / "guard_clf_tokenizer.json"

LABELS: Final = ("injection", "jailbreak")
WINDOW: Final = 256
"""Tokens per window."""
STRIDE: Final = 192
"""Tokens between window starts (windows overlap by 64 tokens, so a planted instruction of up
to 64 tokens lies whole in some window)."""
MAX_CHARS: Final = 64_000
"""Characters of one segment read at most (about 80 windows); see the module docstring."""
SLICE_CHARS: Final = 8_000

F32 = npt.NDArray[np.float32]


def conv_relu(y: F32, widths: Sequence[int], filters: int, conv_b: Sequence[F32]) -> list[F32]:
    """The CNN's ReLU conv outputs per width from ``y``, the padded sequence already projected
    through every width's filter taps side by side (``y[p, col + j*filters ...]`` is tap ``j``
    of that width at padded position ``p``): ``out[w][t]`` reads positions ``t .. t+w-1``."""
    n = y.shape[0]
    outs, col = [], 0
    for wi, w in enumerate(widths):
        o = y[: n - w + 1, col : col + filters].copy()
        for j in range(1, w):
            o += y[j : n - w + 1 + j, col + j * filters : col + (j + 1) * filters]
        col += w * filters
        o += conv_b[wi]
        np.maximum(o, 0.0, out=o)
        outs.append(o)
    return outs


def token_windows(ntok: int, window: int, stride: int) -> list[tuple[int, int]]:
    """Token spans ``[start, end)`` of ``window`` tokens every ``stride``, the last one flush
    with the end, covering ``ntok`` tokens (one span when the text fits a window)."""
    if ntok <= window:
        return [(0, ntok)]
    starts = list(range(0, ntok - window + 1, stride))
    if starts[-1] + window < ntok:
        starts.append(ntok - window)
    return [(s, s + window) for s in starts]


@dataclass(frozen=True)
class WindowScore:
    """One window: its character span in the text and its two probabilities."""

    start: int
    end: int
    injection: float
    jailbreak: float


@dataclass(frozen=True)
class TextScore:
    """A text's scores (max over windows) and where the best window of each label lies:
    ``spans[label]`` is the part of that window the score comes from (character offsets),
    worked out on first use (most texts score under the thresholds and are never located)."""

    scores: dict[str, float]
    windows: int
    truncated: bool
    locate: Callable[[], dict[str, tuple[int, int]]] = field(repr=False, compare=False)

    @cached_property
    def spans(self) -> dict[str, tuple[int, int]]:
        return self.locate()


def _strip_format_chars(text: str) -> tuple[str, npt.NDArray[np.int64] | None]:
    """Drop Unicode format characters (zero-width space/joiners, bidi marks, BOM); returns the
    cleaned text and, when anything was dropped, each kept character's original index."""
    if text.isascii():
        return text, None
    keep = [i for i, c in enumerate(text) if unicodedata.category(c) != "Cf"]
    if len(keep) == len(text):
        return text, None
    return "".join(text[i] for i in keep), np.asarray([*keep, len(text)], dtype=np.int64)


def _read_safetensors(path: Path) -> dict[str, npt.NDArray[Any]]:
    from safetensors.numpy import load_file

    return dict(load_file(str(path)))


class GuardClassifier:
    """Scores text for injection and jailbreak. Thread-safe after construction."""

    def __init__(
        self,
        tensors: dict[str, npt.NDArray[Any]],
        meta: dict[str, Any],
        tokenizer_json: str,
        precompute: bool = True,
    ) -> None:
        from tokenizers import Tokenizer

        self.meta = meta
        q = tensors["embedding.q"].astype(np.float32)
        scale = tensors["embedding.scale"].astype(np.float32)
        self.emb: F32 = np.ascontiguousarray(q * scale[:, None])
        self.widths: tuple[int, ...] = tuple(int(w) for w in meta["model"]["widths"])
        self.filters = int(meta["model"]["filters"])
        d = self.emb.shape[1]
        # Conv weights as one (d, sum(w) * F) matrix: one matmul per text, then shifted adds.
        blocks: list[F32] = []
        for w in self.widths:
            k = tensors[f"conv{w}.weight"].astype(np.float32)  # (F, d, w), torch layout
            assert k.shape == (self.filters, d, w), k.shape
            blocks.extend(k[:, :, j].T for j in range(w))
        self.conv_w: F32 = np.ascontiguousarray(np.concatenate(blocks, axis=1))
        self.conv_b: list[F32] = [tensors[f"conv{w}.bias"].astype(np.float32) for w in self.widths]
        # Every token's product with the conv weights, computed once at load and rounded to
        # float16 (the scores the thresholds were fitted on), held as float32 (about 140 MB):
        # a text then costs a gather and shifted adds instead of a matmul (4-8x faster), and
        # no float16 -> float32 conversion per token (numpy converts halves one at a time:
        # that conversion was two thirds of a 2 000-character text's cost).
        self._proj: F32 | None = (
            (self.emb @ self.conv_w).astype(np.float16).astype(np.float32) if precompute else None
        )
        self.fc_w: F32 = tensors["fc.weight"].astype(np.float32)  # (2, len(widths) * F)
        self.fc_b: F32 = tensors["fc.bias"].astype(np.float32)
        self.thresholds: dict[str, float] = {k: float(v) for k, v in meta["thresholds"].items()}
        tok = Tokenizer.from_str(tokenizer_json)
        tok.no_truncation()
        tok.no_padding()
        self._tok = tok
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls, weights: Path = WEIGHTS_FILE, meta: Path = META_FILE, tokenizer: Path = TOKENIZER_FILE
    ) -> GuardClassifier:
        return cls(_read_safetensors(weights), json.loads(meta.read_text()), tokenizer.read_text())

    @classmethod
    def default(cls) -> GuardClassifier:
        """The shipped weights, loaded once per process."""
        return _default()

    # ------------------------------------------------------------------ internals

    def _encode(self, text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        enc = self._tok.encode(text, add_special_tokens=False)
        ids = np.asarray(enc.ids, dtype=np.int64)
        offs = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
        return ids, offs

    def _features(self, ids: npt.NDArray[np.int64]) -> list[F32]:
        """ReLU conv outputs per width over the padded sequence: ``out[w][t]`` reads padded
        positions ``t .. t+w-1`` (padded position p = token p-1; one zero vector each side,
        and at least max(widths) positions)."""
        n = max(len(ids) + 2, max(self.widths))
        if self._proj is not None:
            y = np.zeros((n, self.conv_w.shape[1]), dtype=np.float32)
            y[1 : len(ids) + 1] = self._proj[ids]
        else:
            x = np.zeros((n, self.emb.shape[1]), dtype=np.float32)
            x[1 : len(ids) + 1] = self.emb[ids]
            y = x @ self.conv_w
        return conv_relu(y, self.widths, self.filters, self.conv_b)

    def _windows(self, ntok: int) -> list[tuple[int, int]]:
        return token_windows(ntok, WINDOW, STRIDE)

    def _score_tokens(
        self, ids: npt.NDArray[np.int64]
    ) -> tuple[list[tuple[int, int]], F32, list[F32], list[npt.NDArray[np.int64]]]:
        """Per window (token span): logits (k, 2); also each window's pooled features and their
        arg-max positions (for localisation)."""
        outs = self._features(ids)
        wins = self._windows(len(ids))
        pooled = np.empty((len(wins), len(self.widths) * self.filters), dtype=np.float32)
        argm: list[npt.NDArray[np.int64]] = []
        for k, (s, e) in enumerate(wins):
            parts, pos = [], []
            for w, o in zip(self.widths, outs, strict=True):
                # padded positions s .. e+1 hold tokens s-1 .. e; keep windows whose reads
                # stay within [s, e + 2): conv rows s .. e + 2 - w
                seg = o[s : max(s + 1, e + 3 - w)]
                a = seg.argmax(axis=0)
                parts.append(seg[a, np.arange(self.filters)])
                pos.append(a + s)
            pooled[k] = np.concatenate(parts)
            argm.append(np.concatenate(pos))
        logits = pooled @ self.fc_w.T + self.fc_b
        return wins, logits, list(pooled), argm

    def _localise(
        self,
        label: int,
        pooled: F32,
        argm: npt.NDArray[np.int64],
        offs: npt.NDArray[np.int64],
        win: tuple[int, int],
    ) -> tuple[int, int]:
        """The character span of the tokens that carry most (70 %) of the window's positive
        evidence for ``label``: each filter's contribution is its weight times its max."""
        contrib = self.fc_w[label] * pooled
        widths = np.repeat(np.asarray(self.widths), self.filters)
        order = np.argsort(-contrib)
        pos_mass = contrib[contrib > 0].sum()
        if pos_mass <= 0 or len(offs) == 0:
            return int(offs[win[0]][0]) if len(offs) else 0, int(offs[win[1] - 1][1]) if len(
                offs
            ) else 0
        lo, hi, acc = 1 << 62, -1, 0.0
        for i in order:
            if contrib[i] <= 0 or acc >= 0.7 * pos_mass:
                break
            acc += float(contrib[i])
            p0 = int(argm[i]) - 1  # padded position -> token index
            lo = min(lo, max(p0, win[0]))
            hi = max(hi, min(p0 + int(widths[i]), win[1]) - 1)
        lo = max(0, min(lo, len(offs) - 1))
        hi = max(lo, min(hi, len(offs) - 1))
        return int(offs[lo][0]), int(offs[hi][1])

    def _plan(self, text: str) -> tuple[list[tuple[int, str]], bool]:
        """The slices of ``text`` read (start offset, slice): all of it up to MAX_CHARS, else
        evenly spaced slices that add up to MAX_CHARS."""
        if len(text) <= MAX_CHARS:
            return [(0, text)], False
        k = MAX_CHARS // SLICE_CHARS
        step = (len(text) - SLICE_CHARS) / (k - 1)
        starts = [round(i * step) for i in range(k)]
        return [(s, text[s : s + SLICE_CHARS]) for s in starts], True

    # ------------------------------------------------------------------ public

    def score_text(self, text: str) -> TextScore:
        if not isinstance(text, str):
            raise TypeError("text must be str")
        best = {lab: -np.inf for lab in LABELS}
        # per label, what locating its best window needs (done only when asked for)
        where: dict[str, tuple[Any, ...]] = {}
        plan, truncated = self._plan(text)
        nwin = 0
        for base, piece in plan:
            clean, index = _strip_format_chars(piece)
            ids, offs = self._encode(clean)
            wins, logits, pooled, argm = self._score_tokens(ids)
            nwin += len(wins)
            for li, lab in enumerate(LABELS):
                k = int(np.argmax(logits[:, li]))
                if logits[k, li] > best[lab]:
                    best[lab] = float(logits[k, li])
                    where[lab] = (li, base, len(clean), len(ids), pooled[k], argm[k], offs,
                                  wins[k], index)  # fmt: skip

        def locate() -> dict[str, tuple[int, int]]:
            spans: dict[str, tuple[int, int]] = {lab: (0, 0) for lab in LABELS}
            for lab, (li, base, n, ntok, pooled_k, argm_k, offs, win, index) in where.items():
                if ntok:
                    s, e = self._localise(li, pooled_k, argm_k, offs, win)
                else:
                    s, e = 0, n
                if index is not None:
                    s, e = int(index[s]), int(index[e - 1]) + 1 if e > s else int(index[s])
                spans[lab] = (base + s, base + e)
            return spans

        scores = {lab: _sigmoid(best[lab]) for lab in LABELS}
        return TextScore(scores, nwin, truncated, locate)

    def score(self, text: str) -> dict[str, float]:
        """``{"injection": p, "jailbreak": p}``: the best window's probabilities."""
        return self.score_text(text).scores

    def score_windows(self, text: str) -> list[WindowScore]:
        """Every window's probabilities with its character span in ``text``."""
        out: list[WindowScore] = []
        plan, _ = self._plan(text)
        for base, piece in plan:
            clean, index = _strip_format_chars(piece)
            ids, offs = self._encode(clean)
            wins, logits, _, _ = self._score_tokens(ids)
            for (s, e), lg in zip(wins, logits, strict=True):
                if len(ids):
                    cs, ce = int(offs[s][0]), int(offs[e - 1][1])
                else:
                    cs, ce = 0, len(clean)
                if index is not None:
                    cs, ce = int(index[cs]), (int(index[ce - 1]) + 1 if ce > cs else int(index[cs]))
                out.append(
                    WindowScore(
                        base + cs, base + ce, _sigmoid(float(lg[0])), _sigmoid(float(lg[1]))
                    )
                )
        return out

    def score_many(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """(n, 2) probabilities, for benchmarks and threshold fitting."""
        rows = [self.score(t) for t in texts]
        return np.asarray([[r[lab] for lab in LABELS] for r in rows], dtype=np.float64).reshape(
            -1, 2
        )


def _sigmoid(x: float) -> float:
    if x >= 0:
        return float(1.0 / (1.0 + np.exp(-x)))
    z = float(np.exp(x))
    return z / (1.0 + z)


_DEFAULT_LOCK = threading.Lock()


@cache
def _default() -> GuardClassifier:
    with _DEFAULT_LOCK:
        return GuardClassifier.load()


class ClassifierDetector:
    """The classifier as an input detector. Reports under two names: ``injection`` (kind
    ``indirect`` for untrusted segments and tool/function/document roles, else ``direct``) and
    ``jailbreak`` (kind ``classifier``). ``ctx.thresholds`` overrides the shipped thresholds
    per name. At most ``max_segments`` segments are scored (the last ones, where a fresh
    injection is; option ``max_segments`` under ``ctx.options["injection"]``, default 64), each
    capped at :data:`MAX_CHARS` characters. The newest segments are the ones kept because
    an agent's requests repeat its history: older segments were the newest of an earlier
    request and were scored then; ``segments_skipped`` in the evidence says how many were not.
    A text's scores are kept in a :class:`TextCache` (``cache_entries`` texts): a
    conversation's repeated system prompt and earlier turns are scored once. Consecutive
    segments of one sender (content parts of a message, back-to-back user messages) are also
    read joined, so an instruction split across them is read whole (``joined_segments``)."""

    name = "injection"
    UNTRUSTED_ROLES: Final = frozenset({"tool", "function", "document"})

    def __init__(
        self,
        classifier: GuardClassifier | None = None,
        max_segments: int = 64,
        cache_entries: int = TEXT_CACHE_ENTRIES,
    ) -> None:
        self._clf = classifier
        self.max_segments = max_segments
        self.cache: TextCache[TextScore] = TextCache(cache_entries)

    @property
    def classifier(self) -> GuardClassifier:
        if self._clf is None:
            self._clf = GuardClassifier.default()
        return self._clf

    def detect(self, conv: Conversation, ctx: DetectorContext) -> list[Detection]:
        clf = self.classifier
        t_inj = float(ctx.thresholds.get("injection", clf.thresholds["injection"]))
        t_jb = float(ctx.thresholds.get("jailbreak", clf.thresholds["jailbreak"]))
        opts = ctx.options.get("injection", {})
        cap = int(opts.get("max_segments", self.max_segments))
        segs = list(enumerate(conv.segments))
        skipped = max(0, len(segs) - cap)
        segs = segs[skipped:]
        out: list[Detection] = []
        for idx, seg in segs:
            if not seg.text.strip():
                continue
            res = self.cache.get(seg.text, clf.score_text)
            ev: dict[str, Any] = {"windows": res.windows}
            if res.truncated:
                ev["truncated"] = True
            if skipped:
                ev["segments_skipped"] = skipped
            p = res.scores["injection"]
            if p >= t_inj:
                kind = "indirect" if seg.untrusted or seg.role in self.UNTRUSTED_ROLES else "direct"
                s, e = res.spans["injection"]
                out.append(Detection("injection", kind, p, idx, s, e, dict(ev)))
            p = res.scores["jailbreak"]
            if p >= t_jb:
                s, e = res.spans["jailbreak"]
                out.append(Detection("jailbreak", "classifier", p, idx, s, e, dict(ev)))
        out += self._split_runs(conv, segs, out, t_inj, t_jb)
        return out

    JOIN_MAX_CHARS: Final = 4_000
    """Joined text of a run of short segments read at most (payload splitting)."""
    JOIN_MAX_SEGMENTS: Final = 8

    def _split_runs(
        self,
        conv: Conversation,
        segs: list[tuple[int, Any]],
        found: list[Detection],
        t_inj: float,
        t_jb: float,
    ) -> list[Detection]:
        """An instruction split over consecutive segments of one sender (the parts of one
        message, or user messages with nothing between them) that no part carries alone:
        each run of two or more such segments, joined with newlines, is read as one text
        (up to :data:`JOIN_MAX_SEGMENTS` segments and :data:`JOIN_MAX_CHARS` characters, the
        newest kept). A hit is reported on the run's last segment with ``joined_segments``
        in the evidence, unless a segment of the run was already flagged."""
        runs: list[list[int]] = []
        prev: Any = None
        for idx, seg in segs:
            if not seg.text.strip():
                continue
            same = (
                prev is not None
                and seg.untrusted == prev.untrusted
                and (
                    (seg.message == prev.message and seg.role == prev.role)
                    or (seg.role == prev.role == "user" and seg.message == prev.message + 1)
                )
            )
            if same:
                runs[-1].append(idx)
            else:
                runs.append([idx])
            prev = seg
        flagged = {d.segment for d in found}
        out: list[Detection] = []
        for run in runs:
            if len(run) < 2 or flagged.intersection(run):
                continue
            run = run[-self.JOIN_MAX_SEGMENTS :]
            texts = [conv.segments[i].text for i in run]
            while len(texts) > 2 and sum(len(t) + 1 for t in texts) > self.JOIN_MAX_CHARS:
                texts, run = texts[1:], run[1:]
            joined = "\n".join(texts)[-self.JOIN_MAX_CHARS :]
            res = self.cache.get(joined, self.classifier.score_text)
            last = conv.segments[run[-1]]
            ev = {"joined_segments": len(run), "windows": res.windows}
            end = len(last.text)
            if res.scores["injection"] >= t_inj:
                kind = (
                    "indirect" if last.untrusted or last.role in self.UNTRUSTED_ROLES else "direct"
                )
                out.append(
                    Detection("injection", kind, res.scores["injection"], run[-1], 0, end, ev)
                )
            if res.scores["jailbreak"] >= t_jb:
                out.append(
                    Detection(
                        "jailbreak", "classifier", res.scores["jailbreak"], run[-1], 0, end, ev
                    )
                )
        return out

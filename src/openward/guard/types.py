"""The vocabulary every guard detector shares: what it reads and what it reports.

A request is read once into a :class:`Conversation` of :class:`Segment` s (one per text part
of a message), each marked trusted or not; input detectors look at it and return
:class:`Detection` s. Output detectors see the model's text as it streams through an
:class:`OutputScanner`. Detectors are pure: no network, no files, no global state; what they
need from the policy comes in a :class:`DetectorContext`.

Never put a secret, a system prompt or a whole prompt in ``evidence``: it goes into events and
logs. Evidence holds counts, short hashes, offsets and short redacted snippets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Action = Literal["allow", "flag", "redact", "block"]
ACTIONS: tuple[Action, ...] = ("allow", "flag", "redact", "block")
# Severity order: a request's action is the most severe of its detections' actions.
ACTION_RANK: Mapping[str, int] = {a: i for i, a in enumerate(ACTIONS)}

Role = Literal["system", "developer", "user", "assistant", "tool", "function", "document"]


@dataclass(frozen=True)
class Segment:
    """One text part of a request.

    ``message`` is the index into ``messages`` (or 0 for a ``/v1/completions`` prompt),
    ``part`` the index of the text part within a message whose content is a list (else 0).
    ``untrusted`` is true for tool/function results and for anything the policy marks
    untrusted (retrieved documents, quoted content): indirect injection lives there.
    """

    message: int
    role: str
    text: str
    untrusted: bool = False
    part: int = 0


@dataclass(frozen=True)
class Conversation:
    """The text of one request, in order. ``params`` holds the request's other fields a
    detector may care about (``logprobs``, ``top_logprobs``, ``n``, ``max_tokens``...)."""

    segments: tuple[Segment, ...]
    model: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)

    def text_of(self, roles: Sequence[str] | None = None) -> str:
        return "\n".join(s.text for s in self.segments if roles is None or s.role in roles)


@dataclass(frozen=True)
class Detection:
    """One finding. ``detector`` is the detector's name as the policy names it (the key of
    its action), ``kind`` the finer kind (``direct``, ``indirect``, ``base64``, ``template``...),
    ``score`` in [0, 1]. ``segment`` (index into ``Conversation.segments``) with ``start``/``end``
    (character offsets in that segment's text) locate it for ``redact``; output detections
    locate it in the output text instead (``segment`` is None)."""

    detector: str
    kind: str
    score: float
    segment: int | None = None
    start: int | None = None
    end: int | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """The contract form: ``{"detector", "kind", "score"}`` plus evidence (never secrets)."""
        out: dict[str, Any] = {
            "detector": self.detector,
            "kind": self.kind,
            "score": round(float(self.score), 4),
        }
        if self.evidence:
            out["evidence"] = dict(self.evidence)
        return out


@dataclass(frozen=True)
class DetectorContext:
    """What detectors need from the policy and the request's identity."""

    identity: str = "anonymous"
    system_prompts: tuple[str, ...] = ()  # the deployment's configured system prompt(s)
    canaries: tuple[str, ...] = ()  # canary tokens that must never appear in output
    thresholds: Mapping[str, float] = field(default_factory=dict)  # detector -> score threshold
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # detector -> options


class InputDetector(Protocol):
    """Looks at a whole request before it goes upstream."""

    name: str  # the policy's key for it; several detectors may report under other names

    def detect(self, conv: Conversation, ctx: DetectorContext) -> list[Detection]: ...


class OutputScanner(Protocol):
    """Looks at one response's text as it streams. ``feed`` gets each new piece of text and
    returns what fired so far (each finding once); ``finish`` is called at the end."""

    def feed(self, delta: str) -> list[Detection]: ...

    def finish(self) -> list[Detection]: ...

    def pending(self) -> int:
        """How many trailing characters of what was fed could still turn out to be part of a
        finding (a secret or leaked sentence not yet complete). The proxy holds them back from
        the client until they are cleared, so ``redact`` and ``block`` act before the text
        leaves; 0 when nothing is pending."""
        ...


class OutputDetector(Protocol):
    name: str

    def scanner(self, conv: Conversation, ctx: DetectorContext) -> OutputScanner: ...

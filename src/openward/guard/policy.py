"""The guard's policy file: who the clients are, what each detector's finding does, the limits.

A policy is YAML (``openward guard --policy guard.yaml``) validated once at start: a wrong
detector name, action or threshold stops the guard with one line naming the field. Without a
file the default policy applies (:data:`DEFAULT_ACTIONS`): injection and jailbreaks are
blocked, leaks of secrets redacted, the rest flagged.

::

    require_keys: true
    identities:
      alice: [sk-alice-1, "sha256:4f2a..."]   # plain keys or their SHA-256
    detectors:
      injection: {action: block, threshold: 0.6}
      secrets: redact                         # shorthand for {action: redact}
    untrusted: {roles: [tool, function], tags: [document]}

Client keys are never stored in the clear in memory: plain keys are hashed when the policy
is loaded and a request's key is looked up by its hash.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from openward.errors import OpenwardError
from openward.guard.types import Action

__all__ = [
    "DEFAULT_ACTIONS",
    "DEFAULT_KINDS",
    "DETECTORS",
    "DetectorInfo",
    "DetectorPolicy",
    "Policy",
    "PolicyError",
    "default_policy",
    "load_policy",
]


class PolicyError(OpenwardError):
    """The policy file cannot be read or is not valid; the message names the field."""


Side = Literal["input", "output", "usage"]


@dataclass(frozen=True)
class DetectorInfo:
    """Where a detector's implementation lives (imported only when the policy enables it),
    which side of a request it looks at, and what the default policy does with a finding."""

    module: str
    cls: str
    side: Side
    default: Action


# Every detector name a policy may use, keyed by the name its findings report.
# Several names may share one implementation (the classifier reports injection and jailbreak).
DETECTORS: Mapping[str, DetectorInfo] = {
    "injection": DetectorInfo("openward.guard.classifier", "ClassifierDetector", "input", "block"),
    "jailbreak": DetectorInfo("openward.guard.classifier", "ClassifierDetector", "input", "block"),
    "many-shot": DetectorInfo(
        "openward.guard.detectors.manyshot", "ManyShotDetector", "input", "block"
    ),
    "adversarial-suffix": DetectorInfo(
        "openward.guard.detectors.perplexity", "AdversarialSuffixDetector", "input", "block"
    ),
    "obfuscation": DetectorInfo(
        "openward.guard.detectors.obfuscation", "ObfuscationDetector", "input", "flag"
    ),
    "prompt-extraction": DetectorInfo(
        "openward.guard.detectors.extraction", "PromptExtractionDetector", "input", "flag"
    ),
    "harmful-request": DetectorInfo(
        "openward.guard.detectors.harmreq", "HarmfulRequestDetector", "input", "block"
    ),
    "injection-structure": DetectorInfo(
        "openward.guard.detectors.structure", "InjectionStructureDetector", "input", "block"
    ),
    "system-prompt-leak": DetectorInfo(
        "openward.guard.detectors.leak", "SystemPromptLeakDetector", "output", "block"
    ),
    "exfiltration": DetectorInfo(
        "openward.guard.detectors.exfiltration", "ExfiltrationDetector", "output", "redact"
    ),
    "secrets": DetectorInfo(
        "openward.guard.detectors.secrets", "SecretsDetector", "output", "redact"
    ),
    "canary": DetectorInfo("openward.guard.detectors.canary", "CanaryDetector", "output", "block"),
    "harmful-compliance": DetectorInfo(
        "openward.guard.detectors.harmful", "HarmfulComplianceDetector", "output", "flag"
    ),
    "model-extraction": DetectorInfo("openward.guard.usage", "UsageMonitor", "usage", "flag"),
    "burst": DetectorInfo("openward.guard.usage", "UsageMonitor", "usage", "flag"),
}

DEFAULT_ACTIONS: Mapping[str, Action] = {name: info.default for name, info in DETECTORS.items()}
# Per-kind defaults where a detector's kinds deserve different actions: a plain harmful ask is
# flagged (the model's refusal and the output side handle it), a wrapped one blocked.
DEFAULT_KINDS: Mapping[str, Mapping[str, Action]] = {"harmful-request": {"plain": "flag"}}


def _default_rule(name: str) -> DetectorPolicy:
    return DetectorPolicy(action=DEFAULT_ACTIONS[name], kinds=dict(DEFAULT_KINDS.get(name, {})))


_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DetectorPolicy(_Strict):
    """What one detector's findings do. ``threshold`` (0-1) drops findings scoring below it
    and is passed to the detector; unset, the detector's own calibrated threshold applies
    (the classifier ships its own) and findings scoring under 0.5 are dropped. ``kinds``
    overrides the action per finer kind (``injection: {action: flag, kinds: {indirect:
    block}}``); ``options`` go to the detector."""

    action: Action = "flag"
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    kinds: dict[str, Action] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    on_error: Literal["allow", "flag", "block"] | None = None


class Marker(_Strict):
    """Literal delimiters around untrusted content inside a trusted message."""

    start: str = Field(min_length=1)
    end: str = Field(min_length=1)


class UntrustedPolicy(_Strict):
    """What counts as untrusted content (indirect injection lives there): whole messages by
    role, tool results by tool name, and spans inside any message between ``<tag ...>`` and
    ``</tag>`` for each tag, between literal markers, or (``quoted``) markdown ``>`` lines."""

    roles: list[str] = Field(default_factory=lambda: ["tool", "function", "document"])
    tools: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=lambda: ["document"])
    markers: list[Marker] = Field(default_factory=list)
    quoted: bool = False
    # documents pasted into a user message ("Summarise this e-mail: ...", fenced or tagged
    # blocks) are untrusted spans too (openward.guard.pasted)
    pasted: bool = True

    @field_validator("tags")
    @classmethod
    def _tag_names(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}", tag):
                raise ValueError(f"{tag!r} is not a tag name (letters, digits, _ . : -)")
        return tags


class OnError(_Strict):
    """What a detector that raises counts as: a finding with this action. ``usage`` covers the
    usage monitors, whose usual failure is the shared state store (Redis) being unreachable:
    by default the request is served and flagged (the content detectors still run), so a Redis
    outage does not take the model down; set ``usage: block`` to fail closed."""

    input: Literal["allow", "flag", "block"] = "block"
    output: Literal["allow", "flag", "block"] = "flag"
    usage: Literal["allow", "flag", "block"] = "flag"


# Writes the guard forwards unread by default: tokenizer utilities (no generation) and
# embeddings (no model output to scan, nothing a generating model reads).
DEFAULT_PASSTHROUGH = (
    "/tokenize",
    "/detokenize",
    "/v1/tokenize",
    "/v1/detokenize",
    "/v1/embeddings",
    "/embeddings",
    "/embedding",
    "/api/embed",
    "/api/embeddings",
)


class Limits(_Strict):
    """``max_body_bytes`` bounds a request body (images make bodies large), ``max_text_chars``
    the text the guard reads in one request; ``detector_threads`` runs the detectors (0: one
    per CPU, at most 8) and ``max_queued`` requests may wait for them before the guard answers
    503 with ``Retry-After``."""

    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_text_chars: int = Field(default=1_000_000, ge=1000)
    detector_threads: int = Field(default=0, ge=0)
    max_queued: int = Field(default=64, ge=1)
    upstream_connect_timeout_s: float = Field(default=5.0, gt=0)
    upstream_read_timeout_s: float = Field(default=300.0, gt=0)
    max_connections: int = Field(default=512, ge=1)


class EventsPolicy(_Strict):
    """The event log (:class:`openward.guard.events.EventLog`): one JSON line per finding.
    Prompts are never written: ``hash`` keeps the SHA-256 of the request body, ``redact``
    nothing of it, ``none``/``omit`` nothing and no text-derived evidence either."""

    path: str | None = None
    prompts: Literal["hash", "redact", "none", "omit"] = "hash"


class Policy(_Strict):
    """A validated policy. Build with :func:`load_policy` or :func:`default_policy`."""

    version: Literal[1] = 1
    require_keys: bool = False
    identities: dict[str, list[str]] = Field(default_factory=dict)
    detectors: dict[str, DetectorPolicy] = Field(
        default_factory=lambda: {n: _default_rule(n) for n in DEFAULT_ACTIONS}
    )
    system_prompts: list[str] = Field(default_factory=list)
    canaries: list[str] = Field(default_factory=list)
    untrusted: UntrustedPolicy = Field(default_factory=UntrustedPolicy)
    on_error: OnError = Field(default_factory=OnError)
    limits: Limits = Field(default_factory=Limits)
    events: EventsPolicy = Field(default_factory=EventsPolicy)
    usage: dict[str, Any] = Field(default_factory=dict)
    # request fields a server renders into the prompt itself (chat_template, documents...),
    # refused unless named here (engine.PROMPT_SHAPING)
    allowed_fields: list[str] = Field(default_factory=list)
    # writes (POST/PUT/PATCH/DELETE) to paths other than the guarded inference endpoints are
    # refused unless their normalised path matches one of these (fnmatch patterns; "*": all)
    passthrough: list[str] = Field(default_factory=lambda: list(DEFAULT_PASSTHROUGH))

    @field_validator("detectors", mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        if isinstance(value, Mapping):
            return {k: ({"action": v} if isinstance(v, str) else v) for k, v in value.items()}
        return value

    @field_validator("detectors")
    @classmethod
    def _known(cls, value: dict[str, DetectorPolicy]) -> dict[str, DetectorPolicy]:
        for name in value:
            if name not in DETECTORS:
                raise ValueError(
                    f"unknown detector {name!r} (known: {', '.join(sorted(DETECTORS))})"
                )
        hc = value.get("harmful-compliance")
        if hc is not None and hc.options:  # checked at start, not at the first answer
            from openward.guard.detectors.harmful import check_options

            check_options(hc.options)
        # detectors the file does not name keep their default action (``allow`` turns one off)
        merged = {n: _default_rule(n) for n in DEFAULT_ACTIONS}
        merged.update(value)
        return merged

    @field_validator("identities")
    @classmethod
    def _keys(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        seen: dict[str, str] = {}
        for identity, keys in value.items():
            if not identity or identity == "anonymous":
                raise ValueError(f"{identity!r} cannot name an identity")
            for key in keys:
                if key.startswith("sha256:") and not _SHA256.match(key):
                    raise ValueError(f"{identity}: a sha256: key needs 64 lowercase hex digits")
                if not key:
                    raise ValueError(f"{identity}: an empty key")
                digest = key_digest(key)
                if digest in seen:
                    raise ValueError(f"{identity}: a key is also {seen[digest]}'s")
                seen[digest] = identity
        return value

    @model_validator(mode="after")
    def _keys_needed(self) -> Policy:
        if self.require_keys and not self.identities:
            raise ValueError("require_keys: true needs at least one identity with keys")
        return self

    def action_for(self, detector: str, kind: str) -> Action:
        """The action for a finding of ``detector`` of the finer ``kind``."""
        rule = self.detectors.get(detector)
        if rule is None:  # a name no detector table lists (a detector's extra finding)
            return "flag"
        return rule.kinds.get(kind, rule.action)

    def identity_table(self) -> dict[str, str]:
        """SHA-256 hex of each client key -> its identity."""
        return {
            key_digest(key): identity for identity, keys in self.identities.items() for key in keys
        }


def key_digest(key: str) -> str:
    """The SHA-256 hex a key is looked up by (``sha256:<hex>`` keys are already one)."""
    if _SHA256.match(key):
        return key[len("sha256:") :]
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def default_policy() -> Policy:
    return Policy()


def policy_from_mapping(data: object, source: str = "policy") -> Policy:
    """Validate a parsed policy; :class:`PolicyError` names each wrong field on one line."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise PolicyError(f"{source}: the policy must be a mapping, not {type(data).__name__}")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
        raise PolicyError(f"{source}: " + "; ".join(problems)) from None


def load_policy(path: Path | str | None) -> Policy:
    """The policy in ``path`` (YAML or JSON), or the default policy for None."""
    if path is None:
        return default_policy()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise PolicyError(f"{p}: cannot read the policy: {reason}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise PolicyError(f"{p}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    return policy_from_mapping(data, str(p))

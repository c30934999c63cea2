"""Small, exact detectors for the proxy's and engine's tests: each fires on a known phrase so
the tests can say precisely what must be blocked, redacted or cut. They implement the shared
protocols of :mod:`openward.guard.types` like the real detectors do."""

from __future__ import annotations

import re

from openward.guard.types import Conversation, Detection, DetectorContext

PHRASE = "ignore all previous instructions"
SECRET = re.compile(r"sk-[A-Za-z0-9]{24}")
SECRET_PREFIX = re.compile(r"s(?:k(?:-[A-Za-z0-9]{0,23})?)?$")


class PhraseInjection:
    """``injection`` on the phrase, ``indirect`` when it sits in an untrusted segment."""

    name = "injection"

    def detect(self, conv: Conversation, ctx: DetectorContext) -> list[Detection]:
        found = []
        for i, seg in enumerate(conv.segments):
            at = seg.text.lower().find(PHRASE)
            if at >= 0:
                kind = "indirect" if seg.untrusted else "direct"
                found.append(Detection("injection", kind, 0.97, i, at, at + len(PHRASE)))
        return found


class LongPrompt:
    """``many-shot`` on prompts of more than 50 user turns (about the whole conversation)."""

    name = "many-shot"

    def detect(self, conv: Conversation, ctx: DetectorContext) -> list[Detection]:
        turns = sum(1 for s in conv.segments if s.role == "user")
        if turns <= 50:
            return []
        return [Detection("many-shot", "shots", 0.9, evidence={"turns": turns})]


class Broken:
    """An input detector that always raises (for ``on_error``)."""

    name = "obfuscation"

    def detect(self, conv: Conversation, ctx: DetectorContext) -> list[Detection]:
        raise RuntimeError("broken detector")


class _SecretScanner:
    def __init__(self) -> None:
        self.text = ""
        self.seen: set[int] = set()

    def feed(self, delta: str) -> list[Detection]:
        self.text += delta
        found = []
        for m in SECRET.finditer(self.text):
            if m.start() not in self.seen:
                self.seen.add(m.start())
                found.append(Detection("secrets", "api-key", 1.0, None, m.start(), m.end()))
        return found

    def finish(self) -> list[Detection]:
        return []

    def pending(self) -> int:
        m = SECRET_PREFIX.search(self.text[-26:])
        return len(m.group(0)) if m else 0


class Secrets:
    """``secrets`` on ``sk-`` + 24 alphanumerics, holding back a possible prefix of one."""

    name = "secrets"

    def scanner(self, conv: Conversation, ctx: DetectorContext) -> _SecretScanner:
        return _SecretScanner()


class _LeakScanner:
    def __init__(self, prompts: tuple[str, ...]) -> None:
        self.marks = [p[:40] for p in prompts if len(p) >= 20]
        self.text = ""
        self.fired = False

    def feed(self, delta: str) -> list[Detection]:
        self.text += delta
        if self.fired:
            return []
        for mark in self.marks:
            at = self.text.find(mark)
            if at >= 0:
                self.fired = True
                return [Detection("system-prompt-leak", "verbatim", 1.0, None, at, at + len(mark))]
        return []

    def finish(self) -> list[Detection]:
        return []

    def pending(self) -> int:
        best = 0
        for mark in self.marks:
            for n in range(min(len(mark), len(self.text)), 0, -1):
                if self.text.endswith(mark[:n]):
                    best = max(best, n)
                    break
        return best


class Leak:
    """``system-prompt-leak`` when 40 characters of a configured system prompt appear."""

    name = "system-prompt-leak"

    def scanner(self, conv: Conversation, ctx: DetectorContext) -> _LeakScanner:
        return _LeakScanner(ctx.system_prompts)


class _BrokenScanner:
    def feed(self, delta: str) -> list[Detection]:
        raise ValueError("broken scanner")

    def finish(self) -> list[Detection]:
        return []

    def pending(self) -> int:
        return 0


class BrokenOutput:
    name = "secrets"

    def scanner(self, conv: Conversation, ctx: DetectorContext) -> _BrokenScanner:
        return _BrokenScanner()


class _HoldAllScanner:
    def __init__(self) -> None:
        self.size = 0

    def feed(self, delta: str) -> list[Detection]:
        self.size += len(delta)
        return []

    def finish(self) -> list[Detection]:
        return []

    def pending(self) -> int:
        return self.size  # like a detector that judges whole lines: nothing leaves before the end


class HoldAll:
    name = "canary"

    def scanner(self, conv: Conversation, ctx: DetectorContext) -> _HoldAllScanner:
        return _HoldAllScanner()

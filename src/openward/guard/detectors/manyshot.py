"""Many-shot jailbreaking: a long fabricated dialogue in which "the assistant" complies.

Anil et al. 2024 ("Many-shot Jailbreaking", Anthropic) put dozens to hundreds of fake
``User: <harmful ask> / Assistant: <compliant answer>`` exchanges into one prompt; the attack's
success grows as a power law in the number of shots, and is weak below about 8. The detector
reads fabricated turns two ways:

- inside one message: lines (or inline runs) that open with a role marker: ``User:`` /
  ``Assistant:``, ``Human:`` / ``AI:``, ``Q:`` / ``A:``, ``### Instruction`` / ``### Response``,
  chat-template tokens (``[INST]``, ``<|user|>``, ``<|im_start|>assistant``), ``"role": "user"``
  in pasted JSON, numbered (``12. User:``) or bold (``**User:**``) variants, ``Q:``/``A:`` in
  running text, and the words for user and assistant in Spanish, French, German, Italian,
  Portuguese, Dutch, Turkish, Russian, Chinese, Japanese and Korean;
- across messages: ``assistant`` messages the client wrote itself into ``messages``.

An exchange is a user turn followed by an assistant turn. It counts as *harmful-compliant* when
the user turn looks harmful (:func:`._common.harmful_request_score`) and the assistant turn
opens compliantly ("Sure, here is...", "Step 1", a numbered list) rather than refusing.

Score = ``sigmoid((exchanges - 12) / 2.5) * (0.25 + 0.75 * h)`` where ``h`` is the share of
harmful-compliant exchanges, saturating at ``max(4, 0.3 * exchanges)`` of them. So 3-8 benign
few-shot examples score under 0.05, a benign pasted chat of any length stays at or under 0.25,
and 16 or more fabricated harmful-compliant exchanges score above 0.8.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Final

from openward.guard.detectors._common import (
    capped_segments,
    harmful_request_score,
    short_hash,
)
from openward.guard.types import Conversation, Detection, DetectorContext

__all__ = ["ManyShotDetector", "Turn", "fabricated_turns", "many_shot_score"]

NAME: Final = "many-shot"
MIDPOINT: Final = 12.0  # exchanges at which the length factor is one half
WIDTH: Final = 2.5

_USER_WORDS: Final = (
    "user|human|person|me|customer|client|question|q|prompt|instruction|input|"
    "usuario|utilisateur|benutzer|nutzer|utente|usuário|gebruiker|kullanıcı|"
    "пользователь|человек|用户|用戶|ユーザー|사용자|人类|質問|问"
)
_ASSISTANT_WORDS: Final = (
    "assistant|ai|bot|model|chatbot|gpt|chatgpt|claude|llm|answer|a|response|output|agent|"
    "asistente|assistente|assistent|asistan|ассистент|помощник|ии|助手|助理|アシスタント|"
    "어시스턴트|答|回答|答え"
)
_LINE_MARKER = re.compile(
    rf"^[ \t>]*(?:\d{{1,4}}[.)]\s*)?[*_\[(]*\s*(?P<role>{_USER_WORDS}|{_ASSISTANT_WORDS})"
    r"(?:\s*\d{1,4})?\s*[*_\])]*\s*[:：][*_]*",
    re.I | re.M,
)
# unambiguous role words may also open a turn in mid-line ("... Assistant: Sure ...")
_INLINE_MARKER = re.compile(
    r"(?<=[\s\"'.!?])(?P<role>User|Human|Assistant|AI|USER|HUMAN|ASSISTANT)\s*:", re.M
)
# Q:/A: in running text ("Q: ... A: ... Q: ..."), as CyberSecEval's many-shot cases write them;
# a style of its own, so that it only wins when Q and A alternate more than anything else does
_INLINE_QA = re.compile(r"(?:^|(?<=[\s.!?\"']))(?P<role>Q|A|Question|Answer)\s*:", re.M)
_HEADER_MARKER = re.compile(
    r"^#{2,4}\s*(?P<role>Instruction|Input|Response|Output|Human|Assistant|User)\s*:?\s*$",
    re.I | re.M,
)
_TEMPLATE_MARKER = re.compile(
    r"(?P<role>\[INST\]|\[/INST\]|<\|(?:user|assistant|human|bot)\|>|"
    r"<\|im_start\|>\s*(?:user|assistant)|<start_of_turn>(?:user|model)|"
    r"<\|start_header_id\|>(?:user|assistant)<\|end_header_id\|>)",
    re.I,
)
_JSON_ROLE = re.compile(
    r"[\"']role[\"']\s*:\s*[\"'](?P<role>user|assistant|human|ai|bot|model)[\"']", re.I
)
_USER_SET: Final = frozenset(_USER_WORDS.split("|")) | {"[inst]", "human", "instruction", "input"}

_REFUSAL = re.compile(
    r"^\W*(?:i'?m\s+sorry|i\s+am\s+sorry|sorry|i\s+(?:can(?:no|')t|won'?t|will\s+not|am\s+not\s+able"
    r"|must\s+decline|apologi[sz]e)|as\s+an\s+ai|no[,.]|unfortunately|i\s+do\s+not|i\s+don'?t)",
    re.I,
)
_COMPLIANT = re.compile(
    r"^\W*(?:sure|certainly|of\s+course|absolutely|okay|ok|yes|here(?:'s|\s+is|\s+are)|"
    r"step\s*1|first(?:ly)?,?|1[.)]|to\s+\w+|you\s+(?:can|will|should|need)|the\s+(?:best|easiest)"
    r"|gladly|happy\s+to|great)",
    re.I,
)


@dataclass(frozen=True)
class Turn:
    """One fabricated turn: ``user`` or ``assistant``, where its marker starts, where its text
    starts and ends (character offsets in the segment)."""

    role: str
    marker_start: int
    start: int
    end: int


def _role_of(word: str) -> str:
    w = word.strip().lower()
    if w in ("[/inst]",):
        return "assistant"
    if w.startswith(("<|im_start|>", "<start_of_turn>", "<|start_header_id|>")):
        return "user" if ("user" in w) else "assistant"
    if w.startswith("<|"):
        return "user" if ("user" in w or "human" in w) else "assistant"
    return "user" if w in _USER_SET else "assistant"


def fabricated_turns(text: str) -> list[Turn]:
    """The role-marked turns of one text, in order. The marker style used most often wins, so
    that a stray ``A:`` in prose does not split a ``User:``/``Assistant:`` dialogue."""
    styles: dict[str, list[tuple[int, int, str]]] = {}
    for name, rx in (
        ("line", _LINE_MARKER),
        ("header", _HEADER_MARKER),
        ("template", _TEMPLATE_MARKER),
        ("json", _JSON_ROLE),
        ("inline-qa", _INLINE_QA),
    ):
        hits = [(m.start(), m.end(), _role_of(m.group("role"))) for m in rx.finditer(text)]
        if name == "line":
            inline = [
                (m.start(), m.end(), _role_of(m.group("role")))
                for m in _INLINE_MARKER.finditer(text)
            ]
            seen = {h[0] for h in hits}
            line_starts = {h[0] for h in hits}
            hits += [h for h in inline if h[0] not in seen and h[0] not in line_starts]
            hits = _dedupe(hits)
        if hits:
            styles[name] = sorted(hits)
    if not styles:
        return []
    # the style with the most alternations between user and assistant
    best = max(styles.values(), key=_alternations)
    turns = []
    for i, (ms, me, role) in enumerate(best):
        end = best[i + 1][0] if i + 1 < len(best) else len(text)
        turns.append(Turn(role, ms, me, end))
    return turns


def _dedupe(hits: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    for h in sorted(hits):
        if out and h[0] < out[-1][1]:
            continue
        out.append(h)
    return out


def _alternations(hits: list[tuple[int, int, str]]) -> int:
    return sum(1 for a, b in itertools.pairwise(hits) if a[2] != b[2])


def _complies(answer: str) -> bool:
    head = answer.strip()[:200]
    if not head or _REFUSAL.search(head):
        return False
    return bool(_COMPLIANT.search(head)) or len(head) >= 40


def many_shot_score(exchanges: int, harmful_compliant: int) -> float:
    """The score for ``exchanges`` fabricated exchanges of which ``harmful_compliant`` pair a
    harmful ask with a compliant answer (see the module's docstring)."""
    if exchanges <= 0:
        return 0.0
    length = 1.0 / (1.0 + math.exp(-(exchanges - MIDPOINT) / WIDTH))
    h = min(1.0, harmful_compliant / max(4.0, 0.3 * exchanges))
    return length * (0.25 + 0.75 * h)


def _exchanges(pairs: list[tuple[str, str]]) -> tuple[int, int]:
    harmful = sum(
        1 for ask, answer in pairs if harmful_request_score(ask) >= 0.8 and _complies(answer)
    )
    return len(pairs), harmful


class ManyShotDetector:
    """``kind`` ``embedded`` (fabricated turns inside one message) or ``messages`` (client-written
    assistant messages); reported from 3 exchanges up."""

    name = NAME
    min_exchanges = 3

    def detect(self, conv: Conversation, ctx: DetectorContext) -> list[Detection]:
        out: list[Detection] = []
        for i, _seg, cap in capped_segments(conv):
            text = cap.text
            turns = fabricated_turns(text)
            pairs: list[tuple[str, str]] = []
            first: Turn | None = None
            for a, b in itertools.pairwise(turns):
                if a.role == "user" and b.role == "assistant":
                    pairs.append((text[a.start : a.end], text[b.start : b.end]))
                    first = first or a
            if len(pairs) < self.min_exchanges or first is None:
                continue
            n, harmful = _exchanges(pairs)
            out.append(
                Detection(
                    detector=NAME,
                    kind="embedded",
                    score=many_shot_score(n, harmful),
                    segment=i,
                    start=cap.to_original(first.marker_start),
                    end=cap.to_original(turns[-1].end),
                    evidence={
                        "turns": len(turns),
                        "exchanges": n,
                        "harmful_compliant": harmful,
                        "sha256_12": short_hash(text[first.marker_start : turns[-1].end]),
                        **({"truncated": True} if cap.truncated else {}),
                    },
                )
            )
        out.extend(self._messages(conv))
        return out

    def _messages(self, conv: Conversation) -> list[Detection]:
        """Assistant messages the client supplied, each paired with the user text before it."""
        # every turn (the pairing needs them all); the characters are capped
        read = capped_segments(conv, skip_roles=("system", "developer"), max_segments=None)
        truncated = any(cap.truncated for _i, _s, cap in read)
        pairs: list[tuple[str, str]] = []
        last_user = ""
        first_idx: int | None = None
        last_idx = 0
        for i, seg, cap in read:
            if seg.role == "user":
                last_user = cap.text if not last_user else last_user + "\n" + cap.text
            elif seg.role == "assistant":
                if last_user:
                    pairs.append((last_user, cap.text))
                    first_idx = i if first_idx is None else first_idx
                    last_idx = i
                last_user = ""
        if len(pairs) < self.min_exchanges or first_idx is None:
            return []
        n, harmful = _exchanges(pairs)
        return [
            Detection(
                detector=NAME,
                kind="messages",
                score=many_shot_score(n, harmful),
                segment=first_idx,
                evidence={
                    "exchanges": n,
                    "harmful_compliant": harmful,
                    "last_segment": last_idx,
                    **({"truncated": True} if truncated else {}),
                },
            )
        ]

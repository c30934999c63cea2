"""Documents pasted into a user message (``untrusted.pasted``, on by default).

"Summarise this e-mail: <the e-mail>" puts third-party text inside the user's own turn. The
text was written by whoever wrote the e-mail, not by the user, and an instruction planted in it
is an *indirect* injection; read as part of the user's message, it looked like the user's own
request (and a benign e-mail that says "please forward this to everyone" looked like an
instruction to the model). :func:`pasted_spans` finds such content so the engine reads it as an
untrusted segment of its own, the way it reads a ``<document>`` span: the classifier scores it
alone (kind ``indirect``), the adversarial-suffix detector caps it like a document, and
``harmful-request`` reads it apart from the user's framing.

What counts as pasted (in a user message of at least :data:`MIN_TEXT` characters, each span at
least :data:`MIN_SPAN`):

- a fenced block (three backticks or ``~~~``) or a block between triple quotes;
- a block between two rule lines (``---``, ``===``, ``***``, ``<<<``...);
- a common content tag pair (``<email>``, ``<article>``, ``<text>``, ``<context>``, ``<doc>``,
  ``<input>``, ``<page>``, ``<review>``, ``<transcript>``...);
- a *preface* then content: the message's first paragraph (at most 300 characters) ends with a
  colon ("Summarise this article:", "Here is the e-mail I got:"), or its first line is a task
  verb then a colon ("Translate to French: <text>"); the content runs from there to the end,
  except a last paragraph of at most 300 characters after a blank line (the user's follow-up
  question stays the user's).

Limits: a document pasted with no preface, fence or tags is not recognised (it stays the user's
text); a GCG suffix glued to the end of a pasted document is read as part of the document
(capped like one). A policy turns this off with ``untrusted: {pasted: false}``.
"""

from __future__ import annotations

import itertools
import re
from typing import Final

__all__ = ["pasted_spans"]

MIN_TEXT: Final = 400
MIN_SPAN: Final = 200
MAX_PREFACE: Final = 300
MAX_FOLLOWUP: Final = 300

_FENCED = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.DOTALL | re.MULTILINE)
_TRIPLE = re.compile(r'("""|\'\'\')(.*?)\1', re.DOTALL)
_RULE = re.compile(r"^[ \t]*(?:-{3,}|={3,}|\*{3,}|_{3,}|#{3,}|<{3,}|>{3,})[ \t]*$", re.MULTILINE)
_TAGS = (
    "email|e-mail|mail|article|text|context|doc|document|documents|input|page|webpage|content|"
    "review|reviews|transcript|message|letter|report|passage|source|excerpt|file|data|post"
)
_TAG = re.compile(rf"<({_TAGS})(?:\s[^<>]*)?>(.*?)</\1\s*>", re.DOTALL | re.IGNORECASE)
_TASK_LINE = re.compile(
    r"\A[ \t]*(?:please[ ,]+)?(?:can you |could you |would you )?"
    r"(?:summari[sz]e|translate|proofread|rewrite|paraphrase|analy[sz]e|review|classify|extract|shorten|simplify|explain|correct|edit|"
    r"fix|check|reply to|respond to|answer|tl;?dr|format|convert|grade|critique|improve|polish|"
    r"what does|what do you think of|read)[^\n]{0,200}?:[ \t]*",
    re.IGNORECASE,
)


def _preface_span(text: str) -> tuple[int, int] | None:
    start: int | None = None
    para = re.search(r"\n[ \t]*\n", text)
    first = text[: para.start()] if para else text
    if len(first) <= MAX_PREFACE and first.rstrip().endswith(":") and para is not None:
        start = para.end()
    else:
        m = _TASK_LINE.match(text)
        if m is not None:
            start = m.end()
    if start is None:
        return None
    end = len(text.rstrip())
    tail = list(re.finditer(r"\n[ \t]*\n", text[start:end]))
    if tail:
        last = start + tail[-1].end()
        if end - last <= MAX_FOLLOWUP and last - start >= MIN_SPAN:
            end = start + tail[-1].start()
    return (start, end) if end - start >= MIN_SPAN else None


def pasted_spans(text: str) -> list[tuple[int, int]]:
    """Spans of ``text`` (a user message) that hold pasted third-party content, unsorted and
    possibly overlapping (the engine merges them)."""
    if len(text) < MIN_TEXT:
        return []
    spans: list[tuple[int, int]] = []
    for rx in (_FENCED, _TRIPLE, _TAG):
        for m in rx.finditer(text):
            if m.end(2) - m.start(2) >= MIN_SPAN:
                spans.append((m.start(2), m.end(2)))
    rules = list(_RULE.finditer(text))
    for a, b in itertools.pairwise(rules):
        if b.start() - a.end() >= MIN_SPAN:
            spans.append((a.end(), b.start()))
    if not spans:
        pre = _preface_span(text)
        if pre is not None:
            spans.append(pre)
    return spans

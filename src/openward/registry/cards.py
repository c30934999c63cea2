"""Model cards (a version's README) rendered from Markdown to HTML that can carry no
script, for the web UI.

The renderer is markdown-it-py (CommonMark, plus GitHub's tables and strikethrough)
with raw HTML off: ``<script>``, ``<img onerror=…>``, ``<iframe>`` and every other tag
a card contains is shown as text, never passed through. What the renderer itself makes
is limited as follows:

- Links (inline, reference-style and ``<autolinks>``) keep their target only when it
  is ``http:``, ``https:``, ``mailto:`` or has no scheme (a relative link or a
  ``#fragment``); anything else (``javascript:``, ``vbscript:``, ``data:``, ``file:``…)
  stays text. Every link gets ``rel="nofollow noopener noreferrer"``.
- Images are not displayed: each becomes a link to its source (when the source passes
  the rule above) labelled ``image: ALT``, otherwise its alt text. A card's images
  would otherwise make every visitor's browser fetch URLs the card's author chose
  (tracking pixels; the pages' Content-Security-Policy blocks other hosts anyway),
  and a relative image would be a download of the model's own files.
- Headings move two levels down (a card's ``#`` is the page's ``h3``), so a card
  cannot outrank the page's own title and sections.
- YAML front matter (``---`` … ``---``, the Hugging Face card metadata) is shown as a
  preformatted block, escaped.

The page's Content-Security-Policy (no scripts at all) stays in force on top of this.
"""

from __future__ import annotations

import re
from functools import lru_cache
from html import escape
from typing import Any, Final

from markdown_it import MarkdownIt
from markdown_it.token import Token

__all__ = ["render_card", "safe_url"]

SAFE_SCHEMES: Final = frozenset({"http", "https", "mailto"})
_SCHEME: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_FRONT_MATTER: Final = re.compile(
    r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S
)
REL: Final = "nofollow noopener noreferrer"


def safe_url(url: str) -> bool:
    """Whether a link may point at ``url``: http, https, mailto, or no scheme at all.

    markdown-it hands over the URL after decoding entities and percent-encoding
    anything outside the URL alphabet (tabs, newlines, spaces, backslashes), so
    ``jav&#x09;ascript:`` arrives as ``jav%09ascript:``, which no browser reads as a
    scheme."""
    found = _SCHEME.match(url.strip())
    return found is None or found[1].lower() in SAFE_SCHEMES


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = safe_url  # type: ignore[method-assign]
    return md


def _inline(children: list[Token]) -> list[Token]:
    out: list[Token] = []
    for tok in children:
        if tok.type == "image":
            src = str(tok.attrGet("src") or "")
            alt = tok.content or "image"
            if src and safe_url(src):
                out.append(Token("link_open", "a", 1, attrs={"href": src, "rel": REL},
                                 markup="image"))  # fmt: skip
                out.append(Token("text", "", 0, content=f"image: {alt}"))
                out.append(Token("link_close", "a", -1))
            else:
                out.append(Token("text", "", 0, content=alt))
            continue
        if tok.type == "link_open":
            href = str(tok.attrGet("href") or "")
            if not safe_url(href):  # validateLink refused these already: belt and braces
                tok.attrs.pop("href", None)
            tok.attrSet("rel", REL)
        if tok.type == "html_inline":  # html is off, so never made; if it were: text
            tok.type = "text"
        out.append(tok)
    return out


def render_card(text: str) -> str:
    """The card as an HTML fragment (a string safe to insert into a page unescaped)."""
    md = _parser()
    meta = ""
    found = _FRONT_MATTER.match(text)
    if found:
        meta = f'<pre class="card-meta"><code>{escape(found[1])}</code></pre>\n'
        text = text[found.end() :]
    env: dict[str, Any] = {}
    tokens = md.parse(text, env)
    for tok in tokens:
        if tok.type in ("heading_open", "heading_close"):
            tok.tag = f"h{min(6, int(tok.tag[1:]) + 2)}"
        elif tok.type == "html_block":  # html is off, so never made; if it were: text
            tok.type = "code_block"
        if tok.children:
            tok.children = _inline(tok.children)
    return meta + str(md.renderer.render(tokens, md.options, env))

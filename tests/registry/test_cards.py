"""Model cards on the web pages: Markdown rendered as HTML, and nothing a card's author
writes becomes script, an event handler, a dangerous link or an image (the browser
test with the Content-Security-Policy bypassed is in test_web.py)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import httpx

from openward.registry.cards import render_card, safe_url
from tests.registry.conftest import Server
from tests.registry.test_registry import _model

RICH_CARD = """---
license: apache-2.0
tags: [text-generation]
---
# Tiny Llama

A *small* model for **tests**, see [the docs](https://example.org/docs) or
[usage](#usage) or [the config](config.json); mail <mailto:team@example.org>.

## Usage

1. install
2. run

- bullet one
- bullet two

```python
from transformers import AutoModel
model = AutoModel.from_pretrained("acme/card")  # <b>not bold</b>
```

| metric | value |
|---|---|
| accuracy | 0.9 |

> quoted ~~text~~
"""

XSS_CARD = """# Hostile card

<script>alert(1)</script>
<img src=x onerror=alert(2)>
<a href="javascript:alert(3)">raw html link</a>
<div onmouseover="alert(4)">hover</div>
<svg onload=alert(5)></svg><iframe src="https://evil.example/"></iframe>
<style>body { display: none }</style>

[js link](javascript:alert(6)) [upper](JaVaScRiPt:alert(7)) [vb](vbscript:msgbox(8))
[entity](&#106;avascript:alert(9)) [tab](jav&#x09;ascript:alert(10))
[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxMSk8L3NjcmlwdD4=) [file](file:///etc/passwd)
<javascript:alert(12)> <data:text/html,<script>alert(13)</script>>

[reference js][js] and [reference data][data]

[js]: javascript:alert(14)
[data]: data:text/html,<script>alert(15)</script>

![tracker](https://evil.example/pixel.png) ![inline svg](data:image/svg+xml,<svg onload=alert(16)>)
![relative](weights.bin) ![js image](javascript:alert(17))
[quote break](https://ok.example/" onclick="alert(18)) *<b onclick=alert(19)>bold</b>*
"""

ALLOWED_TAGS = {"h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "pre", "code", "em", "strong",
                "s", "a", "table", "thead", "tbody", "tr", "th", "td", "blockquote", "hr",
                "br"}  # fmt: skip
ALLOWED_ATTRS = {"href", "rel", "class", "title", "start", "style"}


class _Tags(HTMLParser):
    """Every element and attribute in an HTML fragment, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


def _assert_inert(html: str) -> _Tags:
    parsed = _parse(html)
    for tag, attrs in parsed.tags:
        assert tag in ALLOWED_TAGS, (tag, attrs)
        assert set(attrs) <= ALLOWED_ATTRS, (tag, attrs)
        assert "style" not in attrs or tag in ("th", "td"), (tag, attrs)  # table alignment
        if tag == "a" and "href" in attrs:
            href = str(attrs["href"])
            scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):", href)
            assert scheme is None or scheme[1].lower() in ("http", "https", "mailto"), href
            assert attrs["rel"] == "nofollow noopener noreferrer"
    return parsed


def test_a_card_renders_as_html() -> None:
    html = render_card(RICH_CARD)
    parsed = _assert_inert(html)
    tags = [t for t, _ in parsed.tags]
    for tag in ("h3", "h4", "ol", "ul", "li", "em", "strong", "table", "th", "td",
                "blockquote", "s"):  # fmt: skip
        assert tag in tags, tag
    assert "<h3>Tiny Llama</h3>" in html and "<h4>Usage</h4>" in html  # two levels down
    assert '<code class="language-python">' in html
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html  # code stays code
    hrefs = [a.get("href") for t, a in parsed.tags if t == "a"]
    assert hrefs == ["https://example.org/docs", "#usage", "config.json",
                     "mailto:team@example.org"]  # fmt: skip
    # The front matter is shown as such, not as a heading made of its lines.
    assert '<pre class="card-meta"><code>license: apache-2.0' in html


def test_a_hostile_card_renders_inert() -> None:
    html = render_card(XSS_CARD)
    parsed = _assert_inert(html)
    assert all(t not in ("script", "img", "svg", "iframe", "style", "div") for t, _ in parsed.tags)
    text = "".join(parsed.text)
    # Raw HTML is shown as the text it is.
    assert "<script>alert(1)</script>" in text and "<img src=x onerror=alert(2)>" in text
    assert '<div onmouseover="alert(4)">hover</div>' in text
    links = {str(a.get("href")): _link_text(html, a.get("href"))
             for t, a in parsed.tags if t == "a"}  # fmt: skip
    # Only the allowed targets became links (the tab one is a relative path, inert).
    assert set(links) == {"https://evil.example/pixel.png", "weights.bin",
                          "jav%09ascript:alert(10)"}, links  # fmt: skip
    # Images are links to where they point (when that is allowed), never images.
    assert links["https://evil.example/pixel.png"] == "image: tracker"
    assert links["weights.bin"] == "image: relative"
    assert "inline svg" in text and "js image" in text  # refused sources: the alt text


def _link_text(html: str, href: str | None) -> str:
    found = re.search(r'<a href="' + re.escape(str(href)) + r'"[^>]*>([^<]*)</a>', html)
    return found[1] if found else ""


def test_link_rules() -> None:
    for ok in ("https://a.example/x", "http://a.example", "mailto:x@y.z", "#frag",
               "docs/x.md", "/abs", "//host/x", "jav%09ascript:alert(1)"):  # fmt: skip
        assert safe_url(ok), ok
    for bad in ("javascript:alert(1)", " JAVASCRIPT:alert(1)", "vbscript:x",
                "data:text/html,x", "data:image/png;base64,AAAA", "file:///etc/passwd",
                "ftp://x", "blob:x"):  # fmt: skip
        assert not safe_url(bad), bad


def _card_fragment(page: str) -> str:
    start = page.index('data-testid="card"')
    start = page.index(">", start) + 1
    return page[start : page.index("</div>\n</section>", start)]


def test_cards_on_the_model_page(server: Server, tmp_path: Path) -> None:
    admin = server.client(server.admin)
    rich = _model(tmp_path / "rich", seed=51, extra={"README.md": RICH_CARD.encode()})
    assert admin.push(rich, "acme/card:1")["status"] == "published"
    hostile = _model(tmp_path / "hostile", seed=52, extra={"README.md": XSS_CARD.encode()})
    assert admin.push(hostile, "acme/hostile-card:1")["status"] == "published"

    page = httpx.get(f"{server.url}/models/acme/card")
    assert page.status_code == 200
    card = _card_fragment(page.text)
    assert "<h3>Tiny Llama</h3>" in card and "<ol>" in card and "<table>" in card
    assert '<a href="https://example.org/docs" rel="nofollow noopener noreferrer">' in card
    _assert_inert(card)

    page = httpx.get(f"{server.url}/models/acme/hostile-card/v/1")
    assert page.status_code == 200
    card = _card_fragment(page.text)
    parsed = _assert_inert(card)
    assert "<script>alert(1)</script>" in "".join(parsed.text)
    assert "<script" not in card and "<img" not in card and 'href="javascript' not in card
    # The whole page: the card added no element outside the allowed ones either.
    assert page.text.count("<script") == 0 and page.text.count("<img") == 0

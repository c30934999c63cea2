"""Screenshots of the registry's web UI, for the README.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

Starts an embedded registry on a free port (as ``python -m openward._demo --registry``
does), pushes the demo models as a publisher (clean ones, poisoned ones that end up
quarantined, one whose declared training compute needs registration, one gated),
lets a reader request access, get approved and download, then drives Chromium
(Playwright, headless) through the main pages and saves one PNG per page. Every
page is shown to the user who would see it: the publisher, a reader, a reviewer.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
FRONTIER_CARD = """---
license: apache-2.0
base_model: []
datasets: [HuggingFaceFW/fineweb-edu]
language: [en, fr, de]
training_tokens: 3000000000000000000
---
# demo-frontier

A stand-in for a frontier-scale model: its card declares enough training tokens
for the registry's compute estimate to cross the EU AI Act's systemic-risk
threshold (1e25 FLOP), so the version waits for a reviewer before it is published.
"""


SMALL_CARD = """---
license: apache-2.0
datasets: [HuggingFaceFW/fineweb-edu]
language: [en]
training_tokens: 2000000000000
---
# {name}

A small Llama-shaped model for the openward demo (its weights are zeros). Trained
on 2T tokens of fineweb-edu, so the registry can estimate its training compute.
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Registry:
    """An embedded registry in a background thread."""

    def __init__(self, data: Path) -> None:
        import uvicorn

        from openward.registry.app import create_app
        from openward.registry.service import Settings

        app = create_app(Settings(data=data))
        self.admin = str(app.state.registry.bootstrap_admin())
        self.url = f"http://127.0.0.1:{_free_port()}"
        port = int(self.url.rsplit(":", 1)[1])
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)

    def api(self, method: str, path: str, token: str, body: dict[str, Any]) -> Any:
        r = httpx.request(method, f"{self.url}/api/v1{path}", json=body,
                          headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        if r.status_code >= 300:
            raise SystemExit(f"{method} {path}: {r.status_code} {r.text}")
        return r.json()

    def user(self, name: str, org: str | None, role: str) -> str:
        body = {"name": name, "organisation": org, "role": role}
        return str(self.api("POST", "/users", self.admin, body)["token"])

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def populate(reg: Registry, work: Path) -> dict[str, str]:
    """Push the demo models and make the history the pages show; returns tokens."""
    from openward._demo import demo_model
    from openward._samples import build_zoo
    from openward.registry.client import Client

    build_zoo(work)
    demo_model(work / "model")
    (work / "model" / "README.md").write_text(SMALL_CARD.format(name="demo-llama-distilled"))
    demo_model(work / "frontier", layers=2, hidden=128, vocab=1024)
    (work / "frontier" / "README.md").write_text(FRONTIER_CARD)
    demo_model(work / "gated", layers=2, hidden=128, vocab=2048)
    (work / "gated" / "README.md").write_text(SMALL_CARD.format(name="demo-llama-gated"))
    tokens = {
        "publisher": reg.user("dana", "demo", "publisher"),
        "reader": reg.user("rita", "lab-one", "reader"),
        "other": reg.user("sam", "lab-two", "reader"),
        "reviewer": reg.user("vera", None, "reviewer"),
    }
    publisher = Client(reg.url, tokens["publisher"])
    for folder, ref in [
        ("clean/torch", "demo/torch-checkpoints:1"),
        ("clean/onnx", "demo/onnx-mlp:1"),
        ("model", "demo/llama-distilled:1"),
        ("gated", "demo/llama-gated:1"),
        ("poisoned/bypass", "demo/stdlib-bypasses:1"),
        ("poisoned/repo_remote", "demo/remote-code:1"),
        ("frontier", "demo/frontier:1"),
    ]:
        result = publisher.push(work / folder, ref)
        print(f"  {ref:28} {result['status']}")
    reg.api("PUT", "/models/demo/llama-gated/access", tokens["publisher"], {"tier": "gated"})
    fields = {"organisation": "Lab One", "intended_use": "evaluation of distillation quality",
              "accept_license": True}  # fmt: skip
    request = reg.api("POST", "/models/demo/llama-gated/access/requests", tokens["reader"],
                      {"fields": fields})  # fmt: skip
    reg.api("POST", "/models/demo/llama-gated/access/grants", tokens["publisher"],
            {"request": request["id"], "expires": "90d"})  # fmt: skip
    Client(reg.url, tokens["reader"]).pull("demo/llama-gated:1", work / "pulled")
    record = {
        "developer": "Demo Labs Ltd (demo org)",
        "training_compute": {"flop": 9.0e24, "method": "6ND from the training logs"},
        "training_data": "web text (fineweb-edu), licensed books, code",
        "intended_use": "general-purpose assistant",
        "safety_evaluations": ["red-team report 2025-03", "CBRN uplift evaluation"],
        "incident_contact": "security@demo.example",
    }
    reg.api("POST", "/models/demo/frontier/versions/1/registration", tokens["publisher"],
            {"record": record})  # fmt: skip
    return tokens


def shoot(reg: Registry, tokens: dict[str, str], out: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import Browser, Page, sync_playwright

    shots: list[Path] = []

    def page_for(browser: Browser, token: str | None) -> Page:
        context = browser.new_context(base_url=reg.url, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        if token:
            page.goto("/signin")
            page.fill("#token", token)
            page.click("form[action='/signin'] button[type=submit]")
            page.wait_for_load_state()
        return page

    def capture(page: Page, name: str, height: int = 1800) -> None:
        """The page down to ``height`` pixels (a long scan report is cut short)."""
        target = out / f"{name}.png"
        full = int(page.evaluate("document.documentElement.scrollHeight"))
        clip = {"x": 0, "y": 0, "width": 1280, "height": min(full, height)}
        page.screenshot(path=str(target), full_page=True, clip=clip)  # type: ignore[arg-type]
        shots.append(target)
        print(f"  {name:14} {page.url}  ({target.stat().st_size // 1024} KiB)")

    def save(page: Page, path: str, name: str, height: int = 1800) -> None:
        page.goto(path)
        capture(page, name, height)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        publisher = page_for(browser, tokens["publisher"])
        save(publisher, "/", "home")  # the publisher also sees its held versions
        save(publisher, "/models/demo/llama-distilled", "model")
        save(publisher, "/models/demo/stdlib-bypasses", "quarantined", height=1100)
        other = page_for(browser, tokens["other"])
        other.goto("/models/demo/llama-gated/request")
        other.fill("#field_organisation", "Lab Two")
        other.fill("#field_intended_use", "safety evaluation of refusals")
        other.check("#field_accept_license")
        capture(other, "request")
        other.click("form[data-testid=request-form] button[type=submit]")
        save(publisher, "/models/demo/llama-gated/manage", "manage")
        save(page_for(browser, tokens["reviewer"]), "/review", "review")
        browser.close()
    return shots


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"no Chromium at {args.chromium}: pass --chromium PATH", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ow-screens-"))
    try:
        reg = Registry(work / "data")
        print(f"registry at {reg.url} (data in {work})")
        try:
            tokens = populate(reg, work / "models")
            shots = shoot(reg, tokens, args.out, args.chromium)
        finally:
            reg.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"screenshots": [str(s.relative_to(ROOT)) if s.is_relative_to(ROOT)
                                      else str(s) for s in shots]}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

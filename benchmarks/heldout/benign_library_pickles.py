"""Benign pickles of real libraries, scanned by openward: the false positives.

Why it exists
-------------
The second-engineer attack on the pickle analysis (branch ``atk-pickle``) also
looked for false positives a benign user can cause: objects of scikit-learn,
PyTorch, numpy, pandas and the standard library, saved the way those
libraries save them (``pickle.dump`` at protocols 2, 4 and 5, ``joblib.dump``,
``torch.save`` zip and legacy, ``pd.to_pickle``). Each is written fresh, then
the whole folder is scanned and every finding at medium or above is printed.
Nothing here is loaded.

Needs scikit-learn, pandas, torch and joblib in the running interpreter::

    /work/main/.venv/bin/python benchmarks/heldout/benign_library_pickles.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def write_samples(out: Path) -> None:
    """Write the benign files into ``out`` (the current directory while writing)."""
    os.chdir(out)
    import collections
    import datetime
    import decimal
    import fractions
    import pathlib
    import pickle
    import zoneinfo

    import joblib
    import numpy as np
    import pandas as pd
    import torch
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.cluster import KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X = np.random.RandomState(0).randn(60, 4)
    y = (X[:, 0] > 0).astype(int)
    out = {}
    out["sk_logreg.joblib"] = LogisticRegression().fit(X, y)
    out["sk_rf.joblib"] = RandomForestClassifier(n_estimators=3).fit(X, y)
    out["sk_gb.joblib"] = GradientBoostingClassifier(n_estimators=3).fit(X, y)
    out["sk_pipe.joblib"] = Pipeline([("s", StandardScaler()), ("m", LogisticRegression())]).fit(
        X, y
    )
    out["sk_calib.joblib"] = CalibratedClassifierCV(LogisticRegression(), cv=2).fit(X, y)
    out["sk_knn.joblib"] = KNeighborsClassifier().fit(X, y)
    out["sk_kmeans.joblib"] = KMeans(n_clusters=2, n_init=1).fit(X)
    out["sk_pca.joblib"] = PCA(2).fit(X)
    out["sk_tfidf.joblib"] = TfidfVectorizer().fit(["a b c", "b c d", "hello world"])
    df = pd.DataFrame(
        {
            "a": [1, 2],
            "b": ["x", "y"],
            "t": pd.to_datetime(["2020-01-01", "2021-01-01"]),
            "c": pd.Categorical(["u", "v"]),
        }
    )
    out["sk_coltrans.joblib"] = ColumnTransformer([("oh", OneHotEncoder(), ["b"])]).fit(df)
    pickles = {
        "pd_frame.pkl": df,
        "pd_series_tz.pkl": pd.Series(pd.date_range("2020", periods=3, tz="UTC")),
        "pd_multiindex.pkl": pd.DataFrame(
            np.zeros((2, 2)), index=pd.MultiIndex.from_tuples([(1, "a"), (2, "b")])
        ),
        "pd_interval.pkl": pd.interval_range(0, 3),
        "pd_period.pkl": pd.period_range("2020-01", periods=3, freq="M"),
        "np_generator.pkl": np.random.default_rng(0),
        "np_randomstate.pkl": np.random.RandomState(0),
        "np_masked.pkl": np.ma.masked_array([1, 2, 3], mask=[0, 1, 0]),
        "np_struct.pkl": np.zeros(3, dtype=[("a", "f4"), ("b", "i8")]),
        "np_datetime.pkl": np.array(["2020-01-01"], dtype="datetime64[D]"),
        "np_recarray.pkl": np.rec.array([(1, 2.0)], dtype=[("x", "i4"), ("y", "f8")]),
        "py_zoneinfo.pkl": datetime.datetime(2020, 1, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        "py_misc.pkl": {
            "d": decimal.Decimal("1.5"),
            "f": fractions.Fraction(1, 3),
            "od": collections.OrderedDict(a=1),
            "p": pathlib.PurePosixPath("/x"),
            "s": {1, 2},
            "fs": frozenset([1]),
        },
    }
    for name, obj in pickles.items():
        for proto in (2, 4, 5):
            with open(name.replace(".pkl", f"_p{proto}.pkl"), "wb") as f:
                pickle.dump(obj, f, protocol=proto)
    for name, obj in out.items():
        joblib.dump(obj, name)
    joblib.dump(out["sk_rf.joblib"], "sk_rf_z.joblib", compress=3)
    lin = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3), torch.nn.ReLU())
    torch.save(lin, "torch_whole_model.pt")
    torch.save(lin.state_dict(), "torch_state_dict.pt")
    wn = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(3, 3))
    torch.save(wn.state_dict(), "torch_weightnorm_param.pt")
    wn2 = torch.nn.utils.weight_norm(torch.nn.Linear(3, 3))
    torch.save(wn2, "torch_weightnorm_legacy.pt")
    opt = torch.optim.AdamW(lin.parameters())
    lin(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 10)
    torch.save(
        {
            "model": lin.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "epoch": 3,
            "rng": torch.get_rng_state(),
            "np_rng": np.random.get_state(),
            "args": {"lr": 1e-3},
        },
        "torch_checkpoint.pt",
    )
    torch.save(torch.utils.data.TensorDataset(torch.zeros(2, 2)), "torch_dataset.pt")
    torch.save(
        {"q": torch.quantize_per_tensor(torch.randn(3), 0.1, 0, torch.qint8)}, "torch_quant.pt"
    )
    torch.save(
        {
            "sp": torch.randn(3, 3).to_sparse(),
            "c": torch.randn(2, dtype=torch.complex64),
            "bf": torch.randn(2).bfloat16(),
        },
        "torch_kinds.pt",
    )
    torch.save(lin, "torch_legacy_whole.pt", _use_new_zipfile_serialization=False)
    torch.save(torch.distributions.Normal(torch.zeros(1), torch.ones(1)), "torch_distribution.pt")
    torch.save(
        {
            "gen": torch.Generator().manual_seed(1).get_state(),
            "dev": torch.device("cpu"),
            "dtype": torch.float16,
            "size": torch.Size([2, 3]),
        },
        "torch_misc.pt",
    )
    np.save("np_object.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.savez("np_plain.npz", a=np.zeros(3), b=np.arange(4))
    pd.to_pickle(df, "pd_frame.pkl.gz")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="benign-")))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    write_samples(args.out.resolve())
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "openward", "scan", str(args.out), "--json", "-j", "1"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    report = json.loads(proc.stdout)
    flagged: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for f in report["findings"]:
        if f["severity"] in ("medium", "high", "critical"):
            name = re.sub(r"_p[245]\.pkl$", "_pN.pkl", f["path"].rsplit("/", 1)[-1])
            flagged[name].add((f["rule_id"], f["severity"], f["evidence"].split("(")[0][:70]))
    total = report["summary"]["files_analysed"]
    print(f"{len(flagged)} of {total} benign files get a finding at medium or above")
    for name, found in sorted(flagged.items()):
        print(name)
        for rule, severity, evidence in sorted(found):
            print(f"    {severity:8} {rule:26} {evidence}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""False positives of the config-driven-loader rules on real configs, and detections.

What it measures
----------------
1. **Real configs.** Pinned PyPI distributions (version and SHA-256 below) are
   downloaded with ``pip download`` and the files config-driven loaders read
   are taken out of them: YAML configs (Hydra's own, torchtune recipes with
   ``_component_``, SAM 2 model configs with ``_target_``, pyannote), and
   HDF5 files written by PyTables and h5py (PyTables' test files include
   PyTables 1.x files with pickled attributes). Directories given with
   ``--extra`` are added as they are (for instance the YAML files of the NeMo,
   SpeechBrain and Hydra repositories, which are not on PyPI). Python files
   are extracted with them (a config that names a module of its own
   distribution imports shipped code) but not counted. Every counted file is
   scanned with ``openward.scan``; it is a false positive when it gets a
   finding at medium or above (all rules, and the config rules alone).
2. **Detections.** The samples of ``openward._zoo.configs`` (one per technique)
   are built and scanned; each must meet its expected rule and severity.

Usage: ``python benchmarks/scan_configs_realworld.py [--cache DIR] [--extra DIR ...]``
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import openward
from openward._samples import Sample, detected

# (requirement, file name, sha256, pip options)
PINNED: list[tuple[str, str, str, list[str]]] = [
    (
        "hydra-core==1.3.8",
        "hydra_core-1.3.8-py3-none-any.whl",
        "d5f184c291691cba835c7f04bc4e36270ad88b1d7e394a3712f5af084c30b394",
        [],
    ),
    (
        "torchtune==0.6.1",
        "torchtune-0.6.1-py3-none-any.whl",
        "bcbc4ee9774b5c5829a5ff13df851e0b0e32416c018af8db53faa3472ac256e7",
        [],
    ),
    (
        "sam2==1.1.0",
        "sam2-1.1.0.tar.gz",
        "7e0ea252d43c10d853e3acfce0b5770ac683c30481bd6de311300e9d44f45b74",
        ["--no-binary", ":all:", "--no-build-isolation"],
    ),
    (
        "pyannote.audio==4.0.7",
        "pyannote_audio-4.0.7-py3-none-any.whl",
        "852ea15c4d85bc34773e618267603ffca6a521669a74d33742692cc67fc700d6",
        [],
    ),
    (
        "speechbrain==1.1.2",
        "speechbrain-1.1.2-py3-none-any.whl",
        "9fea4144c917ea58bcf13f17a1a1759179ed7472a30ec8416e7c7c8cf21d9c9a",
        [],
    ),
    (
        "tables==3.11.1",
        "tables-3.11.1-cp311-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
        "1e78fe190fdeb4afe430b79651bae2a4f341904eb85aa8dbafe5f1caee1c7f67",
        [
            "--only-binary",
            ":all:",
            "--platform",
            "manylinux_2_28_x86_64",
            "--python-version",
            "3.11",
        ],
    ),
    (
        "h5py==3.16.0",
        "h5py-3.16.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        "fb1720028d99040792bb2fb31facb8da44a6f29df7697e0b84f0d79aff2e9bd3",
        [
            "--only-binary",
            ":all:",
            "--platform",
            "manylinux_2_28_x86_64",
            "--python-version",
            "3.11",
        ],
    ),
]
WANTED = (".yaml", ".yml", ".h5", ".hdf5", ".nemo", "MLmodel")
# Python modules are extracted too: a config naming a module of its own
# distribution imports code that ships with it (reported low, not high).
EXTRACTED = (*WANTED, ".py")
MINE = ("config-", "mlflow-", "pytables-")


def fetch(cache: Path) -> list[tuple[str, Path]]:
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for requirement, filename, sha256, options in PINNED:
        path = cache / filename
        if not path.exists():
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache),
                 *options, requirement],
                check=True,
            )  # fmt: skip
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sha256:
            raise SystemExit(f"{filename}: SHA-256 {digest}, expected {sha256}")
        out.append((requirement, path))
    return out


def extract(requirement: str, archive: Path, corpus: Path) -> int:
    target = corpus / requirement.replace("==", "-")
    count = 0
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                if name.endswith(EXTRACTED) and ".." not in name:
                    (target / name).parent.mkdir(parents=True, exist_ok=True)
                    (target / name).write_bytes(z.read(name))
                    count += 1
    else:
        with tarfile.open(archive) as t:
            for member in t.getmembers():
                if member.isfile() and member.name.endswith(EXTRACTED) and ".." not in member.name:
                    data = t.extractfile(member)
                    if data is not None:
                        (target / member.name).parent.mkdir(parents=True, exist_ok=True)
                        (target / member.name).write_bytes(data.read())
                        count += 1
    return count


def false_positives(root: Path, label: str) -> tuple[int, int, int, list[str]]:
    report = openward.scan(root)
    files = [fr.path for fr in report.files if fr.path.endswith(WANTED)]
    flagged = {f.path for f in report.findings if f.severity.rank >= 2 and f.path in set(files)}
    mine = {
        f.path
        for f in report.findings
        if f.severity.rank >= 2 and f.rule_id.startswith(MINE) and f.path in set(files)
    }
    lines = [
        f"  {f.path}: {f.rule_id} {f.severity.value} {f.evidence[:120]}"
        for f in report.findings
        if f.severity.rank >= 2 and f.path in flagged
    ]
    print(f"{label}: {len(files)} files, {len(flagged)} flagged (config rules: {len(mine)})")
    return len(files), len(flagged), len(mine), lines


def detections() -> tuple[int, int, list[str]]:
    from openward._zoo import configs as zoo

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        samples: list[Sample] = []

        def add(name: str, data: bytes, technique: str, description: str, rule: str,
                severity: str = "critical", loader: str | None = None,
                marker: str | None = None) -> None:  # fmt: skip
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
            samples.append(Sample(name, technique, description, True, rule, severity))

        zoo.malicious(add, lambda tag: f"touch {root / 'markers' / tag}")
        report = openward.scan(root)
        missed = []
        for s in samples:
            found = [(f.rule_id, f.severity.value) for f in report.findings if f.path == s.name]
            if not detected(s, found):
                missed.append(s.name)
        return len(samples), len(samples) - len(missed), missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ow-configs")
    parser.add_argument("--extra", type=Path, action="append", default=[])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp)
        for requirement, archive in fetch(args.cache):
            extract(requirement, archive, corpus)
            rows.append(
                (
                    requirement,
                    *false_positives(corpus / requirement.replace("==", "-"), requirement),
                )
            )
    for extra in args.extra:
        rows.append((str(extra), *false_positives(extra, str(extra))))
    print("\n| source | files | flagged >= medium | by config rules |\n|---|---|---|---|")
    for source, files, flagged, mine, _ in rows:
        print(f"| {source} | {files} | {flagged} | {mine} |")
    total = collections.Counter()
    for _, files, flagged, mine, _ in rows:
        total.update({"files": files, "flagged": flagged, "mine": mine})
    print(f"| total | {total['files']} | {total['flagged']} | {total['mine']} |")
    for *_, lines in rows:
        for line in lines:
            print(line)
    n, caught, missed = detections()
    print(f"\ndetections: {caught}/{n} config-loader techniques at their expected severity")
    for name in missed:
        print(f"  missed: {name}")


if __name__ == "__main__":
    main()

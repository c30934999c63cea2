"""The real-world benign corpus manifest stays what the benchmark and issue 12 need.

``benchmarks/realworld_corpus.json`` pins every distribution and file by SHA-256 so
that ``benchmarks/scan_realworld.py`` measures the same bytes every time; a manifest
edited by hand into an unverifiable state (missing hash, file without its
distribution, ground truth without its method) would silently change what the
false-positive figures mean.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

MANIFEST = Path(__file__).resolve().parents[2] / "benchmarks" / "realworld_corpus.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MANIFEST.read_text())
    return data


def test_corpus_is_large_and_diverse_enough(manifest: dict[str, Any]) -> None:
    files = manifest["files"]
    assert len(files) >= 250
    assert len({f["package"] for f in files}) >= 30
    assert len({f["format"] for f in files}) >= 15


def test_every_distribution_is_pinned(manifest: dict[str, Any]) -> None:
    names = set()
    for dist in manifest["distributions"]:
        assert _SHA256.match(dist["sha256"]), dist["filename"]
        assert dist["url"].startswith("https://"), dist["filename"]
        assert dist["url"].endswith("/" + dist["filename"])
        assert dist["size"] > 0
        names.add(dist["filename"])
    assert len(names) == len(manifest["distributions"])


def test_every_file_is_pinned_to_its_distribution(manifest: dict[str, Any]) -> None:
    dists = {d["filename"]: d for d in manifest["distributions"]}
    ids = [f["id"] for f in manifest["files"]]
    assert len(ids) == len(set(ids))
    for entry in manifest["files"]:
        dist = dists[entry["distribution"]]
        assert (entry["package"], entry["version"]) == (dist["package"], dist["version"])
        assert _SHA256.match(entry["sha256"]), entry["id"]
        assert 0 < entry["size"] < 200_000_000, entry["id"]
        assert entry["id"] == f"{entry['package']}/{entry['path']}"


def test_ground_truth_says_how_it_was_obtained(manifest: dict[str, Any]) -> None:
    counted = [f for f in manifest["files"] if "inspect" in f]
    assert len(counted) >= 60
    for entry in counted:
        truth = entry["inspect"]
        assert truth["method"], entry["id"]
        if truth["parameters"] is not None:
            assert isinstance(truth["parameters"], int) and truth["parameters"] >= 0
            assert "sandbox" in truth, entry["id"]

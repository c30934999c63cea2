"""The scanner against one poisoned file per technique and a set of benign files.

Every malicious sample's payload is real (see ``test_payloads_are_live``) and
harmless (it creates a marker file); scanning must flag each one at the
right severity, pass every benign file, and never create a marker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import openward
from openward._samples import Sample, build_malicious, detected
from openward.scanning.interface import ScanReport, Severity
from tests.conftest import Zoo


def _findings_for(report: ScanReport, path: str) -> list[tuple[str, str]]:
    return [(f.rule_id, f.severity.value) for f in report.findings if f.path == path]


def test_scanning_never_runs_a_payload(zoo: Zoo, zoo_report: ScanReport) -> None:
    assert zoo_report.files, "the zoo was scanned"
    assert list(zoo.markers.iterdir()) == []


def test_every_technique_is_flagged_at_its_severity(zoo: Zoo, zoo_report: ScanReport) -> None:
    missed = [
        (
            s.name,
            s.expected_rule,
            s.expected_severity,
            _findings_for(zoo_report, f"poisoned/{s.name}"),
        )
        for s in zoo.malicious
        if not detected(s, _findings_for(zoo_report, f"poisoned/{s.name}"))
    ]
    assert missed == []


def test_every_malicious_file_fails_the_default_gate(zoo: Zoo, zoo_report: ScanReport) -> None:
    # hidden-data is medium by design; everything else must reach the default --fail-on high
    for s in zoo.malicious:
        worst = max(
            (Severity(sev).rank for _, sev in _findings_for(zoo_report, f"poisoned/{s.name}")),
            default=-1,
        )
        floor = Severity.MEDIUM if s.expected_severity == "medium" else Severity.HIGH
        assert worst >= floor.rank, s.name


def test_benign_files_get_nothing_at_medium_or_above(zoo: Zoo, zoo_report: ScanReport) -> None:
    flagged = [
        (f.path, f.rule_id, f.severity.value, f.evidence)
        for f in zoo_report.findings
        if f.path.startswith("clean/") and f.severity.rank >= Severity.MEDIUM.rank
    ]
    assert flagged == []
    paths = {f"clean/{s.name}" for s in zoo.benign}
    assert paths <= {fr.path for fr in zoo_report.files}


def test_benign_set_covers_the_real_libraries(zoo: Zoo, zoo_report: ScanReport) -> None:
    formats = {fr.path: fr.format for fr in zoo_report.files}
    techniques = {s.technique for s in zoo.benign}
    assert {
        "torch-zip",
        "torch-optimizer",
        "torch-legacy",
        "numpy-npy",
        "numpy-npz",
        "joblib",
        "pickle-ordereddict",
        "safetensors",
        "torch-checkpoint",
    } <= techniques
    assert formats["clean/torch/state_dict.pt"] == "torch-zip"
    assert formats["clean/torch/legacy.pt"] == "torch-legacy"
    assert formats["clean/joblib/model_0.joblib"] == "joblib"
    assert formats["clean/joblib/model_3.joblib"] == "zlib+joblib"


def test_findings_name_the_payload(zoo_report: ScanReport) -> None:
    by_path = {f.path: f for f in zoo_report.findings if f.rule_id == "pickle-dangerous-global"}
    f = by_path["poisoned/pickle/proto4.pkl"]
    assert f.evidence.startswith("posix.system('touch ")
    assert f.member is None and f.offset is not None and f.remedy
    inner = [
        f
        for f in zoo_report.findings
        if f.path == "poisoned/archives/model.tar.gz" and f.rule_id == "pickle-dangerous-global"
    ]
    assert inner and inner[0].member == "model.tar!model.pkl"


def test_nested_pickle_payload_is_reported_inside_the_outer_one(zoo_report: ScanReport) -> None:
    members = {
        f.member for f in zoo_report.findings if f.path == "poisoned/streams/nested_loads.pkl"
    }
    assert any(m and m.startswith("<bytes passed to _pickle.loads") for m in members)


def test_tampered_zips_are_read_anyway_and_reported(zoo_report: ScanReport) -> None:
    for name in ("bad_crc", "local_name"):
        rules = {f.rule_id for f in zoo_report.findings if f.path == f"poisoned/torch/{name}.pt"}
        assert {"archive-tampered", "pickle-dangerous-global"} <= rules, name


def test_torch_storages_are_only_parsed_when_they_look_like_something_else(tmp_path: Path) -> None:
    """A torch zip's tensor bytes are not parsed; junk in them changes nothing,
    but bytes that open as a pickle (or an .npy, which np.load reads whatever
    the member's name) are analysed."""
    torch = pytest.importorskip("torch")
    path = tmp_path / "w.pt"
    torch.save({"w": torch.zeros(1024)}, path)
    clean = openward.scan(path)
    assert [f.rule_id for f in clean.findings] == []
    original = path.read_bytes()
    start = original.find(bytes(4096))

    def with_storage(payload: bytes) -> set[str]:
        data = bytearray(original)
        data[start : start + len(payload)] = payload
        path.write_bytes(bytes(data))
        return {f.rule_id for f in openward.scan(path).findings}

    # Tensor bytes are not read (not even for their CRC): nothing is reported.
    assert with_storage(bytes(range(256)) * 4) == set()
    found = with_storage(b"\x80\x04cos\nsystem\n(S'x'\ntR.")
    assert "pickle-dangerous-global" in found


LOADERS = {
    "pickle": "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))",
    "pickle-all": (
        "import pickle, sys\nf = open(sys.argv[1], 'rb')\n"
        "while True:\n    try:\n        pickle.load(f)\n    except EOFError:\n        break"
    ),
    "torch": "import torch, sys; torch.load(sys.argv[1], weights_only=False)",
    "pickle-bytesio": (
        "import io, pickle, sys; pickle.load(io.BytesIO(open(sys.argv[1], 'rb').read()))"
    ),
    "numpy": "import numpy, sys; numpy.load(sys.argv[1], allow_pickle=True)",
    "numpy-npz": (
        "import numpy, sys; z = numpy.load(sys.argv[1], allow_pickle=True); [z[k] for k in z.files]"
    ),
    "joblib": "import joblib, sys; joblib.load(sys.argv[1])",
    "gzip-pickle": "import gzip, pickle, sys; pickle.load(gzip.open(sys.argv[1]))",
    "lzma-pickle": "import lzma, pickle, sys; pickle.load(lzma.open(sys.argv[1]))",
    "zstd-pickle": (
        "import pickle, sys\ntry:\n    from compression import zstd\nexcept ImportError:\n"
        "    from backports import zstd\npickle.load(zstd.open(sys.argv[1]))"
    ),
    "7z-pickle": (
        "import os, pickle, py7zr, sys, tempfile\nd = tempfile.mkdtemp()\n"
        "try:\n    py7zr.SevenZipFile(sys.argv[1]).extractall(d)\nexcept Exception:\n    pass\n"
        "for n in sorted(os.listdir(d)):\n    try:\n"
        "        pickle.load(open(os.path.join(d, n), 'rb'))\n    except Exception:\n        pass"
    ),
}


@pytest.fixture(scope="module")
def live_zoo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Sample]]:
    root = tmp_path_factory.mktemp("live")
    markers = root / "markers"
    markers.mkdir()
    return root / "files", markers, build_malicious(root / "files", markers)


def test_payloads_are_live(live_zoo: tuple[Path, Path, list[Sample]]) -> None:
    """Each sample with a loader really runs its payload when loaded.

    The samples are our own, harmless ones; each is loaded in a throwaway
    subprocess, and the marker it creates proves the technique works against
    the real library (torch.load with a bad CRC, numpy with allow_pickle, ...).
    """
    files, markers, samples = live_zoo
    dead = []
    for s in samples:
        if s.loader is None:
            continue
        subprocess.run(
            [sys.executable, "-c", LOADERS[s.loader], str(files / s.name)],
            cwd=files,
            capture_output=True,
            timeout=120,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
            check=False,
        )
        if not (markers / f"{s.marker}.marker").exists():
            dead.append(s.name)
    assert dead == []
    assert sum(1 for s in samples if s.loader) >= 40

"""Every view a loader takes of a file is analysed, once (issue 12, mechanism 1).

A file is labelled by the reader that runs first; the other views (a zip
found from the end, a tar at the start, an HDF5 superblock after a user
block, a protobuf model) are analysed too, containers included, except when
the view is the container itself or one of its own members.
"""

from __future__ import annotations

import io
import json
import struct
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import openward
from openward._samples import _build_zip, _keras_archive, _keras_model, _system, _tar
from openward._zoo.detection import (
    _DENSE,
    _EXTERNAL_LAYER,
    _json_tar,
    _keras_h5_attrs,
    hdf5_with_userblock,
    onnx_external_escape,
    reencode_protobuf,
    text_tar,
    tflite_with_metadata,
)
from openward.artifacts.blob import Blob
from openward.scanning.context import ScanContext
from openward.scanning.interface import ScanLimits, ScanReport, Severity

_EVIL = _system("true", 2)


def _scan(tmp_path: Path, name: str, data: bytes) -> ScanReport:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return openward.scan(path)


def _serious(report: ScanReport) -> list[tuple[str, str, str | None]]:
    return [
        (f.rule_id, f.severity.value, f.member)
        for f in report.findings
        if f.severity.rank >= Severity.MEDIUM.rank
    ]


# -- 1. text and JSON that are also tars ----------------------------------------


def test_text_that_tarfile_opens_is_scanned_as_a_tar_too(tmp_path: Path) -> None:
    report = _scan(tmp_path, "pytorch_model.bin", text_tar({"storages": _EVIL}, tail=b"# x\n"))
    assert report.files[0].format == "text"
    assert ("pickle-dangerous-global", "critical", "<tar view>!storages") in _serious(report)
    assert ("polyglot-file", "medium", None) in _serious(report)


def test_json_that_tarfile_opens_keeps_its_json_analysis(tmp_path: Path) -> None:
    data = _json_tar("../../escape", b"x")
    assert json.loads(data)
    report = _scan(tmp_path, "config.json", data)
    assert report.files[0].format == "json"
    assert ("archive-path-traversal", "high", "<tar view>!../../escape") in _serious(report)


def test_ustar_magic_without_a_valid_checksum_is_not_a_tar(tmp_path: Path) -> None:
    """tarfile checks the checksum, never the magic: a config.json with "ustar"
    at byte 257 is JSON, and its auto_map is analysed."""
    doc = {"auto_map": {"AutoModel": "modeling.Model"}, "pad": ""}
    text = json.dumps(doc)
    pad = 257 - text.index('""') - 1
    doc["pad"] = " " * pad + "ustar"
    data = json.dumps(doc).encode()
    assert data[257:262] == b"ustar"
    report = _scan(tmp_path, "config.json", data)
    assert report.files[0].format == "json"
    assert "remote-code" in {f.rule_id for f in report.findings}


# -- 2. HDF5 behind a user block -------------------------------------------------


@pytest.mark.parametrize("userblock", [512, 1024, 4096])
def test_keras_h5_behind_a_user_block_is_analysed(tmp_path: Path, userblock: int) -> None:
    import h5py

    attrs = _keras_h5_attrs([_DENSE, _EXTERNAL_LAYER])
    data = hdf5_with_userblock(attrs, b"#!/bin/sh\necho not a model\n", userblock)
    assert data is not None
    with h5py.File(io.BytesIO(data), "r") as f:  # what Keras reads
        assert "os" in json.dumps(json.loads(f.attrs["model_config"]))
    report = _scan(tmp_path, "model.h5", data)
    assert ("keras-external-reference", "high", "<model_config>") in _serious(report)


def test_hdf5_view_of_a_file_that_starts_as_a_pickle(tmp_path: Path) -> None:
    first = struct.pack("<B", 0x80) + b"\x02}q\x00."  # a protocol-2 empty dict
    data = hdf5_with_userblock(_keras_h5_attrs([_EXTERNAL_LAYER]), first, 512)
    assert data is not None
    report = _scan(tmp_path, "model.h5", data)
    assert report.files[0].format == "pickle"
    found = _serious(report)
    assert ("keras-external-reference", "high", "<hdf5 view>!<model_config>") in found
    assert ("polyglot-file", "medium", None) in found


def test_a_tar_holding_an_hdf5_file_at_byte_512_is_not_a_polyglot(tmp_path: Path) -> None:
    h5 = hdf5_with_userblock(_keras_h5_attrs([_EXTERNAL_LAYER]), b"", 512)
    assert h5 is not None
    tar = _tar({"model.h5": h5})
    assert tar[1024:1032] == b"\x89HDF\r\n\x1a\n"  # h5py would open the tar itself
    report = _scan(tmp_path, "bundle.tar", tar)
    # The member is analysed once, under its own name; no second "view" of it.
    assert _serious(report) == [("keras-external-reference", "high", "model.h5!<model_config>")]


# -- 3. protobuf models by structure ----------------------------------------------


def test_reordered_onnx_is_analysed_as_onnx(tmp_path: Path) -> None:
    import onnx

    model = onnx_external_escape()
    assert model is not None
    data = reencode_protobuf(model, prefix=b"\xfb\x3e\x08\x01\xfc\x3e")
    parsed = onnx.load_model_from_string(data)
    locations = [e.value for e in parsed.graph.initializer[0].external_data if e.key == "location"]
    assert locations == ["../../../../etc/passwd"]
    report = _scan(tmp_path, "model.onnx", data)
    assert report.files[0].format == "onnx"
    assert ("onnx-external-data-escape", "high", None) in _serious(report)


def test_onnx_behind_a_pickle_header_is_found_in_its_onnx_view(tmp_path: Path) -> None:
    model = onnx_external_escape()
    assert model is not None
    report = _scan(tmp_path, "model.onnx", b"\x80\x02\x00" + model)
    found = _serious(report)
    assert ("onnx-external-data-escape", "high", "<onnx view>") in found
    assert ("polyglot-file", "medium", None) in found


def test_reordered_saved_model_is_analysed(tmp_path: Path) -> None:
    from openward._samples import saved_model_bytes

    data = reencode_protobuf(saved_model_bytes(["Placeholder", "WriteFile"]))
    report = _scan(tmp_path, "saved_model.pb", data)
    assert report.files[0].format == "tf-saved-model"
    assert ("tf-file-write", "critical", None) in _serious(report)


_FUZZ_LIMITS = ScanLimits(max_file_seconds=5.0, max_expanded_bytes=16 << 20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=1, max_size=512))
def test_binary_data_that_starts_like_onnx_is_not_onnx(tail: bytes) -> None:
    """0x08 (protobuf field 1, a varint) opens many binary files: structural
    detection must not make them ONNX or SavedModel findings, nor polyglots."""
    import onnx

    data = b"\x08" + tail
    ctx = ScanContext("x.bin", _FUZZ_LIMITS, frozenset(), time.monotonic() + 5)
    label, _ = ctx.scan(Blob.of(data), (), "x.bin")
    flagged = [
        f.rule_id
        for f in ctx.findings
        if f.severity.rank >= Severity.MEDIUM.rank
        and f.rule_id.startswith(("onnx-", "tf-", "polyglot"))
    ]
    if "onnx" in label or flagged:
        # Only a real model may be called one: onnx parses it, with graph nodes.
        model = onnx.load_model_from_string(data)
        assert model.ir_version > 0 and len(model.graph.node) > 0, (label, flagged)


# -- 4. containers get the other views too, without double reports ------------------


def test_tar_with_a_zip_appended(tmp_path: Path) -> None:
    data = _tar({"README.md": b"# hi\n"}) + _build_zip([("archive/data.pkl", _EVIL)])
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["archive/data.pkl"]
    report = _scan(tmp_path, "model.tar", data)
    assert ("pickle-dangerous-global", "critical", "<zip view>!archive/data.pkl") in _serious(
        report
    )


def test_zip_member_of_a_tar_is_reported_once(tmp_path: Path) -> None:
    """The last member's end record is the one a zip reader finds at the end of
    the tar: that view is the member itself, analysed already."""
    inner = _build_zip([("archive/data.pkl", _EVIL)])
    report = _scan(tmp_path, "bundle.tar", _tar({"README.md": b"# hi\n", "model.pt": inner}))
    assert _serious(report) == [
        ("pickle-dangerous-global", "critical", "model.pt!archive/data.pkl")
    ]


def test_real_archives_are_not_polyglots(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    np.savez(buf, w=np.zeros(4), b=np.ones(2))
    pt = io.BytesIO()
    torch.save({"w": torch.zeros(4)}, pt)
    for name, data in (
        ("w.npz", buf.getvalue()),
        ("model.pt", pt.getvalue()),
        ("model.keras", _keras_archive(_keras_model([_DENSE]))),
        ("bundle.tar", _tar({"model.pt": pt.getvalue(), "w.npz": buf.getvalue()})),
    ):
        assert _serious(_scan(tmp_path, name, data)) == [], name


# -- 5. safetensors with an absurd header length -----------------------------------


def test_absurd_safetensors_length_is_a_malformed_safetensors(tmp_path: Path) -> None:
    header = b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'
    report = _scan(tmp_path, "x.bin", struct.pack("<Q", 1 << 50) + header + bytes(4))
    assert report.files[0].format == "safetensors"
    assert _serious(report) == [("safetensors-malformed", "medium", None)]


# -- 6. TFLite metadata ---------------------------------------------------------------


def test_tflite_metadata_zip_is_not_a_polyglot(tmp_path: Path) -> None:
    data = tflite_with_metadata(["labels.txt"], {"labels.txt": b"background\nperson\n"})
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["labels.txt"]
    assert _serious(_scan(tmp_path, "model.tflite", data)) == []


def test_tflite_metadata_zip_with_relative_offsets_is_not_a_polyglot(tmp_path: Path) -> None:
    """minizip (MediaPipe's C++ populator) may write offsets from the zip's own
    start: the same layout, read with a prefix."""
    model = tflite_with_metadata(["labels.txt"], {})
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("labels.txt", b"a\nb\n")
    assert _serious(_scan(tmp_path, "model.tflite", model + archive.getvalue())) == []


@pytest.mark.parametrize(
    ("recorded", "packed", "trailer", "rules"),
    [
        # A file the metadata does not record: a polyglot, and its pickle is found.
        (["labels.txt"], {"labels.txt": b"a\n", "x.pkl": _EVIL}, b"", {"polyglot-file"}),
        # The recorded name, a pickle inside: no polyglot, but the pickle is found.
        (["labels.txt"], {"labels.txt": _EVIL}, b"", set()),
        # Bytes after the archive: not what the populator writes.
        (["labels.txt"], {"labels.txt": b"a\n"}, b"\x00junk", {"polyglot-file"}),
    ],
)
def test_tflite_zip_other_than_its_metadata(
    tmp_path: Path,
    recorded: list[str],
    packed: dict[str, bytes],
    trailer: bytes,
    rules: set[str],
) -> None:
    data = tflite_with_metadata(recorded, packed) + trailer
    report = _scan(tmp_path, "model.tflite", data)
    found = {r for r, _, _ in _serious(report)}
    assert rules <= found
    if "polyglot-file" not in rules:
        assert "polyglot-file" not in found
    if any(v == _EVIL for v in packed.values()):
        assert "pickle-dangerous-global" in found

"""Keras configs, TensorFlow graphs and TorchScript code that act when a model loads.

The malicious samples of :mod:`openward._zoo.keras_tf_torchscript` are proven
live against Keras 3 (torch backend) and torch.jit here, in subprocesses,
when those libraries are installed; scanning them must flag them and never
create a marker. Benign saves by the real libraries get nothing at medium
or above.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

import openward
from openward._samples import PickleAsm, Sample, detected
from openward._zoo import keras_tf_torchscript as zoo
from openward._zoo.keras_tf_torchscript import (
    attr_func,
    attr_list_s,
    attr_s,
    attr_string_tensor,
    function,
    node,
    saved_model,
    tflite_model,
)
from openward.scanning.formats import keras as keras_format
from openward.scanning.formats.torchscript import (
    analyse_bytecode_operators,
    analyse_torchscript_source,
)
from openward.scanning.interface import ScanReport, Severity

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_KERAS = HAS_TORCH and importlib.util.find_spec("keras") is not None


def _build(root: Path) -> tuple[list[Sample], Path]:
    """This area's malicious samples, written as build_malicious writes them."""
    files, markers = root / "files", root / "markers"
    markers.mkdir(parents=True)
    samples: list[Sample] = []

    def add(
        name: str,
        data: bytes,
        technique: str,
        description: str,
        rule: str,
        severity: str = "critical",
        loader: str | None = None,
        marker: str | None = None,
    ) -> None:
        target = files / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        samples.append(Sample(name, technique, description, True, rule, severity, loader, marker))

    def touch(tag: str) -> str:
        return f"touch {markers / f'{tag}.marker'}"

    zoo.malicious(add, touch)
    return samples, markers


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Sample], Path]:
    root = tmp_path_factory.mktemp("ktt")
    samples, markers = _build(root)
    return root / "files", samples, markers


def _pairs(report: ScanReport) -> list[tuple[str, str]]:
    return [(f.rule_id, f.severity.value) for f in report.findings]


def _rules(data: bytes, name: str, tmp_path: Path) -> dict[str, list[str]]:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    out: dict[str, list[str]] = {}
    for f in openward.scan(path).findings:
        if f.severity.rank >= Severity.LOW.rank:
            out.setdefault(f.rule_id, []).append(f.evidence)
    return out


# -- the samples: flagged, never run by scanning, live in the real loaders -------------


def test_every_sample_is_flagged_and_no_marker_appears(
    built: tuple[Path, list[Sample], Path],
) -> None:
    files, samples, markers = built
    assert len(samples) >= 20
    missed = []
    for s in samples:
        report = openward.scan(files / s.name)
        if not detected(s, _pairs(report)):
            missed.append((s.name, _pairs(report)))
    assert missed == []
    assert list(markers.iterdir()) == []


KERAS_LOAD = (
    "import sys, keras\n"
    "try:\n    keras.saving.load_model(sys.argv[1], safe_mode=False)\n"
    "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
)


@pytest.mark.skipif(not HAS_KERAS, reason="keras (and torch) not installed")
def test_keras_payloads_are_live(built: tuple[Path, list[Sample], Path]) -> None:
    """Keras 3 runs each payload: a zip with nothing but config.json, a model
    directory, a UTF-16 config.json and a TorchModuleWrapper pickle."""
    files, samples, markers = built
    live = {s.marker: s for s in samples if s.marker and s.name.startswith("keras/")}
    assert set(live) == {
        "keras-config-only",
        "keras-directory",
        "keras-utf16-config",
        "keras-torch-module",
    }
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONWARNINGS": "ignore"}
    dead = []
    for tag, s in live.items():
        target = files / s.name
        path = target.parent if target.name == "config.json" else target
        subprocess.run(
            [sys.executable, "-c", KERAS_LOAD, str(path)],
            cwd=files,
            env=env,
            capture_output=True,
            timeout=300,
            check=False,
        )
        if not (markers / f"{tag}.marker").exists():
            dead.append(s.name)
    assert dead == []


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_torchscript_payloads_are_live_in_jit_load(
    built: tuple[Path, list[Sample], Path],
) -> None:
    files, samples, markers = built
    live = [s for s in samples if s.name.startswith("torchscript/") and s.marker]
    assert {s.marker for s in live} == {
        "torchscript-setstate-from-file",
        "torchscript-disguised-save",
    }
    for s in live:
        assert not (markers / f"{s.marker}.marker").exists()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, torch; torch.jit.load(sys.argv[1])",
                str(files / s.name),
            ],
            capture_output=True,
            timeout=300,
            check=False,
        )
        assert (markers / f"{s.marker}.marker").exists(), s.name


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_a_borrowed_torch_nn_name_vouches_for_nothing(
    built: tuple[Path, list[Sample], Path],
) -> None:
    files, _, _ = built
    report = openward.scan(files / "torchscript/disguised_linear.pt")
    (write,) = [f for f in report.findings if f.rule_id == "torchscript-file-write"]
    assert "__torch__.torch.nn.modules.linear.Linear.__setstate__" in write.evidence
    assert "runs while torch.jit.load reads the archive" in write.evidence
    assert write.member and write.member.endswith("code/__torch__/torch/nn/modules/linear.py")


# -- benign files by the real libraries ------------------------------------------------


def _benign(tmp_path: Path) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []

    def add(name: str, data: bytes, technique: str, description: str) -> None:
        del technique, description
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        out.append((name, target))

    zoo.benign(add)
    return out


def test_benign_saves_get_nothing_at_medium_or_above(tmp_path: Path) -> None:
    files = _benign(tmp_path)
    names = {n for n, _ in files}
    assert {"tensorflow/tf2/saved_model.pb", "tensorflow/tf1/saved_model.pb"} <= names
    if HAS_KERAS:
        assert {"keras/real/functional.keras", "keras/real/functional_dir/config.json"} <= names
    if HAS_TORCH:
        assert {"torchscript/scripted.pt", "torchscript/traced.pt", "torchscript/lite.ptl"} <= names
    report = openward.scan(tmp_path)
    flagged = [
        (f.path, f.rule_id, f.evidence)
        for f in report.findings
        if f.severity.rank >= Severity.MEDIUM.rank
    ]
    assert flagged == []


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_torchscript_helpers_and_classes_are_not_reported(tmp_path: Path) -> None:
    """torch.jit._pickle.build_* in every TorchScript archive were reported critical."""
    import torch

    class M(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.xs = [1, 2, 3]
            self.lin = torch.nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x) * len(self.xs)

    path = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(M()), str(path))
    with zipfile.ZipFile(path) as z:
        assert b"build_intlist" in z.read("m/data.pkl")
    assert list(openward.scan(path).findings) == []


# -- TorchScript source -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("t = torch.from_file(p, True, 4)", "torchscript-file-write"),
        ("t = torch.from_file(p, shared=True, size=4)", "torchscript-file-write"),
        ("t = torch.from_file(p, flag, 4)", "torchscript-file-write"),  # unknown: assume shared
        ("t = ops.aten.from_file.default(p, True)", "torchscript-file-write"),
        ("t = torch.ops.aten.from_file(p, True)", "torchscript-file-write"),
        ("t = getattr(torch, 'from_file')(p, True)", "torchscript-file-write"),
        ("torch.save(x, p)", "torchscript-file-write"),
        ("ops.aten.save(x, p)", "torchscript-file-write"),
        ("t = torch.from_file(p)", "torchscript-file-read"),
        ("t = torch.from_file(p, False, 4)", "torchscript-file-read"),
        ("t = torch.ops.evil.run(x)", "torchscript-custom-op"),
        ("t = ops.my_lib.kernel(x)", "torchscript-custom-op"),
        ("t : __torch__.torch.classes.mylib.Thing = x", "torchscript-custom-op"),
        ("t = ops.quantized.linear_dynamic(x, w)", None),
        ("t = torch.relu(torch.add(x, 1))", None),
        ("t = ops.torchvision.nms(a, b, 0.5)", None),
        ("t : __torch__.torch.classes.quantized.LinearPackedParamsBase = x", None),
        ("t = getattr(self, 'from_file')", None),
    ],
)
def test_torchscript_operations(line: str, rule: str | None) -> None:
    source = f"class M(Module):\n  def __setstate__(self, p: str, x: Tensor) -> None:\n    {line}\n"
    report = analyse_torchscript_source(source, "__torch__", "code/__torch__.py")
    assert report.error is None
    assert [i.rule_id for i in report.issues] == ([rule] if rule else [])
    assert report.classes == {"__torch__.M"}
    if rule:
        assert "__torch__.M.__setstate__ (runs while torch.jit.load reads the archive)" in (
            report.issues[0].evidence
        )


def test_unparsable_torchscript_is_searched_token_by_token() -> None:
    source = (
        "class M(Module):\n  def forward(self, p: str) $ :\n    return torch.from_file(p, True)\n"
    )
    report = analyse_torchscript_source(source, "__torch__", "code/__torch__.py")
    assert report.error is not None
    assert [i.rule_id for i in report.issues] == ["torchscript-file-write"]


def test_lite_interpreter_operator_table() -> None:
    issues = analyse_bytecode_operators(
        ["aten::linear", "aten::from_file", "prim::Print", "evil::run.overload"], "bytecode.pkl"
    )
    assert [(i.rule_id, i.evidence.split()[1]) for i in issues] == [
        ("torchscript-file-write", "aten::from_file"),
        ("torchscript-custom-op", "evil::run.overload"),
    ]


def _torch_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def _class_pickle(module: str, name: str) -> bytes:
    return PickleAsm().proto(2).glob(module, name).empty_tuple().newobj().stop().bytes()


def test_torch_classes_are_judged_by_the_archive_that_defines_them(tmp_path: Path) -> None:
    data = _class_pickle("__torch__", "M")
    code = b"class M(Module):\n  def forward(self, x: Tensor) -> Tensor:\n    return x\n"
    # a TorchScript archive defining the class: its code is what matters
    defined = {"a/data.pkl": data, "a/constants.pkl": b"\x80\x02).", "a/code/__torch__.py": code}
    assert _rules(_torch_zip(defined), "defined.pt", tmp_path) == {}
    # the class is not in the archive's code: nothing vouches for it
    missing = {"a/data.pkl": data, "a/constants.pkl": b"\x80\x02).", "a/code/__torch__.py": b""}
    assert "pickle-unlisted-global" in _rules(_torch_zip(missing), "missing.pt", tmp_path)
    # a plain torch.save zip: torch.load unpickles it with Python's pickle
    assert "pickle-unlisted-global" in _rules(
        _torch_zip({"a/data.pkl": data}), "plain.pt", tmp_path
    )


def test_jit_pickle_helpers_are_harmless_in_any_pickle(tmp_path: Path) -> None:
    """Audited identity functions: allowed everywhere, not only in TorchScript."""
    stream = (
        PickleAsm().proto(2).glob("torch.jit._pickle", "build_intlist").mark().empty_list()
        .binint(1).append().tuple().reduce().stop().bytes()
    )  # fmt: skip
    assert _rules(stream, "x.pkl", tmp_path) == {}
    other = PickleAsm().proto(2).glob("torch.jit", "load").stop().bytes()
    assert "pickle-dangerous-global" in _rules(other, "y.pkl", tmp_path)


# -- TensorFlow graphs ------------------------------------------------------------------


def _serving_model(serving: list[bytes], **kw: Any) -> bytes:
    return zoo._tf2_model([*zoo._benign_serving(), *serving], **kw)


@pytest.mark.parametrize(
    ("stream", "rules"),
    [
        ("stderr", set()),
        ("stdout", set()),
        ("log(warning)", set()),
        ("file:///home/u/.bashrc", {"tf-file-write"}),
    ],
)
def test_printv2_is_judged_by_its_output_stream(
    stream: str, rules: set[str], tmp_path: Path
) -> None:
    graph = _serving_model([node("P", "PrintV2", ("x",), output_stream=attr_s(stream))])
    found = _rules(graph, "saved_model.pb", tmp_path)
    assert set(found) == rules
    if rules:
        assert "file:///home/u/.bashrc" in found["tf-file-write"][0]


def test_checkpoint_ops_are_only_excused_in_the_saver(tmp_path: Path) -> None:
    assert _rules(zoo._tf2_model(zoo._benign_serving()), "ok/saved_model.pb", tmp_path) == {}
    # the serving function calls the saver's save function: it now runs at inference
    calls_saver = _serving_model(
        [node("Call", "StatefulPartitionedCall", ("prefix",), f=attr_func(zoo._SAVE_FN))]
    )
    found = _rules(calls_saver, "a/saved_model.pb", tmp_path)
    assert any("SaveV2" in e for e in found["tf-file-write"])
    # a function nothing references is callable by name: not excused either
    orphan = saved_model(
        [node("x", "Placeholder")],
        [function("__inference__traced_save_9", [node("S", "SaveV2", ("p",))])],
    )
    assert "tf-file-write" in _rules(orphan, "b/saved_model.pb", tmp_path)


def test_tf1_saver_is_excused_but_a_graph_path_through_it_is_not(tmp_path: Path) -> None:
    assert (
        _rules(zoo._tf1_model([node("out", "Identity", ("MatMul",))]), "a/saved_model.pb", tmp_path)
        == {}
    )
    # the serving output depends on the SaveV2 node: every inference writes a checkpoint
    leaky = zoo._tf1_model([node("out", "Identity", ("MatMul", "^save/SaveV2"))])
    found = _rules(leaky, "b/saved_model.pb", tmp_path)
    assert any("SaveV2" in e for e in found["tf-file-write"])


@pytest.mark.parametrize(
    ("extra", "rule"),
    [
        (node("D", "DebugIdentity", ("x",), debug_urls=attr_list_s([])), None),
        (
            node("D", "DebugIdentity", ("x",), debug_urls=attr_list_s(["grpc://h:1"])),
            "tf-dangerous-op",
        ),
        (node("D", "DebugIdentityV2", ("x",), dump_root=attr_s("/var/dump")), "tf-file-write"),
        (node("c", "Const", value=attr_string_tensor("")), None),
        (node("C", "CacheDatasetV2", ("ds", "name_empty")), "tf-file-write"),
        (node("E", "DecodeProtoV2", ("b",), descriptor_source=attr_s("local://")), None),
        (
            node("E", "DecodeProtoV2", ("b",), descriptor_source=attr_s("/etc/x.pb")),
            "tf-dangerous-op",
        ),
        (node("R", "DatasetToTFRecord", ("ds", "f")), "tf-file-write"),
        (node("R", "EagerPyFunc", ("x",)), "tf-dangerous-op"),
        (node("R", "RpcClient", ("addr",)), "tf-dangerous-op"),
        (node("R", "ImmutableConst", memory_region_name=attr_s("/etc/passwd")), "tf-dangerous-op"),
    ],
)
def test_ops_that_reach_the_machine(extra: bytes, rule: str | None, tmp_path: Path) -> None:
    found = _rules(_serving_model([extra]), "saved_model.pb", tmp_path)
    assert set(found) == ({rule} if rule else set())


def test_an_in_memory_cache_is_not_a_file(tmp_path: Path) -> None:
    graph = _serving_model(
        [
            node("empty", "Const", value=attr_string_tensor("")),
            node("C", "CacheDatasetV2", ("ds", "empty")),
        ]
    )
    assert _rules(graph, "saved_model.pb", tmp_path) == {}


def test_node_fields_in_any_order(tmp_path: Path) -> None:
    """protobuf fields may come in any order: attributes before the op name."""
    attr = zoo._pb(5, zoo._pb(1, "output_stream") + zoo._pb(2, attr_s("file:///x")))
    reordered = attr + zoo._pb(2, "PrintV2") + zoo._pb(1, "P")
    graph = zoo._tf2_model([*zoo._benign_serving(), reordered])
    assert "tf-file-write" in _rules(graph, "saved_model.pb", tmp_path)


def test_tflite_flex_printv2(tmp_path: Path) -> None:
    benign = node("P", "PrintV2", output_stream=attr_s("stderr"))
    assert _rules(tflite_model([("FlexPrintV2", benign)]), "a.tflite", tmp_path) == {}
    evil = node("P", "PrintV2", output_stream=attr_s("file:///root/.profile"))
    found = _rules(
        tflite_model([("FlexPrintV2", evil), ("FlexReadFile", b"")]), "b.tflite", tmp_path
    )
    assert set(found) == {"tf-file-write", "tf-dangerous-op"}
    assert "file:///root/.profile" in found["tf-file-write"][0]


# -- Keras configs ----------------------------------------------------------------------


def _keras(doc: object) -> list[tuple[str, str]]:
    return [(i.rule_id, i.evidence) for i in keras_format.analyse_keras_config(doc)]


def test_functions_keras_3_writes_are_not_external_references() -> None:
    """Keras 3 saves every function as builtins/function, looked up by name."""
    for name in ("myact", "mypkg>regact", "relu", "gelu"):
        doc = {
            "module": "builtins",
            "class_name": "function",
            "config": name,
            "registered_name": "function",
        }
        assert _keras(doc) == []
    evil = {
        "module": "builtins",
        "class_name": "function",
        "config": "eval",
        "registered_name": "function",
    }
    assert [r for r, _ in _keras(evil)] == ["keras-external-reference"]


def test_side_effect_keras_functions_are_references() -> None:
    for module, name in [
        ("keras.utils", "get_file"),
        ("keras.src.utils.file_utils", "get_file"),
        ("keras.config", "enable_unsafe_deserialization"),
        ("keras.src.saving.saving_api", "load_model"),
        ("keras_hub.src.utils.preset_utils", "load_json"),
    ]:
        doc = {"module": module, "class_name": "function", "config": name}
        assert [r for r, _ in _keras(doc)] == ["keras-external-reference"], (module, name)
    ok = {"module": "keras.src.activations.activations", "class_name": "function", "config": "relu"}
    assert _keras(ok) == []


def test_hf_configs_with_module_keys_are_not_keras() -> None:
    hf = {"architectures": ["X"], "quantization_config": {"module": "bitsandbytes", "bits": 4}}
    assert _keras(hf) == []


def test_legacy_lambda_forms() -> None:
    legacy = {
        "class_name": "Lambda",
        "config": {"function": ["YWJj", None, None], "function_type": "lambda"},
    }
    assert [r for r, _ in _keras(legacy)] == ["keras-lambda"]
    by_name = {
        "class_name": "Lambda",
        "config": {"function": "exploit", "function_type": "function", "module": "__main__"},
    }
    ((rule, evidence),) = _keras(by_name)
    assert rule == "keras-external-reference" and "'exploit'" in evidence


def test_keras_config_read_whatever_its_encoding(tmp_path: Path) -> None:
    doc = zoo._sequential(zoo._lambda_layer("true"))
    for encoding in ("utf-8", "utf-8-sig", "utf-16", "utf-32"):
        found = _rules(json.dumps(doc).encode(encoding), f"{encoding}/config.json", tmp_path)
        assert "keras-lambda" in found, encoding


def test_oversized_keras_config_is_a_limit_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keras_format, "MAX_KERAS_JSON", 64)
    found = _rules(json.dumps(zoo._sequential(zoo._dense())).encode(), "config.json", tmp_path)
    assert "scan-limit-reached" in found


def test_torch_module_wrapper_payload_is_analysed_as_a_member(tmp_path: Path) -> None:
    payload = PickleAsm().proto(2).call("os", "system", "true").stop().bytes()
    wrapper = zoo._layer("TorchModuleWrapper", {"module": base64.b64encode(payload).decode()})
    report = openward.scan(
        _write(tmp_path, "m.keras", zoo._keras_zip(json.dumps(zoo._sequential(wrapper)).encode()))
    )
    (evil,) = [f for f in report.findings if f.rule_id == "pickle-dangerous-global"]
    assert evil.member is not None and "<TorchModuleWrapper module at" in evil.member
    bad = zoo._layer("TorchModuleWrapper", {"module": "é not base64"})
    found = _rules(zoo._keras_zip(json.dumps(zoo._sequential(bad)).encode()), "bad.keras", tmp_path)
    assert "keras-malformed" in found


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_benign_torch_module_wrapper_is_only_a_note(tmp_path: Path) -> None:
    import torch

    buf = io.BytesIO()
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU()), buf)
    wrapper = zoo._layer(
        "TorchModuleWrapper", {"module": base64.b64encode(buf.getvalue()).decode()}
    )
    report = openward.scan(
        _write(tmp_path, "m.keras", zoo._keras_zip(json.dumps(zoo._sequential(wrapper)).encode()))
    )
    assert [(f.rule_id, f.severity) for f in report.findings] == [
        ("keras-torch-module", Severity.LOW)
    ]


def test_keras_metadata_protobuf_in_any_field_order(tmp_path: Path) -> None:
    meta = {
        "class_name": "Lambda",
        "config": {"function": ["YWJj", None, None], "function_type": "lambda"},
    }
    entry = (
        zoo._pb(9, b"unknown field first")
        + zoo._pb(5, json.dumps(meta))
        + zoo._pb(4, "_tf_keras_layer")
        + zoo._pb(3, "root.layer-0")
    )
    found = _rules(zoo._pb(1, entry), "keras_metadata.pb", tmp_path)
    assert found == {"keras-lambda": ["config: Lambda carrying marshalled bytecode"]}


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_attribute_placeholders_bound_by_the_caller(tmp_path: Path) -> None:
    """A function's PrintV2 may take its output_stream from the calling node."""
    inner = function(
        "__inference_inner_5",
        [node("P", "PrintV2", ("x",), output_stream=zoo._pb(9, "stream"))],
    )
    graph = saved_model(
        [node("Call", "StatefulPartitionedCall", ("x",), f=attr_func("__inference_inner_5"))],
        [inner],
    )
    assert "tf-file-write" in _rules(graph, "saved_model.pb", tmp_path)


def test_a_path_handed_down_to_a_function_is_followed(tmp_path: Path) -> None:
    opener = saved_model(
        [
            node("path", "Const", value=attr_string_tensor("/etc/shadow")),
            node("Call", "PartitionedCall", ("table", "path"), f=attr_func("__inference_open_7")),
        ],
        [
            zoo._pb(
                1,
                zoo._pb(1, "__inference_open_7")
                + zoo._pb(2, zoo._pb(1, "t"))
                + zoo._pb(2, zoo._pb(1, "f")),
            )
            + zoo._pb(3, node("Init", "InitializeTableFromTextFileV2", ("t", "f")))
        ],
    )
    found = _rules(opener, "saved_model.pb", tmp_path)
    assert any("/etc/shadow" in e for e in found["tf-dangerous-op"])


@pytest.mark.parametrize(
    "body",
    [
        "t = torch\n    return t.from_file(p, True, 4)",
        "g = torch.from_file\n    return g(p, True, 4)",
        "a = torch\n    b = a\n    return b.save(p, p)",
        "a, b = torch, 1\n    return a.from_file(p, True)",
    ],
)
def test_torchscript_aliases_of_torch_and_its_operators(body: str) -> None:
    """TorchScript compiles ``t = torch; t.from_file(...)`` and ``g = torch.from_file``."""
    report = analyse_torchscript_source(f"def f(p: str):\n    {body}\n", "__torch__", "code/x.py")
    assert {i.rule_id for i in report.issues} == {"torchscript-file-write"}


def test_a_method_called_from_file_is_not_torch_from_file() -> None:
    source = (
        "class M(Module):\n  def from_file(self, x: int) -> int:\n    return x\n"
        "  def forward(self, x: int) -> int:\n    return self.from_file(x)\n"
    )
    assert analyse_torchscript_source(source, "__torch__", "code/x.py").issues == []


def test_tflite_custom_operators_the_runtime_ships_are_only_noted(tmp_path: Path) -> None:
    """MediaPipe's models use custom kernels MediaPipe registers itself: a note, not a
    finding; an operator nobody ships still needs someone else's native library."""
    from openward._samples import tflite_bytes

    known = tmp_path / "selfie.tflite"
    known.write_bytes(tflite_bytes(["Convolution2DTransposeBias", "MaxUnpooling2D"]))
    unknown = tmp_path / "other.tflite"
    unknown.write_bytes(tflite_bytes(["Convolution2DTransposeBias", "AcmeFastConv"]))
    assert [(f.rule_id, f.severity.value) for f in openward.scan(known).findings] == [
        ("tflite-custom-operator", "info")
    ]
    found = [(f.rule_id, f.severity.value, f.evidence) for f in openward.scan(unknown).findings]
    assert found == [("tflite-custom-operator", "medium", "custom operators: AcmeFastConv")]

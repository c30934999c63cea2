"""ONNX rules on files shaped at the wire level: what protobuf (and so every runtime)
reads, the scan reads too."""

from __future__ import annotations

from pathlib import Path

import pytest

from openward import scan

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


def _findings(path: Path) -> list[tuple[str, str]]:
    report = scan(path, jobs=1)
    return [(f.rule_id, f.evidence) for f in report.findings]


def _model(
    nodes: list[onnx.NodeProto], initializers: list[TensorProto] | None = None
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", [], [], initializers or [])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_graph_split_over_two_fields_is_one_graph(tmp_path: Path) -> None:
    """protobuf merges a repeated singular field: the second ``graph`` adds its nodes."""
    benign = _model([helper.make_node("Relu", ["x"], ["y"])])
    extra = onnx.ModelProto()
    extra.graph.node.append(helper.make_node("Exfiltrate", ["y"], ["z"], domain="com.evil"))
    data = benign.SerializeToString() + extra.SerializeToString()
    merged = onnx.ModelProto()
    merged.ParseFromString(data)
    assert [n.op_type for n in merged.graph.node] == ["Relu", "Exfiltrate"]  # the oracle
    path = tmp_path / "split.onnx"
    path.write_bytes(data)
    assert ("onnx-custom-operator", "domain 'com.evil' (operators: Exfiltrate)") in _findings(path)


def test_an_unknown_group_does_not_stop_the_reader(tmp_path: Path) -> None:
    model = _model([helper.make_node("Exfiltrate", ["x"], ["y"], domain="com.evil")])
    data = model.SerializeToString()
    group = b"\xf3\x07" + b"\x08\x01" + b"\xf4\x07"  # field 126: start group, a varint, end
    data = data + group  # a reader that chokes on groups would lose the whole model
    assert onnx.load_from_string(data).graph.node[0].op_type == "Exfiltrate"
    path = tmp_path / "group.onnx"
    path.write_bytes(data)
    assert ("onnx-custom-operator", "domain 'com.evil' (operators: Exfiltrate)") in _findings(path)


def test_external_data_escape_in_a_subgraph_and_a_training_graph(tmp_path: Path) -> None:
    def escaping(name: str) -> TensorProto:
        t = helper.make_tensor(name, TensorProto.FLOAT, [4], [0.0] * 4)
        t.ClearField("float_data")
        t.data_location = TensorProto.EXTERNAL
        entry = t.external_data.add()
        entry.key, entry.value = "location", "../../etc/" + name
        return t

    branch = helper.make_graph([], "then", [], [], [escaping("in_branch")])
    model = _model([helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)])
    info = model.training_info.add()
    info.algorithm.CopyFrom(helper.make_graph([], "train", [], [], [escaping("in_training")]))
    path = tmp_path / "escape.onnx"
    path.write_bytes(model.SerializeToString())
    evidence = {e for rule, e in _findings(path) if rule == "onnx-external-data-escape"}
    assert any("'in_branch'" in e for e in evidence)
    assert any("'in_training'" in e for e in evidence)


def test_a_benign_model_gets_nothing(tmp_path: Path) -> None:
    import numpy as np
    from onnx import numpy_helper

    w = numpy_helper.from_array(np.zeros((4, 4), np.float32), "w")
    model = _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [w])
    path = tmp_path / "mlp.onnx"
    path.write_bytes(model.SerializeToString())
    assert _findings(path) == []

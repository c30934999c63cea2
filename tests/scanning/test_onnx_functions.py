"""ONNX model-local functions: calling one is not a custom operator; what its body
calls is checked like the main graph."""

from __future__ import annotations

from openward.scanning.interface import ScanReport
from tests.conftest import Zoo


def test_custom_op_inside_a_local_function(zoo: Zoo, zoo_report: ScanReport) -> None:
    found = [
        f for f in zoo_report.findings
        if f.path.endswith("onnx/function_custom_op.onnx") and f.rule_id == "onnx-custom-operator"
    ]  # fmt: skip
    assert [f.evidence for f in found] == ["domain 'com.evil' (operators: Exfiltrate)"]

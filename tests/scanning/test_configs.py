"""Config-driven loaders: Hydra/NeMo, jsonargparse, torchtune, hyperpyyaml, MLflow, PyTables.

The zoo's samples (``openward._zoo.configs``) are run in the real loaders
where they are installed, to prove each payload is live, and scanned, to
prove openward flags each at its severity without running any of them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import openward
from openward._samples import Sample, detected
from openward._zoo import configs as zoo
from openward.scanning.formats import configs
from openward.scanning.interface import ScanReport, Severity

_NEEDS: dict[str, tuple[str, ...]] = {
    "hydra": ("omegaconf", "hydra"),
    "hydra-eval": ("omegaconf",),
    "nemo-hydra": ("omegaconf", "hydra"),
    "safetensors-hydra": ("omegaconf", "hydra", "safetensors"),
    "hyperpyyaml": ("hyperpyyaml",),
    "pytables": ("tables",),
    "pandas-hdf": ("pandas", "tables"),
    "mlflow-pyfunc": ("mlflow",),
}


class Built:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.markers = root / "markers"
        self.markers.mkdir(parents=True)
        self.malicious: list[Sample] = []
        self.benign: list[Sample] = []

    def touch(self, tag: str) -> str:
        return f"touch {self.markers / tag}"

    def add(
        self,
        name: str,
        data: bytes,
        technique: str,
        description: str,
        rule: str,
        severity: str = "critical",
        loader: str | None = None,
        marker: str | None = None,
    ) -> None:
        path = self.root / "poisoned" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.malicious.append(Sample(name, technique, description, True, rule, severity))

    def add_benign(self, name: str, data: bytes, technique: str, description: str) -> None:
        path = self.root / "clean" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.benign.append(Sample(name, technique, description, False))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    b = Built(tmp_path_factory.mktemp("configs"))
    zoo.malicious(b.add, b.touch)
    zoo.benign(b.add_benign)
    return b


@pytest.fixture(scope="module")
def report(built: Built) -> ScanReport:
    return openward.scan(built.root)


def _findings(report: ScanReport, path: str) -> list[tuple[str, str]]:
    return [(f.rule_id, f.severity.value) for f in report.findings if f.path == path]


def test_every_config_technique_is_flagged_and_nothing_runs(
    built: Built, report: ScanReport
) -> None:
    missed = [
        (s.name, s.expected_rule, _findings(report, f"poisoned/{s.name}"))
        for s in built.malicious
        if not detected(s, _findings(report, f"poisoned/{s.name}"))
    ]
    assert missed == []
    for s in built.malicious:
        worst = max(Severity(sev).rank for _, sev in _findings(report, f"poisoned/{s.name}"))
        assert worst >= Severity.HIGH.rank, s.name
    assert list(built.markers.iterdir()) == []
    assert len(built.malicious) >= 20


def test_benign_configs_get_nothing_at_medium_or_above(built: Built, report: ScanReport) -> None:
    flagged = [
        (f.path, f.rule_id, f.severity.value, f.evidence)
        for f in report.findings
        if f.path.startswith("clean/") and f.severity.rank >= Severity.MEDIUM.rank
    ]
    assert flagged == []
    formats = {fr.path: fr.format for fr in report.files}
    assert formats["clean/configs/mlflow/sklearn/MLmodel"] == "mlflow-mlmodel"
    assert formats["clean/configs/hyperpyyaml/hyperparams.yaml"] == "yaml"
    # the trusted names are listed for the record, not hidden
    info = [
        f.evidence
        for f in report.findings
        if f.path == "clean/configs/nemo/conformer.nemo" and f.rule_id == "config-instantiation"
    ]
    assert info and "nemo.collections.asr.modules.ConformerEncoder" in info[0]


@pytest.mark.parametrize("name", sorted(zoo.LIVE))
def test_config_payloads_are_live(built: Built, name: str) -> None:
    """The real loader runs the payload (in a throwaway subprocess)."""
    loader, tag = zoo.LIVE[name]
    for module in _NEEDS[loader]:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    path = built.root / "poisoned" / name
    if not path.exists():
        pytest.skip("sample needs pandas and tables to be built")
    marker = built.markers / tag
    assert not marker.exists()
    try:
        subprocess.run(
            [sys.executable, "-c", zoo.LOADERS[loader], str(path)],
            cwd=path.parent,
            capture_output=True,
            timeout=120,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
            check=False,
        )
        assert marker.exists(), f"{loader} did not run the payload of {name}"
    finally:
        marker.unlink(missing_ok=True)


def _scan_text(tmp_path: Path, name: str, text: str, **kwargs: object) -> ScanReport:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return openward.scan(tmp_path, **kwargs)  # type: ignore[arg-type]


def _rules(report: ScanReport, minimum: Severity = Severity.LOW) -> set[tuple[str, str]]:
    return {
        (f.rule_id, f.severity.value) for f in report.findings if f.severity.rank >= minimum.rank
    }


def test_a_nemo_config_with_dozens_of_library_targets_is_only_listed(tmp_path: Path) -> None:
    modules = [f"nemo.collections.asr.modules.Block{i}" for i in range(30)] + [
        "torch.optim.AdamW",
        "lightning.pytorch.callbacks.ModelCheckpoint",
    ]
    doc = {"target": "nemo.collections.asr.models.EncDecCTCModel"}
    doc.update({f"m{i}": {"_target_": m, "size": i} for i, m in enumerate(modules)})
    report = _scan_text(tmp_path, "model_config.yaml", json.dumps(doc))
    assert _rules(report, Severity.INFO) == {("config-instantiation", "info")}
    assert "NeMo target" in report.findings[0].evidence


def test_interpolated_target_is_resolved_and_environment_targets_are_dynamic(
    tmp_path: Path,
) -> None:
    resolved = _scan_text(
        tmp_path / "a", "c.yaml", "impl: subprocess\nrun:\n  _target_: ${impl}.run\n"
    )
    assert ("config-target-dangerous", "critical") in _rules(resolved)
    assert "subprocess.run" in resolved.findings[0].evidence
    env = _scan_text(tmp_path / "b", "c.yaml", "m:\n  _target_: ${oc.env:CLS}\n")
    assert _rules(env) == {("config-target-dynamic", "high")}


def test_a_yaml_alias_bomb_is_walked_once_per_value(tmp_path: Path) -> None:
    lines = ["a0: &a0 [{_target_: os.system, _args_: [x]}]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    report = _scan_text(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    assert ("config-target-dangerous", "critical") in _rules(report)
    assert not any(f.rule_id == "scan-limit-reached" for f in report.findings)


def test_a_recursive_yaml_does_not_loop(tmp_path: Path) -> None:
    report = _scan_text(tmp_path, "r.yaml", "a: &x\n  self: *x\n  _target_: builtins.eval\n")
    assert ("config-target-dangerous", "critical") in _rules(report)


def test_yaml_the_safe_parser_refuses_is_searched_by_pattern(tmp_path: Path) -> None:
    # a tab in the indentation: PyYAML refuses it, a lenient loader may not
    text = "x: 1\n\tpayload: !apply:os.system ['touch m']\n"
    report = _scan_text(tmp_path, "hyperparams.yaml", text)
    assert ("config-target-dangerous", "critical") in _rules(report)
    assert any("line 2" in f.evidence for f in report.findings)


def test_oversized_config_is_searched_by_pattern(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(configs, "MAX_CONFIG_BYTES", 64)
    text = "pad: " + "x" * 200 + "\nm:\n  _target_: os.system\n"
    report = _scan_text(tmp_path, "big.yaml", text)
    assert ("config-target-dangerous", "critical") in _rules(report)


def test_unlisted_names_by_kind(tmp_path: Path) -> None:
    doc = {
        "fn": {"_target_": "somepkg.io.write_everything"},  # third-party function: high
        "std": {"_target_": "xml.etree.ElementTree.parse"},  # standard library: high
        "cls": {"_target_": "somepkg.models.Net"},  # third-party class: low
        "bound": {"_target_": "somepkg.io.reader", "_partial_": True},  # bound only: medium
    }
    report = _scan_text(tmp_path, "c.yaml", json.dumps(doc))
    by_name = {
        f.evidence.split(": ", 1)[0]: f.severity.value
        for f in report.findings
        if f.rule_id == "config-target-unlisted"
    }
    assert by_name == {
        "fn._target_": "high",
        "std._target_": "high",
        "cls._target_": "low",
        "bound._target_": "medium",
    }


def test_a_module_shipped_with_the_model_is_low_and_allow_vouches(tmp_path: Path) -> None:
    (tmp_path / "custom_model.py").write_text("def build():\n    return 1\n")
    report = _scan_text(tmp_path, "hparams/train.yaml", "m: !apply:custom_model.build []\n")
    found = [f for f in report.findings if f.rule_id == "config-target-unlisted"]
    assert [f.severity.value for f in found] == ["low"]
    assert "custom_model.py" in found[0].evidence
    (tmp_path / "custom_model.py").unlink()
    assert _rules(openward.scan(tmp_path)) == {("config-target-unlisted", "high")}
    vouched = openward.scan(tmp_path, allow=["custom_model.build"])
    assert not any(f.rule_id == "config-target-unlisted" for f in vouched.findings)


def test_includes_inside_the_model_are_fine_and_escapes_are_high(tmp_path: Path) -> None:
    text = "a: !include:models/enc.yaml\nb: !include:../../../etc/x.yaml\n"
    report = _scan_text(tmp_path, "hparams/train.yaml", text)
    escapes = [f.evidence for f in report.findings if f.rule_id == "config-include-escape"]
    assert len(escapes) == 1 and "../../../etc/x.yaml" in escapes[0]


def test_json_config_and_safetensors_metadata(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "x", "head": {"class_path": "os.popen"}})
    )
    report = openward.scan(tmp_path)
    assert ("config-target-dangerous", "critical") in _rules(report)


def test_torchtune_and_pyannote_names(tmp_path: Path) -> None:
    text = (
        "model:\n  _component_: torchtune.models.llama3_2.llama3_2_1b\n"
        "loss:\n  _component_: os.system\n"
    )
    report = _scan_text(tmp_path / "t", "recipe.yaml", text)
    assert _rules(report) == {("config-target-dangerous", "critical")}
    pipeline = "pipeline:\n  name: subprocess.getoutput\n  params: {cmd: id}\n"
    report = _scan_text(tmp_path / "p", "config.yaml", pipeline)
    assert ("config-target-dangerous", "critical") in _rules(report)


def test_pickled_pytables_attributes_are_analysed_only_where_pytables_unpickles(
    tmp_path: Path,
) -> None:
    h5py = pytest.importorskip("h5py")
    import numpy as np

    payload = b"cos\nsystem\n(S'touch x'\ntR."
    with h5py.File(tmp_path / "f.h5", "w") as f:
        g = f.create_group("g")
        g.attrs["scalar"] = np.bytes_(payload)  # PyTables unpickles this one
        g.attrs["no_stop"] = np.bytes_(payload[:-1])  # does not end with "."
        g.attrs["number"] = 3
    report = openward.scan(tmp_path / "f.h5")
    members = {f.member for f in report.findings if f.rule_id == "pickle-dangerous-global"}
    assert members == {"<attribute g scalar>"}
    assert any(f.rule_id == "pytables-pickle" for f in report.findings)


def test_escaped_keys_and_tag_spellings_are_read_as_the_loader_reads_them(
    tmp_path: Path,
) -> None:
    json_escape = _scan_text(tmp_path / "j", "c.json", '{"\\u005ftarget_": "os.system"}')
    assert ("config-target-dangerous", "critical") in _rules(json_escape)
    percent = _scan_text(tmp_path / "p", "h.yaml", "x: !!python/object/apply:o%73.system [a]\n")
    assert ("config-target-dangerous", "critical") in _rules(percent)
    # a tag only a pattern sees (the safe parser refused the document) keeps %-escapes too
    broken = "x: 1\n\ty: !!python/object/apply:subprocess%2Erun [a]\n"
    assert ("config-target-dangerous", "critical") in _rules(
        _scan_text(tmp_path / "b", "h.yaml", broken)
    )


def test_commented_out_tags_are_not_reported(tmp_path: Path) -> None:
    text = "# model: !new:custom_models.Encoder\nmodel: !new:speechbrain.lobes.models.X\n"
    report = _scan_text(tmp_path, "hyperparams.yaml", text)
    assert _rules(report) == set()
    assert _rules(report, Severity.INFO) == {("config-instantiation", "info")}


def test_mlflow_model_class_outside_its_flavor_package(tmp_path: Path) -> None:
    def mlmodel(model_class: str) -> str:
        return (
            "flavors:\n  python_function:\n    loader_module: mlflow.xgboost\n"
            f"  xgboost:\n    data: model.xgb\n    model_class: {model_class}\n"
        )

    own = _scan_text(tmp_path / "a", "MLmodel", mlmodel("xgboost.sklearn.XGBClassifier"))
    assert _rules(own) == set()
    foreign = _scan_text(tmp_path / "b", "MLmodel", mlmodel("subprocess.Popen"))
    assert ("mlflow-loader-module", "high") in _rules(foreign)


def test_eval_resolver_arithmetic_is_fine_and_code_is_not(tmp_path: Path) -> None:
    arithmetic = "bs: 8\nsteps: ${eval:'2 * ${bs} + 1'}\n"
    assert _rules(_scan_text(tmp_path / "a", "c.yaml", arithmetic)) == set()
    code = "steps: ${eval:\"__import__('os').system('id')\"}\n"
    assert _rules(_scan_text(tmp_path / "b", "c.yaml", code)) == {
        ("config-target-dangerous", "high")
    }

"""Regressions for the bypasses a second engineer found in the config, HDF5,
repository-code and chat-template readers (``openward._zoo.config_attacks``).

Each sample was missed (or reported below high) before its fix; the payloads
are proven live in the real loader where it is installed, in a subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import openward
from openward._samples import Sample, detected
from openward._zoo import config_attacks as zoo
from openward.scanning.config_policy import GADGETS_IN_TRUSTED, judge_target
from openward.scanning.interface import ScanLimits, ScanReport, Severity
from openward.scanning.python_code import SEVERE, analyse_python
from openward.scanning.templates import analyse_template

_NEEDS: dict[str, tuple[str, ...]] = {
    "hydra": ("omegaconf", "hydra", "torch"),
    "pytables": ("tables",),
    "pandas-hdf": ("pandas", "tables"),
    "python-import": (),
}


class Built:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.markers = root / "markers"
        self.markers.mkdir(parents=True)
        self.samples: list[Sample] = []

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
    ) -> None:
        path = self.root / "poisoned" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.samples.append(Sample(name, technique, description, True, rule, severity))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    b = Built(tmp_path_factory.mktemp("attacks"))
    zoo.malicious(b.add, b.touch)
    return b


@pytest.fixture(scope="module")
def report(built: Built) -> ScanReport:
    return openward.scan(built.root)


def _findings(report: ScanReport, path: str) -> list[tuple[str, str]]:
    return [(f.rule_id, f.severity.value) for f in report.findings if f.path == path]


def test_every_bypass_is_flagged_and_nothing_runs(built: Built, report: ScanReport) -> None:
    missed = [
        (s.name, s.expected_rule, _findings(report, f"poisoned/{s.name}"))
        for s in built.samples
        if not detected(s, _findings(report, f"poisoned/{s.name}"))
    ]
    assert missed == []
    assert list(built.markers.iterdir()) == []
    assert len(built.samples) >= 15


@pytest.mark.parametrize("name", sorted(zoo.LIVE))
def test_bypass_payloads_are_live(built: Built, name: str) -> None:
    loader, tag = zoo.LIVE[name]
    for module in _NEEDS[loader]:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    path = built.root / "poisoned" / name
    if not path.exists():
        pytest.skip("sample needs tables and pandas to be built")
    marker = built.markers / tag
    try:
        subprocess.run(
            [sys.executable, "-c", zoo.LOADERS[loader], str(path)],
            cwd=path.parent,
            capture_output=True,
            timeout=180,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
            check=False,
        )
        assert marker.exists(), f"{loader} did not run the payload of {name}"
    finally:
        marker.unlink(missing_ok=True)


# -- hyperpyyaml !include: of a file that is not named like YAML ---------------------------


def _include_repo(root: Path, marker: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    (repo / "hyperparams.yaml").write_text("sample_rate: 16000\nlabels: !include:labels.txt\n")
    (repo / "labels.txt").write_text(f'x: !apply:os.system ["touch {marker}"]\n')
    return repo


def test_an_included_file_is_analysed_whatever_its_name(tmp_path: Path) -> None:
    repo = _include_repo(tmp_path, tmp_path / "never")
    report = openward.scan(repo)
    found = {
        (f.path, f.member, f.rule_id, f.severity)
        for f in report.findings
        if f.severity.rank >= Severity.HIGH.rank
    }
    assert (
        "hyperparams.yaml",
        "<!include:labels.txt>",
        "config-target-dangerous",
        Severity.CRITICAL,
    ) in found
    assert not (tmp_path / "never").exists()


def test_an_included_file_outside_the_model_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text('x: !apply:os.system ["id"]\n')
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "hyperparams.yaml").write_text("a: !include:../outside.txt\n")
    report = openward.scan(repo)
    rules = {(f.rule_id, f.member) for f in report.findings}
    assert ("config-include-escape", None) in rules
    assert not any(member and "outside" in member for _, member in rules)


def test_the_included_payload_is_live_in_hyperpyyaml(tmp_path: Path) -> None:
    pytest.importorskip("hyperpyyaml")
    marker = tmp_path / "included.marker"
    repo = _include_repo(tmp_path, marker)
    code = (
        "import sys\nfrom hyperpyyaml import load_hyperpyyaml\nload_hyperpyyaml(open(sys.argv[1]))"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(repo / "hyperparams.yaml")],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert marker.exists()


# -- gadgets inside trusted libraries ------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "speechbrain.utils.superpowers.run_shell",
        "speechbrain.utils.superpowers.import_from_path",
        "torch.utils.benchmark.Timer",
        "torch.utils.benchmark.Timer.timeit",
        "torch.distributed.run.main",
        "torch.multiprocessing.spawn",
        "torch.UntypedStorage.from_file",
        "huggingface_hub.HfApi.upload_folder",
        "operator.call",
        "lightning.pytorch.cli.LightningCLI",
    ],
)
def test_gadgets_of_trusted_libraries_are_dangerous(target: str) -> None:
    assert judge_target(target).status == "dangerous"


@pytest.mark.parametrize(
    "target",
    [
        "torch.optim.AdamW",
        "torch.nn.Linear",
        "speechbrain.utils.checkpoints.Checkpointer",
        "speechbrain.utils.parameter_transfer.Pretrainer",
        "nemo.collections.asr.modules.ConformerEncoder",
        "operator.add",
        "huggingface_hub.constants.HF_HUB_CACHE",
    ],
)
def test_the_components_of_trusted_libraries_stay_trusted(target: str) -> None:
    assert judge_target(target).status in ("trusted", "allowed")


def test_every_gadget_entry_is_inside_a_trusted_namespace() -> None:
    from openward.scanning.config_policy import TRUSTED_NAMESPACES

    assert all(prefix.split(".")[0] in TRUSTED_NAMESPACES for prefix in GADGETS_IN_TRUSTED)


# -- Python that trust_remote_code imports --------------------------------------------------


@pytest.mark.parametrize("name", sorted(zoo._PYTHON))
def test_each_python_bypass_is_a_dangerous_call(name: str) -> None:
    source = zoo._PYTHON[name][0].format(cmd="touch /tmp/x", marker="/tmp/x")
    report = analyse_python(source)
    assert any(category in SEVERE for category, _, _ in report.calls), report.calls


BENIGN_PYTHON = {
    # diffusers pipelines (and the community pipelines repositories ship) read
    # their step-callback tensors by name
    "locals-by-name": textwrap.dedent(
        """
        def step(self, callback_on_step_end, names, latents):
            callback_kwargs = {}
            for k in names:
                callback_kwargs[k] = locals()[k]
            return callback_on_step_end(self, 0, 0, callback_kwargs)
        """
    ),
    "vocabulary-written-in-a-method": textwrap.dedent(
        """
        import json, os


        class Tokenizer:
            def save_vocabulary(self, save_directory):
                path = os.path.join(save_directory, "vocab.json")
                with open(path, "w") as f:
                    json.dump(self.vocab, f)
                return (path,)
        """
    ),
    "registry-of-activations": textwrap.dedent(
        """
        import torch

        ACT2FN = {"gelu": torch.nn.functional.gelu, "relu": torch.relu}


        class Block:
            act = ACT2FN["gelu"]

            def forward(self, x, act=torch.tanh):
                return act(self.act(x))
        """
    ),
    "read-a-file-at-import": 'import json\nCONFIG = json.load(open("config.json"))\n',
    "subclasses-of-own-base": "class A:\n    pass\n\n\nKINDS = A.__subclasses__()\n",
}


@pytest.mark.parametrize("name", sorted(BENIGN_PYTHON))
def test_benign_patterns_stay_clean(name: str) -> None:
    report = analyse_python(BENIGN_PYTHON[name])
    assert [c for c in report.calls if c[0] in SEVERE] == []


def test_a_computed_globals_lookup_that_is_called_is_still_code() -> None:
    report = analyse_python("import os\nname = input()\nglobals()[name]('id')\n")
    assert any("globals()" in call for _, call, _ in report.calls)


# -- chat templates: the analysis is bounded in time -----------------------------------------


def _heavy_template(statements: int) -> str:
    body = "".join(f"{{% do l.append(l|last|default('') ~ '{i}') %}}" for i in range(statements))
    return "{% set l = [] %}{% for m in messages %}" + body + "{% endfor %}{{ l|join }}"


def test_template_analysis_stops_at_its_deadline() -> None:
    issues = analyse_template(_heavy_template(3000), deadline=time.monotonic())
    assert [i.severity for i in issues] == ["limit"]


def test_a_template_past_the_time_limit_is_a_limit_finding_and_still_searched(
    tmp_path: Path,
) -> None:
    source = _heavy_template(3000) + "{{ lipsum.__globals__ }}"
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": source}))
    report = openward.scan(tmp_path, limits=ScanLimits(max_file_seconds=0.5))
    rules = {(f.rule_id, f.severity) for f in report.findings}
    assert ("scan-limit-reached", Severity.HIGH) in rules
    assert ("chat-template-unsafe", Severity.CRITICAL) in rules


# -- MLflow: compiled modules in a code directory shadow the flavor's library ---------------


def _mlflow_torch_shadow(root: Path, marker: Path) -> Path:
    import py_compile

    import yaml

    model = root / "model"
    (model / "code").mkdir(parents=True)
    (model / "data").mkdir()
    flavors = {
        "python_function": {
            "loader_module": "mlflow.pytorch",
            "data": "data",
            "code": "code",
            "pickle_module_name": "mlflow.pytorch.pickle_module",
            "python_version": "3.11.0",
        },
        "pytorch": {"model_data": "data", "pytorch_version": "2.5.0", "code": "code"},
    }
    (model / "MLmodel").write_text(yaml.safe_dump({"flavors": flavors, "mlflow_version": "2.12"}))
    source = root / "torch.py"
    source.write_text(f"import os\nos.system('touch {marker}')\n")
    py_compile.compile(str(source), cfile=str(model / "code" / "torch.pyc"), doraise=True)
    source.unlink()
    return model


def test_compiled_modules_in_an_mlflow_code_directory_are_high(tmp_path: Path) -> None:
    model = _mlflow_torch_shadow(tmp_path, tmp_path / "never")
    report = openward.scan(model)
    high = [
        f.evidence
        for f in report.findings
        if f.rule_id == "mlflow-model-code" and f.severity == Severity.HIGH
    ]
    assert high and "code/torch.pyc" in high[0]


def test_the_shadowing_module_is_live_in_mlflow(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    marker = tmp_path / "shadow.marker"
    model = _mlflow_torch_shadow(tmp_path, marker)
    code = "import sys, mlflow.pyfunc\nmlflow.pyfunc.load_model(sys.argv[1])"
    subprocess.run(
        [sys.executable, "-c", code, str(model)],
        capture_output=True,
        timeout=180,
        cwd=tmp_path,
        check=False,
    )
    assert marker.exists()


# -- hyperpyyaml: a module shipped compiled, imported by !new: -----------------------------


def _compiled_custom_module(root: Path, marker: Path) -> Path:
    import py_compile

    repo = root / "repo"
    repo.mkdir()
    (repo / "hyperparams.yaml").write_text(
        "sample_rate: 16000\nmodel: !new:custom_interface.Model\n"
    )
    source = root / "custom_interface.py"
    source.write_text(f"import os\nos.system('touch {marker}')\n\n\nclass Model:\n    pass\n")
    py_compile.compile(str(source), cfile=str(repo / "custom_interface.pyc"), doraise=True)
    source.unlink()
    return repo


def test_a_compiled_module_shipped_with_the_config_is_high(tmp_path: Path) -> None:
    repo = _compiled_custom_module(tmp_path, tmp_path / "never")
    report = openward.scan(repo)
    assert ("config-target-unlisted", Severity.HIGH) in {
        (f.rule_id, f.severity) for f in report.findings
    }


def test_the_compiled_module_is_live_in_hyperpyyaml(tmp_path: Path) -> None:
    pytest.importorskip("hyperpyyaml")
    marker = tmp_path / "compiled.marker"
    repo = _compiled_custom_module(tmp_path, marker)
    # SpeechBrain puts the model's folder on sys.path for its custom interfaces
    code = (
        "import sys\nsys.path.insert(0, '.')\nfrom hyperpyyaml import load_hyperpyyaml\n"
        "load_hyperpyyaml(open('hyperparams.yaml'))"
    )
    subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, timeout=120, check=False
    )
    assert marker.exists()


# -- NeMo 2 context/io.json: Fiddle's serialised config -------------------------------------


def _fiddle_io_json(fn_module: str, fn_name: str, args: list[str]) -> dict[str, object]:
    """What fiddle.experimental.serialization.dump_json writes for fdl.Config(fn, args=...)."""

    def pyref(module: str, name: str) -> dict[str, str]:
        return {"type": "pyref", "module": module, "name": name}

    def leaf(value: str) -> dict[str, str]:
        return {"type": "leaf", "value": value}

    no_keys = {"type": pyref("builtins", "tuple"), "items": [], "metadata": None}
    empty_dict = {"type": pyref("builtins", "dict"), "items": [], "metadata": no_keys}
    return {
        "root": {"type": "ref", "key": "call_1"},
        "objects": {
            "list_1": {
                "type": pyref("builtins", "list"),
                "items": [[f"Index(index={i})", leaf(a)] for i, a in enumerate(args)],
                "metadata": None,
            },
            "tuple_1": {
                "type": pyref("builtins", "tuple"),
                "items": [["Index(index=0)", "args"]],
                "metadata": None,
            },
            "dict_1": empty_dict,
            "metadata_1": {
                "type": pyref("fiddle._src.config", "BuildableTraverserMetadata"),
                "items": [
                    ["Attr(name='fn_or_cls')", pyref(fn_module, fn_name)],
                    ["Attr(name='argument_names')", {"type": "ref", "key": "tuple_1"}],
                    ["Attr(name='argument_tags')", {"type": "ref", "key": "dict_1"}],
                    ["Attr(name='argument_history')", {"type": "ref", "key": "dict_1"}],
                ],
                "metadata": pyref("fiddle._src.config", "BuildableTraverserMetadata"),
            },
            "call_1": {
                "type": pyref("fiddle._src.config", "Config"),
                "items": [["Attr(name='args')", {"type": "ref", "key": "list_1"}]],
                "metadata": {"type": "ref", "key": "metadata_1"},
            },
        },
        "refcounts": {"list_1": 1, "tuple_1": 1, "dict_1": 2, "metadata_1": 1, "call_1": 1},
        "version": "0.0.1",
    }


def test_a_fiddle_io_json_that_builds_a_primitive_is_critical(tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    doc = _fiddle_io_json("subprocess", "run", ["touch", str(tmp_path / "never")])
    (context / "io.json").write_text(json.dumps(doc))
    report = openward.scan(tmp_path)
    assert ("config-target-dangerous", Severity.CRITICAL) in {
        (f.rule_id, f.severity) for f in report.findings
    }


def test_a_fiddle_io_json_of_library_classes_is_clean(tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    doc = _fiddle_io_json("nemo.collections.llm.gpt.model.llama", "Llama3Config8B", [])
    (context / "io.json").write_text(json.dumps(doc))
    report = openward.scan(tmp_path)
    assert [f for f in report.findings if f.severity.rank >= Severity.MEDIUM.rank] == []


def test_the_fiddle_payload_is_live(tmp_path: Path) -> None:
    pytest.importorskip("fiddle")
    marker = tmp_path / "fiddle.marker"
    path = tmp_path / "io.json"
    path.write_text(json.dumps(_fiddle_io_json("subprocess", "run", ["touch", str(marker)])))
    # what nemo.lightning.io.load_context does after reading io.json
    code = (
        "import sys, fiddle as fdl\nfrom fiddle.experimental import serialization\n"
        "fdl.build(serialization.load_json(open(sys.argv[1]).read()))"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, timeout=120)
    assert marker.exists()


def test_source_modules_that_shadow_a_library_in_an_mlflow_code_directory_are_high(
    tmp_path: Path,
) -> None:
    model = _mlflow_torch_shadow(tmp_path, tmp_path / "never")
    (model / "code" / "torch.pyc").unlink()
    (model / "code" / "torch.py").write_text("import math\n")  # looks harmless
    (model / "code" / "helpers.py").write_text("SCALE = 2\n")
    report = openward.scan(model)
    high = [
        f.evidence
        for f in report.findings
        if f.rule_id == "mlflow-model-code" and f.severity == Severity.HIGH
    ]
    assert high and "code/torch.py" in high[0] and "helpers" not in high[0]

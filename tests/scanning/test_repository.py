"""Repository files: remote code, templates in configs, Python sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import openward
from openward.scanning.interface import ScanLimits, Severity
from openward.scanning.python_code import SEVERE, analyse_python


def _rules(report: openward.ScanReport) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in report.findings:
        out.setdefault(f.rule_id, []).append(f"{f.path}: {f.evidence}")
    return out


def test_auto_map_names_the_modules_and_missing_ones(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({
        "auto_map": {"AutoConfig": "configuration_x.XConfig",
                     "AutoModelForCausalLM": ["modeling_x.XModel", None]}
    }))  # fmt: skip
    (tmp_path / "modeling_x.py").write_text("import torch\n")
    rules = _rules(openward.scan(tmp_path))
    (remote,) = rules["remote-code"]
    assert "modeling_x.py" in remote and "configuration_x.py" in remote
    assert "not in the scanned files: configuration_x.py" in remote


def test_python_calls_are_resolved_through_aliases() -> None:
    report = analyse_python(
        "import subprocess as sp\nfrom os import system as run\nimport torch\n"
        "def f(p):\n    sp.check_output(['id'])\n    run('x')\n"
        "    torch.load(p)\n    torch.load(p, weights_only=True)\n"
    )
    assert [(c, n) for c, n, _ in report.calls] == [
        ("process", "subprocess.check_output"),
        ("process", "os.system"),
        ("deserialisation", "torch.load"),
    ]


def test_benign_python_and_unparsable_python(tmp_path: Path) -> None:
    (tmp_path / "helper.py").write_text("import json\n\ndef f(p):\n    return json.loads(p)\n")
    (tmp_path / "broken.py").write_text("def f(:\n")
    rules = _rules(openward.scan(tmp_path))
    assert list(rules) == ["python-unparsable"]


def test_template_in_tokenizer_config_list_form(tmp_path: Path) -> None:
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({
        "chat_template": [{"name": "default", "template": "{{ messages }}"},
                          {"name": "rag", "template": "{{ x.__class__ }}"}]
    }))  # fmt: skip
    report = openward.scan(tmp_path)
    (finding,) = [f for f in report.findings if f.rule_id == "chat-template-unsafe"]
    assert finding.member == "<chat_template rag>"


def test_custom_pipelines_are_remote_code(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"custom_pipelines": {"text-gen": {"impl": "my_pipeline.MyPipeline"}}})
    )
    (remote,) = _rules(openward.scan(tmp_path))["remote-code"]
    assert "my_pipeline.py" in remote


# -- chat templates wherever a tokenizer or processor finds them -------------------------

_ESCAPE = "{{ cycler|attr(dict(__init__=1)|list|first) }}"


def _unsafe(report: openward.ScanReport) -> list[str]:
    return sorted(
        f"{f.path}!{f.member}" for f in report.findings if f.rule_id == "chat-template-unsafe"
    )


def test_templates_in_every_form_and_file(tmp_path: Path) -> None:
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"chat_template": {"default": "{{ messages }}", "rag": _ESCAPE}})
    )
    (tmp_path / "chat_template.json").write_text(json.dumps({"chat_template": _ESCAPE}))
    (tmp_path / "processor_config.json").write_text(
        json.dumps({"chat_template": [{"name": "x", "template": _ESCAPE}]})
    )
    (tmp_path / "additional_chat_templates").mkdir()
    (tmp_path / "additional_chat_templates" / "tool_use.jinja").write_text(_ESCAPE)
    # Starts like a zip: loaders still read it by name, as text.
    (tmp_path / "chat_template.jinja").write_bytes(b"PK\x03\x04" + _ESCAPE.encode())
    assert _unsafe(openward.scan(tmp_path)) == [
        "additional_chat_templates/tool_use.jinja!None",
        "chat_template.jinja!None",
        "chat_template.json!<chat_template>",
        "processor_config.json!<chat_template x>",
        "tokenizer_config.json!<chat_template rag>",
    ]


def test_oversized_config_is_a_limit_finding(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"auto_map": {"AutoModel": "m.M"}, "pad": "x" * 5000})
    )
    report = openward.scan(tmp_path, limits=ScanLimits(max_config_bytes=1000))
    (finding,) = [f for f in report.findings if f.rule_id == "scan-limit-reached"]
    assert "max_config_bytes" in finding.evidence and finding.severity == Severity.HIGH
    assert "remote-code" in _rules(openward.scan(tmp_path))


def test_oversized_template_is_a_limit_finding_and_still_searched(tmp_path: Path) -> None:
    (tmp_path / "chat_template.jinja").write_text("{{ x.__class__ }}" + " " * 5000)
    rules = _rules(openward.scan(tmp_path, limits=ScanLimits(max_source_bytes=1000)))
    assert "max_source_bytes" in rules["scan-limit-reached"][0]
    assert "__class__" in rules["chat-template-unsafe"][0]


def test_invalid_json_in_a_loader_config_is_low(tmp_path: Path) -> None:
    (tmp_path / "tokenizer_config.json").write_text('{"chat_template": "{{ x }}",')
    (tmp_path / "data.json").write_text('{"not": "read by loaders",')
    report = openward.scan(tmp_path)
    assert [(f.path, f.rule_id, f.severity) for f in report.findings] == [
        ("tokenizer_config.json", "config-malformed", Severity.LOW)
    ]


# -- Python that loaders import ----------------------------------------------------------

ALIASED = {
    "assigned": ("import os\nx = os.system\nx('id')", "os.system"),
    "from-import-as": ("from os import system as s\ns('id')", "os.system"),
    "dunder-import": ("sp = __import__('subprocess')\nsp.run(['id'])", "subprocess.run"),
    "getattr-glued": ("import os\ngetattr(os, 'sys' + 'tem')('id')", "os.system"),
    "getattr-joined": ("import os\ngetattr(os, ''.join(['sys', 'tem']))('id')", "os.system"),
    "getattr-computed": ("import os\ngetattr(os, input())('id')", "getattr(os, …)"),
    "import-module-computed": (
        "import importlib\ndef f(m):\n    return importlib.import_module(m)",
        "importlib.import_module",
    ),
    "globals-builtins": ("globals()['__builtins__']['eval']('1')", "eval"),
    "vars-builtins": ("import builtins\nvars(builtins)['exec']('x = 1')", "exec"),
    "builtins-dict": ("import builtins\nbuiltins.__dict__['exec']('x')", "exec"),
    "module-dict": ("import os\nos.__dict__['system']('id')", "os.system"),
    "sys-modules": ("import sys\nsys.modules['os'].system('id')", "os.system"),
    "star-import": ("from os import *\nsystem('id')", "os.system"),
    "partial": ("import os, functools\nf = functools.partial(os.system, 'id')\nf()", "os.system"),
    "returned": ("import os\ndef get():\n    return os.system\nget()('id')", "os.system"),
    "attribute": (
        "import os\nclass A:\n    def __init__(self):\n        self.r = os.popen\n"
        "    def go(self):\n        self.r('id')",
        "os.popen",
    ),
    "callback": (
        "import os, threading\nthreading.Thread(target=os.system, args=('id',)).start()",
        "os.system",
    ),
    "decorator": ("import os\n@os.system\ndef f():\n    pass", "os.system"),
    "lambda": ("import os\nf = lambda c: os.system(c)\nf('id')", "os.system"),
    "methodcaller": (
        "import operator, os\noperator.methodcaller('system', 'id')(os)",
        "methodcaller",
    ),
    "builtins-attribute": ("__builtins__.eval('1')", "eval"),
    "compile": ("code = compile('x', 'f', 'exec')", "compile"),
}


@pytest.mark.parametrize("name", sorted(ALIASED))
def test_aliases_are_followed(name: str) -> None:
    source, expected = ALIASED[name]
    report = analyse_python(source)
    assert report.error is None
    assert any(expected in call and category in SEVERE for category, call, _ in report.calls), (
        report.calls
    )


def test_real_modeling_code_stays_clean() -> None:
    """A spread of transformers' own modeling files: no process, code-loading,
    network or unsafe-deserialisation finding (all 544 of transformers 5.25 are
    clean; the full sweep is in the report, a sample runs here)."""
    transformers = pytest.importorskip("transformers")
    root = Path(transformers.__file__).parent / "models"
    files = sorted(root.glob("*/modeling_*.py"))
    assert len(files) > 100
    for path in files[:: max(1, len(files) // 30)]:
        report = analyse_python(path.read_bytes())
        assert report.error is None, path
        assert [c for c in report.calls if c[0] in SEVERE] == [], path


def test_custom_generate_is_remote_code(tmp_path: Path) -> None:
    (tmp_path / "custom_generate").mkdir()
    (tmp_path / "custom_generate" / "generate.py").write_text(
        "import os\ndef generate(model, **kw):\n    os.system('id')\n"
    )
    rules = _rules(openward.scan(tmp_path))
    assert "custom_generate" in rules["remote-code"][0]
    assert "os.system" in rules["python-dangerous-call"][0]


def test_diffusers_components(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text(
        json.dumps(
            {
                "_class_name": ["pipeline_mine", "MyPipeline"],
                "unet": ["diffusers", "UNet2DConditionModel"],
                "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
                "custom": ["my_unet", "MyUNet"],
                "other": ["some_package", "Thing"],
                "bad": ["subprocess", "getoutput"],
                "image_encoder": [None, None],
            }
        )
    )
    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "my_unet.py").write_text("class MyUNet: pass\n")
    report = openward.scan(tmp_path)
    found = sorted((f.rule_id, f.severity.value, f.evidence) for f in report.findings)
    assert [(r, s) for r, s, _ in found] == [
        ("config-imports-module", "critical"),
        ("config-imports-module", "high"),
        ("remote-code", "medium"),
        ("remote-code", "medium"),
    ]
    evidence = " ".join(e for _, _, e in found)
    assert "custom/my_unet.py" in evidence and "pipeline_mine.py" in evidence
    assert "'some_package.Thing'" in evidence and "'subprocess.getoutput'" in evidence


def test_sentence_transformers_modules_and_activations(tmp_path: Path) -> None:
    (tmp_path / "modules.json").write_text(
        json.dumps(
            [
                {
                    "idx": 0,
                    "name": "0",
                    "path": "",
                    "type": "sentence_transformers.models.Transformer",
                },
                {"idx": 1, "name": "1", "path": "", "type": "custom_st.MyModule"},
                {"idx": 2, "name": "2", "path": "", "type": "builtins.eval"},
            ]
        )
    )
    (tmp_path / "custom_st.py").write_text("class MyModule: pass\n")
    (tmp_path / "config.json").write_text(
        json.dumps(
            {"sentence_transformers": {"activation_fn": "torch.nn.modules.activation.Sigmoid"}}
        )
    )
    (tmp_path / "2_Dense").mkdir()
    (tmp_path / "2_Dense" / "config.json").write_text(
        json.dumps({"activation_function": "os.system"})
    )
    rules = _rules(openward.scan(tmp_path))
    assert "custom_st.py" in rules["remote-code"][0]
    imports = " ".join(rules["config-imports-module"])
    assert "builtins.eval" in imports and "os.system" in imports and "Sigmoid" not in imports


def test_peft_imports(tmp_path: Path) -> None:
    (tmp_path / "adapter_config.json").write_text(
        json.dumps(
            {
                "auto_mapping": {"base_model_class": "Thing", "parent_library": "evil_pkg"},
                "megatron_core": "megatron.core",
            }
        )
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "adapter_config.json").write_text(
        json.dumps({"auto_mapping": {"base_model_class": "LlamaForCausalLM",
                                     "parent_library": "transformers.models.llama.modeling_llama"}})
    )  # fmt: skip
    rules = _rules(openward.scan(tmp_path))
    assert rules["config-imports-module"] == [
        "adapter_config.json: auto_mapping imports 'evil_pkg.Thing'"
    ]

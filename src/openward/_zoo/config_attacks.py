"""Bypasses found by attacking the config, HDF5 and repository-code readers.

A second engineer wrote a held-out corpus (``benchmarks/heldout/config_techniques.py``)
and then read the readers looking for ways past them. Each sample here is one
of those ways, kept as a regression: before the fix it scanned clean (or
below high), after it is flagged. Payloads only create a marker file;
:data:`LIVE` names the ones a test runs in the real loader, with the loader
code in :data:`LOADERS`.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

__all__ = ["LIVE", "LOADERS", "malicious"]

LOADERS: Final[dict[str, str]] = {
    "hydra": (
        "import sys\nfrom omegaconf import OmegaConf\nfrom hydra.utils import instantiate\n"
        "instantiate(OmegaConf.load(sys.argv[1]))"
    ),
    "pytables": "import sys, tables\ntables.open_file(sys.argv[1]).close()",
    "pandas-hdf": "import sys, pandas\npandas.read_hdf(sys.argv[1])",
    # What transformers' get_class_in_module does with a trust_remote_code file.
    "python-import": (
        "import sys, importlib.util\n"
        "spec = importlib.util.spec_from_file_location('remote_module', sys.argv[1])\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))"
    ),
}
"""Loader key -> Python code loading ``sys.argv[1]`` as the real library does."""

LIVE: Final[dict[str, tuple[str, str]]] = {
    "attacks/pytables/binary_pickle_attribute.h5": ("pytables", "atk-pytables-binary"),
    "attacks/pytables/pandas_table_attribute.h5": ("pandas-hdf", "atk-pandas-table"),
    "attacks/hydra/benchmark_timer.yaml": ("hydra", "atk-hydra-timer"),
    "attacks/hydra/storage_from_file.yaml": ("hydra", "atk-hydra-from-file"),
    "attacks/python/dict_dispatch.py": ("python-import", "atk-py-dict"),
    "attacks/python/class_attribute.py": ("python-import", "atk-py-class"),
    "attacks/python/default_parameter.py": ("python-import", "atk-py-default"),
    "attacks/python/frame_builtins.py": ("python-import", "atk-py-frame"),
    "attacks/python/builtin_self.py": ("python-import", "atk-py-self"),
    "attacks/python/timeit_statement.py": ("python-import", "atk-py-timeit"),
    "attacks/python/import_time_write.py": ("python-import", "atk-py-write"),
    "attacks/python/attribute_hook.py": ("python-import", "atk-py-hook"),
    "attacks/python/copy_reduce.py": ("python-import", "atk-py-reduce"),
    "attacks/python/pythonbreakpoint.py": ("python-import", "atk-py-breakpoint"),
    "attacks/python/getattribute.py": ("python-import", "atk-py-getattribute"),
}
"""Sample name -> (loader key, marker tag) for the payloads proven live in a test."""


def _path(touch: Callable[[str], str], tag: str) -> str:
    return touch(tag).removeprefix("touch ")


class _System:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (self.command,))


def malicious(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    _hdf5(add, touch)
    _configs(add, touch)
    _python(add, touch)


def _hdf5(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    try:
        import numpy as np
        import tables
    except ImportError:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vectors.h5"
        with tables.open_file(str(path), "w") as f:
            f.create_array("/", "embeddings", np.zeros((2, 2), np.float32))
            # PyTables pickles what it has no HDF5 type for; a binary pickle's
            # first memo store is "q\x00", where h5py's attrs[...] stops reading.
            f.root._v_attrs.NOTE = np.bytes_(
                pickle.dumps(_System(touch("atk-pytables-binary")), protocol=4)
            )
        add(
            "attacks/pytables/binary_pickle_attribute.h5",
            path.read_bytes(),
            "pytables-binary-pickle-attribute",
            "root attribute holding a protocol-4 pickle (embedded NUL bytes): "
            "tables.open_file unpickles it",
            "pickle-dangerous-global",
        )
        try:
            import pandas as pd
        except ImportError:
            return
        frame = Path(tmp) / "frame.h5"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pd.DataFrame({"a": [1, 2], "b": [3.0, 4.0]}).to_hdf(frame, key="df", format="table")
        with tables.open_file(str(frame), "a") as f:
            f.root.df.table.attrs.non_index_axes = np.bytes_(
                pickle.dumps(_System(touch("atk-pandas-table")), protocol=2)
            )
        add(
            "attacks/pytables/pandas_table_attribute.h5",
            frame.read_bytes(),
            "pandas-table-binary-pickle-attribute",
            "pandas table whose non_index_axes attribute is a protocol-2 pickle (read_hdf)",
            "pickle-dangerous-global",
        )


def _configs(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    import yaml

    def dump(doc: object) -> bytes:
        return yaml.safe_dump(doc, sort_keys=False).encode()

    code = f"import os; os.system({touch('atk-hydra-timer')!r})"
    add(
        "attacks/hydra/benchmark_timer.yaml",
        dump(
            {
                "_target_": "torch.utils.benchmark.Timer.timeit",
                "_args_": [{"_target_": "torch.utils.benchmark.Timer", "stmt": code}, 1],
            }
        ),
        "hydra-trusted-gadget-timer",
        "torch.utils.benchmark.Timer runs its stmt: a gadget inside a trusted library "
        "(hydra-core 1.3.8 runs it)",
        "config-target-dangerous",
    )
    add(
        "attacks/hydra/storage_from_file.yaml",
        dump(
            {
                "_target_": "torch.UntypedStorage.from_file",
                "filename": _path(touch, "atk-hydra-from-file"),
                "shared": True,
                "nbytes": 8,
            }
        ),
        "hydra-trusted-gadget-from-file",
        "torch.UntypedStorage.from_file(shared=True) creates or truncates any file",
        "config-target-dangerous",
    )
    add(
        "attacks/hydra/torchrun.yaml",
        dump(
            {
                "_target_": "torch.distributed.run.main",
                "_args_": [["--nproc_per_node=1", "train.py"]],
            }
        ),
        "hydra-trusted-gadget-torchrun",
        "torch.distributed.run.main launches processes running a script",
        "config-target-dangerous",
    )
    add(
        "attacks/hydra/operator_call.yaml",
        dump(
            {
                "_target_": "operator.call",
                "_args_": [
                    {"_target_": "uuid._get_command_stdout", "_partial_": True},
                    "touch",
                    _path(touch, "atk-hydra-operator-call"),
                ],
            }
        ),
        "hydra-operator-call",
        "operator.call of a bound stdlib helper (runs under hydra-core 1.3.2)",
        "config-target-dangerous",
    )
    add(
        "attacks/hyperpyyaml/run_shell/hyperparams.yaml",
        (
            "sample_rate: 16000\n"
            f'x: !apply:speechbrain.utils.superpowers.run_shell ["{touch("atk-sb")}"]\n'
        ).encode(),
        "hyperpyyaml-speechbrain-run-shell",
        "SpeechBrain's own run_shell, called from hyperparams.yaml",
        "config-target-dangerous",
    )


_PYTHON: Final[dict[str, tuple[str, str]]] = {
    # file -> (source with {cmd} and {marker}, why the analysis missed it)
    "dict_dispatch": (
        'import os\n\nHANDLERS = {{"run": os.system}}\nHANDLERS["run"]("{cmd}")\n',
        "a primitive stored in a dict and called through a subscript",
    ),
    "class_attribute": (
        'import os\n\n\nclass Launcher:\n    run = os.system\n\n\nLauncher.run("{cmd}")\n',
        "a primitive bound in a class body and called as a class attribute",
    ),
    "default_parameter": (
        'import os\n\n\ndef go(cmd, runner=os.system):\n    runner(cmd)\n\n\ngo("{cmd}")\n',
        "a primitive reached through a parameter's default value",
    ),
    "frame_builtins": (
        'import sys\n\nsys._getframe().f_builtins["ex" + "ec"]('
        "\"import os; os.system('{cmd}')\")\n",
        "exec taken from a frame's f_builtins",
    ),
    "builtin_self": (
        "print.__self__.exec("  # safe: payload text of a generated sample, not run here
        "\"import os; os.system('{cmd}')\")\n",
        "the builtins module reached as print.__self__",
    ),
    "timeit_statement": (
        "import timeit\n\ntimeit.timeit(\"import os; os.system('{cmd}')\", number=1)\n",
        "timeit runs its statement string",
    ),
    "import_time_write": (
        'import pathlib\n\npathlib.Path("{marker}").write_text("import os\\n")\n',
        "a file written at import time (how a .pth dropper persists)",
    ),
    "attribute_hook": (
        'import os\nimport sys\n\nsys.breakpointhook = os.system\nbreakpoint("{cmd}")\n',
        "a primitive stored into an interpreter hook",
    ),
    "site_addsitedir": (
        "import os\nimport site\n\n"
        'site.addsitedir(os.path.join(os.path.dirname(__file__), "ext"))\n',
        "site.addsitedir runs the import lines of .pth files",
    ),
    "zipimport_module": (
        'import zipimport\n\nzipimport.zipimporter("assets.zip").load_module("plugin")\n',
        "a module imported from a zip shipped with the model",
    ),
    "code_replace": (
        "def f():\n    return 0\n\n\nf.__code__ = f.__code__.replace(co_consts=(1,))\nf()\n",
        "bytecode rebuilt and stored into a function",
    ),
    "copy_reduce": (
        "import copy\nimport os\n\n\nclass State:\n    def __reduce__(self):\n"
        '        return (os.system, ("{cmd}",))\n\n\ncopy.copy(State())\n',
        "copy.copy calls what __reduce__ returns",
    ),
    "pythonbreakpoint": (
        'import os\n\nos.environ["PYTHONBREAKPOINT"] = "os.system"\nbreakpoint("{cmd}")\n',
        "breakpoint() imports and calls the callable PYTHONBREAKPOINT names",
    ),
    "getattribute": (
        'import os\n\nos.__getattribute__("system")("{cmd}")\n',
        "a module attribute fetched with __getattribute__",
    ),
    "event_loop_subprocess": (
        "import asyncio\n\n\nasync def main():\n    loop = asyncio.get_running_loop()\n"
        '    await loop.subprocess_shell(asyncio.SubprocessProtocol, "{cmd}")\n',
        "an event loop's subprocess_shell method",
    ),
    "subclasses_walk": (
        "for c in ().__class__.__base__.__subclasses__():\n"
        '    if c.__name__ == "Popen":\n'
        '        c(["id"])\n',
        "Popen found by walking object.__subclasses__()",
    ),
}


def _python(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    live_tags = {
        Path(name).stem: tag
        for name, (_, tag) in LIVE.items()
        if name.startswith("attacks/python/")
    }
    for name, (source, why) in _PYTHON.items():
        tag = live_tags.get(name, f"atk-py-{name}")
        text = source.format(cmd=touch(tag), marker=_path(touch, tag))
        add(
            f"attacks/python/{name}.py",
            text.encode(),
            f"python-{name.replace('_', '-')}",
            f"trust_remote_code file: {why}",
            "python-dangerous-call",
            "high",
        )

"""Which globals a pickle may name: an allowlist, plus a denylist for labels.

The decision is made by the allowlist alone. A global that is not on it is
reported as ``high`` whatever its name, so a module nobody has thought of
(the next ``uuid._get_command_stdout``) cannot slip through. The denylist
only raises known code-execution, file, network and import primitives to
``critical`` and says *why* they are dangerous.

The allowlist has two parts: :data:`SAFE_GLOBALS` below (the standard
library, torch's and numpy's rebuild functions, written by hand), and the
generated trust list of classes and functions of well-known ML libraries
(:mod:`openward.scanning.trust_list`, ``data/trusted_globals.json``), each
checked against the library's source by ``scripts/build_trust_list.py``. Both
name exact ``module.name`` spellings; nothing is admitted by a name pattern.

Allowlisted callables were checked for one property: given arguments that
are themselves data or allowlisted globals, they cannot import a module,
look up an attribute by name, or run code. ``torch.storage._load_from_bytes``
fails that test (it calls ``torch.load``), so it is not here. Neither is
``builtins.type``: ``type(instance)`` hands a pickle the class of any object
it built, and allowlisted helpers that set attributes on their results
(``torch._tensor._rebuild_from_type_v2``) would then rewrite that class for
the whole process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from openward.scanning.trust_list import TrustedClass, TrustedFunction

__all__ = ["GlobalVerdict", "classify_global", "normalize_global"]

_TORCH_DTYPES = (
    "bfloat16 bit bits16 bits1x8 bits2x4 bits4x2 bits8 bool cdouble cfloat chalf complex128 "
    "complex32 complex64 double float float16 float32 float4_e2m1fn_x2 float64 float8_e4m3fn "
    "float8_e4m3fnuz float8_e5m2 float8_e5m2fnuz float8_e8m0fnu half int int1 int16 int2 int3 "
    "int32 int4 int5 int6 int64 int7 int8 long qint32 qint8 quint2x4 quint4x2 quint8 short "
    "uint1 uint16 uint2 uint3 uint32 uint4 uint5 uint6 uint64 uint7 uint8"
)
_TORCH_CONSTANTS = (
    # layouts, memory formats, quantization schemes
    "_mkldnn jagged sparse_bsc sparse_bsr sparse_coo sparse_csc sparse_csr strided "
    "channels_last channels_last_3d contiguous_format legacy_contiguous_format preserve_format "
    "per_channel_affine per_channel_affine_float_qparams per_channel_symmetric "
    "per_tensor_affine per_tensor_symmetric"
)
_TORCH_STORAGES = (
    "BFloat16Storage BoolStorage ByteStorage CharStorage ComplexDoubleStorage "
    "ComplexFloatStorage DoubleStorage FloatStorage HalfStorage IntStorage LongStorage "
    "QInt32Storage QInt8Storage QUInt2x4Storage QUInt4x2Storage QUInt8Storage ShortStorage"
)
_TORCH_REBUILD = (
    "_rebuild_device_tensor_from_cpu_tensor _rebuild_device_tensor_from_numpy "
    "_rebuild_meta_tensor_no_storage _rebuild_nested_tensor _rebuild_parameter "
    "_rebuild_parameter_with_state _rebuild_qtensor _rebuild_sparse_tensor "
    "_rebuild_sparse_csr_tensor _rebuild_tensor _rebuild_tensor_v2 _rebuild_tensor_v3 "
    "_rebuild_wrapper_subclass _rebuild_xla_tensor _rebuild_mtia_tensor"
)
_NUMPY_SCALARS = (
    "bool_ bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 intc uintc intp uintp "
    "float16 float32 float64 longdouble complex64 complex128 clongdouble str_ bytes_ void "
    "datetime64 timedelta64 object_ generic number"
)
_NUMPY_CORE = ("numpy.core", "numpy._core")
_NUMPY_RANDOM = (
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
    ("numpy.random.bit_generator", "SeedSequence"),
    ("numpy.random._pcg64", "PCG64"),
    ("numpy.random._pcg64", "PCG64DXSM"),
    ("numpy.random._mt19937", "MT19937"),
    ("numpy.random._philox", "Philox"),
    ("numpy.random._sfc64", "SFC64"),
    ("numpy.random._generator", "Generator"),
    ("numpy.random.mtrand", "RandomState"),
)
_TRAINING_ARGS = (
    # ``training_args.bin`` in countless Hugging Face repositories is a
    # torch.save of these dataclasses and enums.
    ("transformers.training_args", "TrainingArguments"),
    ("transformers.training_args", "OptimizerNames"),
    ("transformers.training_args", "ParallelMode"),
    ("transformers.training_args_seq2seq", "Seq2SeqTrainingArguments"),
    ("transformers.trainer_utils", "IntervalStrategy"),
    ("transformers.trainer_utils", "SaveStrategy"),
    ("transformers.trainer_utils", "HubStrategy"),
    ("transformers.trainer_utils", "SchedulerType"),
    ("transformers.trainer_utils", "FSDPOption"),
    ("transformers.debug_utils", "DebugOption"),
    ("transformers.trainer_pt_utils", "AcceleratorConfig"),
    ("accelerate.utils.dataclasses", "DistributedType"),
)


_TORCH_NN_MODULES: Final[dict[str, str]] = {
    # Every public class defined in torch.nn.modules.* (torch 2.13), for
    # whole-model pickles (torch.save(model)); listed by name, not by pattern,
    # so module attributes such as activation.F (torch.nn.functional) stay out.
    "activation": (
        "CELU ELU GELU GLU Hardshrink Hardsigmoid Hardswish Hardtanh LeakyReLU LogSigmoid "
        "LogSoftmax Mish MultiheadAttention PReLU RReLU ReLU ReLU6 SELU SiLU Sigmoid Softmax "
        "Softmax2d Softmin Softplus Softshrink Softsign Tanh Tanhshrink Threshold"
    ),
    "adaptive": "AdaptiveLogSoftmaxWithLoss",
    "batchnorm": (
        "BatchNorm1d BatchNorm2d BatchNorm3d LazyBatchNorm1d LazyBatchNorm2d LazyBatchNorm3d "
        "SyncBatchNorm"
    ),
    "channelshuffle": "ChannelShuffle",
    "container": "Container ModuleDict ModuleList ParameterDict ParameterList Sequential",
    "conv": (
        "Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d LazyConv1d "
        "LazyConv2d LazyConv3d LazyConvTranspose1d LazyConvTranspose2d LazyConvTranspose3d"
    ),
    "distance": "CosineSimilarity PairwiseDistance",
    "dropout": "AlphaDropout Dropout Dropout1d Dropout2d Dropout3d FeatureAlphaDropout",
    "flatten": "Flatten Unflatten",
    "fold": "Fold Unfold",
    "instancenorm": (
        "InstanceNorm1d InstanceNorm2d InstanceNorm3d LazyInstanceNorm1d LazyInstanceNorm2d "
        "LazyInstanceNorm3d"
    ),
    "lazy": "LazyModuleMixin",
    "linear": "Bilinear Identity LazyLinear Linear NonDynamicallyQuantizableLinear",
    "linear_cross_entropy_options": "LinearCrossEntropyOptions",
    "loss": (
        "BCELoss BCEWithLogitsLoss CTCLoss CosineEmbeddingLoss CrossEntropyLoss "
        "GaussianNLLLoss HingeEmbeddingLoss HuberLoss KLDivLoss L1Loss LinearCrossEntropyLoss "
        "MSELoss MarginRankingLoss MultiLabelMarginLoss MultiLabelSoftMarginLoss "
        "MultiMarginLoss NLLLoss NLLLoss2d PoissonNLLLoss SmoothL1Loss SoftMarginLoss "
        "TripletMarginLoss TripletMarginWithDistanceLoss"
    ),
    "module": "Module",
    "normalization": "CrossMapLRN2d GroupNorm LayerNorm LocalResponseNorm RMSNorm",
    "padding": (
        "CircularPad1d CircularPad2d CircularPad3d ConstantPad1d ConstantPad2d ConstantPad3d "
        "ReflectionPad1d ReflectionPad2d ReflectionPad3d ReplicationPad1d ReplicationPad2d "
        "ReplicationPad3d ZeroPad1d ZeroPad2d ZeroPad3d"
    ),
    "pixelshuffle": "PixelShuffle PixelUnshuffle",
    "pooling": (
        "AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveMaxPool1d "
        "AdaptiveMaxPool2d AdaptiveMaxPool3d AvgPool1d AvgPool2d AvgPool3d "
        "FractionalMaxPool2d FractionalMaxPool3d LPPool1d LPPool2d LPPool3d MaxPool1d "
        "MaxPool2d MaxPool3d MaxUnpool1d MaxUnpool2d MaxUnpool3d"
    ),
    "rnn": "GRU GRUCell LSTM LSTMCell RNN RNNBase RNNCell RNNCellBase",
    "sparse": "Embedding EmbeddingBag",
    "transformer": (
        "Transformer TransformerDecoder TransformerDecoderLayer TransformerEncoder "
        "TransformerEncoderLayer"
    ),
    "upsampling": "Upsample UpsamplingBilinear2d UpsamplingNearest2d",
}


_TORCH_ACTIVATIONS = (
    "relu relu6 gelu silu mish elu selu celu leaky_relu tanh sigmoid hardtanh hardswish "
    "hardsigmoid softplus softsign tanhshrink glu logsigmoid softmax log_softmax dropout"
)


def _pairs(module: str, names: str) -> set[tuple[str, str]]:
    return {(module, n) for n in names.split()}


SAFE_GLOBALS: Final[frozenset[tuple[str, str]]] = frozenset(
    _pairs(
        "builtins",
        "set frozenset dict list tuple bytearray bytes str int float complex bool slice "
        "range object Ellipsis NotImplemented",
    )
    | _pairs("copyreg", "_reconstructor __newobj__ __newobj_ex__")
    | {("_codecs", "encode"), ("codecs", "encode")}
    | _pairs("collections", "OrderedDict defaultdict Counter deque")
    | _pairs("datetime", "datetime date time timedelta timezone")
    | {("decimal", "Decimal"), ("fractions", "Fraction")}
    | _pairs("pathlib", "Path PosixPath WindowsPath PurePath PurePosixPath PureWindowsPath")
    | {("uuid", "UUID"), ("uuid", "SafeUUID"), ("argparse", "Namespace")}
    # partial(f, *args) only stores f; calling the partial later is a call of a
    # value built at load time, which the machine reports (pickle-computed-call)
    | {("functools", "partial")}
    | {("re", "_compile"), ("re", "compile")}
    # torch checkpoints (torch.save of tensors, parameters, state_dicts, optimizers)
    | _pairs("torch._utils", _TORCH_REBUILD)
    | _pairs("torch._tensor", "_rebuild_from_type _rebuild_from_type_v2")
    | {("torch.serialization", "_get_layout")}
    | _pairs("torch", _TORCH_DTYPES + " " + _TORCH_CONSTANTS + " " + _TORCH_STORAGES)
    | _pairs("torch", "Size device Tensor")
    | _pairs("torch.storage", "UntypedStorage TypedStorage")
    | _pairs("torch.nn.parameter", "Parameter Buffer")
    # TorchScript's pickle helpers (every torch.jit.save archive uses them). Audited
    # in torch 2.13's torch/jit/_pickle.py, the whole module: each returns its first
    # argument unchanged (build_intlist, build_tensorlist, build_doublelist,
    # build_boollist, restore_type_tag) or an int/None (build_tensor_from_id); none
    # calls, imports or looks up anything, so they are harmless in any pickle.
    | _pairs(
        "torch.jit._pickle",
        "build_intlist build_tensorlist build_doublelist build_boollist "
        "build_tensor_from_id restore_type_tag",
    )
    # numpy arrays, dtypes and scalars, protocol 0-5 (numpy 1.x and 2.x module names)
    | {(core + ".multiarray", n) for core in _NUMPY_CORE for n in ("_reconstruct", "scalar")}
    | {(core + ".numeric", "_frombuffer") for core in _NUMPY_CORE}
    | _pairs("numpy", "dtype ndarray " + _NUMPY_SCALARS)
    | _pairs("numpy.ma.core", "_mareconstruct MaskedArray")
    | {("numpy.ma", "MaskedArray"), ("numpy", "matrix"), ("numpy.matrixlib.defmatrix", "matrix")}
    | set(_NUMPY_RANDOM)
    # joblib's inline numpy arrays, and the side-file wrappers of joblib < 0.10
    # (what they read is checked where BUILD names the file: pickle_vm)
    | {("joblib.numpy_pickle", "NumpyArrayWrapper")}
    | {("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper")}
    | {
        (module, name)
        for module in (
            "joblib.numpy_pickle",
            "joblib.numpy_pickle_compat",
            "sklearn.externals.joblib.numpy_pickle",
        )
        for name in ("NDArrayWrapper", "ZNDArrayWrapper")
    }
    | set(_TRAINING_ARGS)
    | {
        (f"torch.nn.modules.{m}", n)
        for m, names in _TORCH_NN_MODULES.items()
        for n in names.split()
    }
    | {("sklearn.utils._bunch", "Bunch"), ("sklearn.utils", "Bunch")}
    # PyTables' compression settings, pickled into the FILTERS attribute of every
    # node by PyTables 1.x (tables.Leaf before 2.0): a plain record of options
    | {("tables.filters", "Filters"), ("tables.Leaf", "Filters")}
    # activation functions stored on whole modules (TransformerEncoderLayer's
    # default is F.relu): tensor maths, nothing else
    | _pairs("torch.nn.functional", _TORCH_ACTIVATIONS)
    | _pairs("torch", "relu tanh sigmoid")
)

_PATH_WRITERS: Final = (
    "write_text", "write_bytes", "touch", "mkdir", "unlink", "rmdir", "rename", "replace",
    "symlink_to", "hardlink_to", "chmod", "open",
)  # fmt: skip

# Known-dangerous modules (any attribute) and names, with why.
_DANGEROUS_MODULES: Final[dict[str, str]] = {
    "os": "operating-system calls (system, popen, exec*, spawn*, file removal)",
    "posix": "operating-system calls (alias of os on POSIX)",
    "nt": "operating-system calls (alias of os on Windows)",
    "subprocess": "runs external commands",
    "_posixsubprocess": "runs external commands",
    "commands": "runs external commands",
    "pty": "spawns processes with a terminal",
    "popen2": "runs external commands",
    "platform": "runs external commands (popen)",
    "sys": "interpreter internals (modules, path, settrace)",
    "builtins.__import__": "imports any module",
    "importlib": "imports any module",
    "imp": "imports any module",
    "pkgutil": "imports any module",
    "zipimport": "imports code from archives",
    "runpy": "runs Python modules and files",
    "code": "runs Python source",
    "codeop": "compiles Python source",
    "marshal": "loads code objects",
    "types": "builds functions and code objects",
    "ctypes": "calls native code",
    "_ctypes": "calls native code",
    "cffi": "calls native code",
    "pickle": "nested unpickling (runs another pickle)",
    "_pickle": "nested unpickling (runs another pickle)",
    "cPickle": "nested unpickling (runs another pickle)",
    "pickletools": "pickle internals",
    "dill": "pickling of code objects and functions",
    "cloudpickle": "pickling of code objects and functions",
    "shelve": "nested unpickling",
    "joblib": "nested unpickling (joblib.load)",
    "torch.load": "nested unpickling (torch.load)",
    "torch.serialization": "nested unpickling (torch.load)",
    "torch.storage._load_from_bytes": "nested unpickling (torch.load)",
    "torch.hub": "downloads and runs repository code",
    "torch.jit": "loads and compiles TorchScript",
    "torch.package": "imports packaged code",
    "torch.utils.cpp_extension": "compiles and loads native code",
    "torch._dynamo": "compiler internals",
    "torch._inductor": "compiler internals that run generated code",
    "numpy.load": "nested unpickling (numpy.load with allow_pickle)",
    "numpy.testing": "runs Python source (runstring)",
    "numpy.f2py": "compiles and runs native code",
    "numpy.distutils": "runs build commands",
    "yaml": "YAML loaders that build arbitrary objects",
    "jinja2": "template rendering",
    "pip": "installs and runs packages",
    "ensurepip": "installs packages",
    "setuptools": "runs build commands",
    "distutils": "runs build commands",
    "venv": "creates environments, runs commands",
    "webbrowser": "opens URLs or runs a browser command",
    "antigravity": "opens a web browser on import",
    "http": "network access",
    "urllib": "network access",
    "urllib2": "network access",
    "urllib3": "network access",
    "requests": "network access",
    "httpx": "network access",
    "aiohttp": "network access",
    "socket": "network access",
    "_socket": "network access",
    "socketserver": "network servers",
    "ssl": "network access",
    "ftplib": "network access",
    "smtplib": "network access",
    "poplib": "network access",
    "imaplib": "network access; IMAP4_stream runs a command",
    "nntplib": "network access",
    "telnetlib": "network access",
    "xmlrpc": "network access",
    "asyncio": "subprocesses and network access",
    "multiprocessing": "starts processes",
    "concurrent": "starts processes and threads",
    "threading": "starts threads",
    "_thread": "starts threads",
    "signal": "signal handlers",
    "atexit": "registers code to run at exit",
    "gc": "interpreter internals",
    "inspect": "introspection that reaches frames and globals",
    "shutil": "copies, moves and removes files",
    "tempfile": "creates files",
    "glob": "lists files",
    "fileinput": "reads and rewrites files",
    "io": "opens files",
    "_io": "opens files",
    "tarfile": "extracts archives onto disk",
    "zipfile": "extracts archives onto disk",
    "sqlite3": "creates database files",
    "dbm": "creates database files",
    "logging": "handlers that write files and open sockets; config that builds objects",
    "pdb": "runs Python source (debugger)",
    "bdb": "runs Python source (debugger)",
    "trace": "runs Python source",
    "profile": "runs Python source (profile.run)",
    "cProfile": "runs Python source (cProfile.run)",
    "timeit": "runs Python source (timeit)",
    "doctest": "runs Python source",
    "pydoc": "runs pagers and imports modules (pipepager, locate)",
    "_osx_support": "runs external commands (_read_output)",
    "idlelib": "runs Python source",
    "lib2to3": "code transformation",
    "operator.attrgetter": "looks up attributes by name (gadget chains)",
    "operator.methodcaller": "calls methods by name (gadget chains)",
    "functools.reduce": "call chains",
    "copyreg.add_extension": "changes how EXT opcodes resolve",
    "uuid": "uuid internals run external commands (_get_command_stdout)",
    "IPython": "runs Python source",
    "ipykernel": "runs Python source",
    # Reached by name from config-driven loaders (Hydra _target_, hyperpyyaml tags)
    # as well as from pickles: name resolvers, file writers and loaders that ML
    # libraries export.
    "hydra.utils": "resolves and calls names from strings (instantiate, call, get_method)",
    "hydra._internal.utils": "resolves names from strings (_locate)",
    "hydra._internal.instantiate": "calls names from strings (instantiate)",
    "jsonargparse": "imports and instantiates names from strings",
    "typing.get_type_hints": "evaluates strings as Python expressions",
    "typing._eval_type": "evaluates strings as Python expressions",
    "typing.ForwardRef": "evaluates strings as Python expressions",
    "optparse.Values.read_file": "runs a Python file",
    "optparse.Values.read_module": "imports a module",
    "tracemalloc.Snapshot.load": "nested unpickling",
    "torch.save": "writes files (a pickle at any path)",
    "torch.from_file": "creates and maps files (shared=True)",
    "torch.ops.load_library": "loads native code",
    "torch.classes.load_library": "loads native code",
    "torch.utils.model_zoo": "downloads and unpickles checkpoints",
    "torch.distributed.rpc": "runs functions on remote workers",
    "numpy.save": "writes files",
    "numpy.savez": "writes files",
    "numpy.savez_compressed": "writes files",
    "numpy.savetxt": "writes files with chosen text (a .pth file runs at start-up)",
    "numpy.memmap": "creates and maps files",
    "numpy.lib.format.open_memmap": "creates and maps files",
    "numpy.ndarray.tofile": "writes files",
    "pandas.read_pickle": "nested unpickling",
    "pandas.to_pickle": "writes pickles to files",
    "pandas.io.pickle": "nested unpickling",
    "omegaconf.OmegaConf.save": "writes files with chosen content",
    "transformers.dynamic_module_utils": "downloads and imports repository code",
    **{
        f"pathlib.{cls}.{method}": "creates, writes, moves or removes files"
        for cls in ("Path", "PosixPath", "WindowsPath")
        for method in _PATH_WRITERS
    },
}

_DANGEROUS_BUILTINS: Final[dict[str, str]] = {
    "eval": "runs Python source",
    "exec": "runs Python source",
    "execfile": "runs Python source",
    "compile": "compiles Python source",
    "open": "opens files for reading or writing",
    "file": "opens files",
    "getattr": "looks up attributes by name: reaches os.system from any object",
    "setattr": "overwrites attributes of modules and classes",
    "delattr": "deletes attributes of modules and classes",
    "globals": "reaches module globals",
    "locals": "reaches local variables",
    "vars": "reaches namespaces",
    "__import__": "imports any module",
    "input": "reads from the terminal",
    "breakpoint": "starts a debugger",
    "apply": "calls any callable",
    "reload": "re-executes modules",
}

_DUNDER_TRAVERSAL = re.compile(r"(^|\.)__[a-z_]+__(\.|$)")


@dataclass(frozen=True, slots=True)
class GlobalVerdict:
    """How the policy judges one ``module.name`` global."""

    status: Literal["allowed", "dangerous", "unlisted"]
    """``allowed`` passes; ``dangerous`` is critical; ``unlisted`` is high."""
    reason: str
    """Why: what the global can do, or that it is simply not on the allowlist."""
    construct_only: bool = False
    """Allowed to be instantiated without ``__init__`` (NEWOBJ, copyreg's constructors)
    and given its state, but not to be called with arguments: its ``__init__`` was not checked."""
    trusted: TrustedClass | TrustedFunction | None = None
    """The trust-list entry that allowed it, if any: a class entry says how a pickle
    may build it (``init_checked``: calling it with ``REDUCE`` was checked too, not
    only building it without ``__init__``) and which hooks are not vouched for
    (``unsafe_hooks``); a function entry says whether it calls its arguments."""


def normalize_global(module: str, name: str) -> tuple[str, str]:
    """Map Python 2 names (``__builtin__``, ``copy_reg``) to what Python 3 imports.

    The unpickler only does this for protocols 0-2; doing it always can only
    make a verdict stricter, never looser.
    """
    from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING

    if (module, name) in NAME_MAPPING:
        return NAME_MAPPING[(module, name)]
    return IMPORT_MAPPING.get(module, module), name


def _dangerous_reason(module: str, name: str) -> str | None:
    full = f"{module}.{name}"
    parts = full.split(".")
    for i in range(len(parts), 0, -1):
        reason = _DANGEROUS_MODULES.get(".".join(parts[:i]))
        if reason is not None:
            return reason
    if module == "builtins":
        head = name.split(".", 1)[0]
        if head in _DANGEROUS_BUILTINS:
            return _DANGEROUS_BUILTINS[head]
    if _DUNDER_TRAVERSAL.search(name):
        return "attribute traversal through dunder attributes (reaches globals and builtins)"
    return None


def _is_allowed(module: str, name: str, extra: Iterable[str]) -> bool:
    if (module, name) in SAFE_GLOBALS:
        return True
    if f"{module}.{name}" in extra:
        return True
    # Exact names only, dotted ones included: the trust list names each spelling
    # it vouches for (a protocol-4 dotted name such as ``interp1d._call_linear``
    # is listed as such, never inferred from its prefix).
    return _trusted(module, name) is not None


def _trusted(module: str, name: str) -> TrustedClass | TrustedFunction | None:
    from openward.scanning.trust_list import load_trust_list

    trust = load_trust_list()
    return trust.classes.get((module, name)) or trust.functions.get((module, name))


@lru_cache(maxsize=1)
def _command_runners() -> dict[tuple[str, str], str]:
    """Library functions that run a command or code their caller passes in
    (generated by scripts/find_command_runners.py; see its docstring)."""
    path = Path(__file__).with_name("data") / "command_runners.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {(e["module"], e["name"]): e["via"] for e in doc["entries"]}


def _primitive_reason(module: str, name: str) -> str | None:
    reason = _dangerous_reason(module, name)
    if reason is not None:
        return reason
    via = _command_runners().get((module, name))
    if via is not None:
        return f"runs the command or code it is given (through {via})"
    return None


def _dotted_reason(module: str, name: str) -> str | None:
    """Why a dotted name is dangerous: what it resolves to through module sources,
    or a path segment that names a dangerous module (``x.os.system``)."""
    from openward.scanning.pickle_names import resolve_dotted

    target = resolve_dotted(module, name)
    if target != (module, name):
        reason = _primitive_reason(*target)
        if reason is not None:
            return f"resolves to {target[0]}.{target[1]}: {reason}"
    parts = name.split(".")
    for i in range(len(parts) - 1):
        reason = _dangerous_reason(parts[i], ".".join(parts[i + 1 :]))
        if reason is not None:
            return f"reaches {'.'.join(parts[i:])} through {module}: {reason}"
    return None


def _trust_reason(entry: TrustedClass | TrustedFunction) -> str:
    from openward.scanning.trust_list import TrustedClass, load_trust_list

    version = load_trust_list().libraries.get(entry.library, "")
    where = f"{entry.library} {version}".strip()
    if isinstance(entry, TrustedClass):
        how = "calling it checked too" if entry.init_checked else "built without __init__"
        return f"on the trust list ({where} class, checked: {how})"
    return f"on the trust list ({where}: {entry.reason})"


def _file_resource_state(state: object) -> str | None:
    """sklearn-crfsuite's ``FileResource``: its ``__setstate__`` writes the pickled
    model bytes to ``tempfile.mkstemp(suffix, prefix)`` and its ``__del__`` deletes
    ``name``. Safe as sklearn-crfsuite writes it: no name, plain prefix and suffix."""
    items = getattr(state, "items", None)
    if not isinstance(items, dict):
        return f"a state openward cannot read ({type(state).__name__})"
    if items.get("name") is not None:
        return f"its state names a file ({items.get('name')!r}) that __del__ deletes"
    for key in ("prefix", "suffix"):
        value = items.get(key, "")
        if not isinstance(value, str):
            return f"its {key} is not a plain string"
        if "/" in value or "\\" in value or ".." in value or "\0" in value:
            return f"its {key} {value!r} moves the file it writes out of the temporary folder"
    return None


_STATE_CHECKS: Final = {
    ("sklearn_crfsuite._fileresource", "FileResource"): _file_resource_state,
}
"""Classes that are safe only with some states: each check returns what is wrong
with one BUILD state, or None. The classes are built without ``__init__`` only."""


def state_problem(module: str, name: str, states: list[object]) -> str | None:
    """Why the states a pickle gives instances of ``module.name`` are not safe, or
    None when the class has a state check and every state passes it. Classes
    without a check are judged by the allowlist alone (``"no state check"``)."""
    check = _STATE_CHECKS.get(normalize_global(module, name))
    if check is None:
        return "no state check"
    if not states:
        return "instances without a state"
    for state in states:
        if state is None:
            return "more instances than openward follows"
        problem = check(state)
        if problem is not None:
            return problem
    return None


def classify_global(module: str, name: str, extra_allowed: Iterable[str] = ()) -> GlobalVerdict:
    """Judge the global ``module.name`` that a pickle imports.

    ``extra_allowed`` holds ``module.name`` strings the user vouches for
    (``--allow``); they win over everything else.
    """
    module, name = normalize_global(module, name)
    if _is_allowed(module, name, extra_allowed):
        entry = _trusted(module, name)
        if (module, name) in SAFE_GLOBALS or f"{module}.{name}" in extra_allowed:
            return GlobalVerdict("allowed", "on the allowlist", trusted=entry)
        assert entry is not None
        from openward.scanning.trust_list import TrustedClass

        return GlobalVerdict(
            "allowed",
            _trust_reason(entry),
            construct_only=isinstance(entry, TrustedClass)
            and not entry.init_checked
            and not entry.enum,
            trusted=entry,
        )
    reason = _primitive_reason(module, name)
    if reason is None and "." in name:
        reason = _dotted_reason(module, name)
    if reason is not None:
        return GlobalVerdict("dangerous", reason)
    return GlobalVerdict(
        "unlisted", "not on the allowlist: importing or calling it may run arbitrary code"
    )

"""The catalogue of rules: one entry per ``rule_id`` a finding can carry.

Rule ids are a contract (CI pipelines filter on them), so they are only ever
added, never renamed. The SARIF renderer publishes this table as the tool's
``rules``; ``docs/scan.md`` documents it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from openward.scanning.interface import Finding, Severity

__all__ = ["RULES", "Rule", "rule", "rules_markdown"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A kind of finding."""

    id: str
    """Stable identifier, kebab-case."""
    severity: Severity
    """Default severity; a finding may only lower it for a stated reason."""
    title: str
    """Short description, used as the finding message when none is given."""
    description: str
    """Why it matters."""
    remedy: str
    """One line: what to do."""

    def finding(
        self,
        path: str,
        member: str | None,
        offset: int | None,
        evidence: str,
        *,
        message: str | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        return Finding(
            rule_id=self.id,
            severity=severity or self.severity,
            path=path,
            member=member,
            offset=offset,
            message=message or self.title,
            evidence=evidence,
            remedy=self.remedy,
        )


_CONVERT = "Do not load it; if you trust the publisher, ask for a safetensors copy."

_ALL: Final[tuple[Rule, ...]] = (
    Rule(
        "pickle-dangerous-global",
        Severity.CRITICAL,
        "Pickle imports a code-execution, file, network or import primitive",
        "Unpickling resolves and may call this global; it is a known way to run "
        "commands, touch files or reach the network when the file is loaded.",
        _CONVERT,
    ),
    Rule(
        "pickle-unlisted-global",
        Severity.HIGH,
        "Pickle imports a global that is not on the allowlist",
        "Only globals that legitimate checkpoints need are allowed; anything else "
        "could run code when the file is loaded.",
        "Load only if you trust the publisher and know this global; otherwise convert "
        "to safetensors (or vouch for it with --allow module.name).",
    ),
    Rule(
        "pickle-global-reference",
        Severity.LOW,
        "Pickle imports a global that is not on the allowlist, and never calls it",
        "Loading imports the module and stores the object (a function kept as an "
        "attribute, a callback, a type); nothing in the file calls it. Importing runs "
        "the module's top-level code, and the program may call the object later. "
        "Known code-execution primitives are reported as pickle-dangerous-global "
        "whether called or not.",
        "Check that the module is one you expect this model to use.",
    ),
    Rule(
        "pickle-side-file",
        Severity.HIGH,
        "Pickle makes joblib read a file outside the model's folder",
        "joblib < 0.10 stored arrays in side files; joblib.load opens the file a "
        "legacy array wrapper names (NDArrayWrapper, read by numpy.load with pickles allowed, "
        "so a pickle there runs too). An absolute name or '..' reaches any file on the "
        "machine.",
        _CONVERT,
    ),
    Rule(
        "pickle-dynamic-global",
        Severity.CRITICAL,
        "Pickle computes the name of a global at load time",
        "STACK_GLOBAL with operands that are not constant strings hides which "
        "module and attribute the loader will import.",
        _CONVERT,
    ),
    Rule(
        "pickle-computed-call",
        Severity.HIGH,
        "Pickle calls a value that is not a global",
        "Calling the result of another call (or a persistent-id lookup) is how "
        "gadget chains reach callables that no allowlist names.",
        _CONVERT,
    ),
    Rule(
        "pickle-build-on-global",
        Severity.HIGH,
        "Pickle sets attributes on a module-level object",
        "BUILD applied to a global rather than to a new instance changes that "
        "class or function for the whole loading process.",
        _CONVERT,
    ),
    Rule(
        "pickle-build-dunder",
        Severity.HIGH,
        "Pickle sets a dunder attribute with BUILD",
        "Slot state is applied with setattr, so __class__ or __dict__ there changes what "
        "an object is after it was built (a wrapper that joblib treats specially can become "
        "something else); a __setstate__ put into an instance's __dict__ is called by the "
        "next BUILD of that object. Other dunder-named keys of a dict state are plain data.",
        _CONVERT,
    ),
    Rule(
        "pickle-extension-code",
        Severity.HIGH,
        "Pickle uses a copyreg extension code",
        "EXT1/EXT2/EXT4 resolve to whatever global the loading process registered; "
        "the file alone does not say what will be imported.",
        _CONVERT,
    ),
    Rule(
        "pickle-loader-divergence",
        Severity.HIGH,
        "Pickle stream reads differently in different loaders",
        "An opcode straddles the end of a FRAME. pickle.loads reads on across the "
        "boundary, while the C unpickler reading from a file object without peek() "
        "(torch.load of a zip checkpoint) drops the rest of the frame and reads on "
        "from after it. No pickler writes such a stream; it is built to show scanners "
        "one program and loaders another. Both readings are analysed.",
        _CONVERT,
    ),
    Rule(
        "pickle-malformed",
        Severity.MEDIUM,
        "Pickle stream is malformed or truncated",
        "Loaders execute opcodes up to the break, so anything before it may already "
        "have run; the rest of the stream could not be analysed.",
        "Re-download the file from its publisher; do not load a broken pickle.",
    ),
    Rule(
        "pickle-trailing-data",
        Severity.INFO,
        "Bytes follow the last pickle stream",
        "A loader reading one pickle ignores them; a loader that reads several "
        "streams would interpret them.",
        "No action needed unless the file is not supposed to carry extra data.",
    ),
    Rule(
        "numpy-object-array",
        Severity.LOW,
        "NumPy array holds Python objects (loading needs allow_pickle)",
        "Object arrays are stored as pickles; numpy refuses them unless the caller "
        "turns allow_pickle on. The pickle itself is analysed separately.",
        "Store numeric arrays only, or a format without pickles.",
    ),
    Rule(
        "numpy-malformed",
        Severity.MEDIUM,
        "NumPy file header is malformed",
        "The header could not be parsed or disagrees with the data that follows.",
        "Re-create the file with numpy.save.",
    ),
    Rule(
        "torch-legacy-malformed",
        Severity.MEDIUM,
        "Legacy PyTorch file does not follow the legacy layout",
        "The sequence of pickles and raw storages in a pre-1.6 torch.save file "
        "is broken, so not every part could be analysed.",
        "Re-save the checkpoint with a current PyTorch, or convert it to safetensors.",
    ),
    Rule(
        "safetensors-malformed",
        Severity.MEDIUM,
        "safetensors header is malformed; the loader refuses the file",
        "The header length, JSON, dtypes, shapes or data offsets break the format's "
        "rules (offsets must tile the data buffer exactly, metadata values must be "
        "strings).",
        "Re-create the file with the safetensors library or obtain a clean copy.",
    ),
    Rule(
        "safetensors-trailing-data",
        Severity.MEDIUM,
        "safetensors file carries bytes after its last tensor",
        "The safetensors loader refuses such files, but other tools (zip readers, "
        "pickle loaders) may read the extra bytes: a classic polyglot. They are "
        "analysed as a member named <bytes after the last tensor>.",
        "Obtain a clean copy; do not open the file with any other loader.",
    ),
    Rule(
        "safetensors-embedded-payload",
        Severity.HIGH,
        "safetensors tensor bytes open as an archive or a pickle",
        "Tensor data that is a zip, tar, pickle or another model file is a payload "
        "waiting for a loader that looks at it that way (a zip polyglot hides in a "
        "final U8 tensor, since the loader itself rejects trailing bytes).",
        "Do not load the file with anything but safetensors; obtain a clean copy.",
    ),
    Rule(
        "safetensors-duplicate-key",
        Severity.MEDIUM,
        "safetensors header names a tensor (or metadata) twice",
        "JSON readers disagree on which duplicate wins, so tools can see different "
        "tensors in the same file.",
        "Re-create the file with the safetensors library.",
    ),
    Rule(
        "gguf-malformed",
        Severity.MEDIUM,
        "GGUF header is malformed",
        "Counts, lengths, types or tensor offsets break the format; llama.cpp "
        "refuses the file, or reads past what the header describes.",
        "Re-create the file with llama.cpp's tools or obtain a clean copy.",
    ),
    Rule(
        "chat-template-unsafe",
        Severity.CRITICAL,
        "Chat template reaches Python internals (sandbox escape)",
        "The template accesses attributes Jinja's sandbox refuses (dunders such as "
        "__globals__ or __subclasses__, private names, interpreter internals): "
        "rendered without a sandbox, as llama-cpp-python did (CVE-2024-34359), it "
        "runs arbitrary code.",
        "Do not render the template; remove it or replace it with the publisher's original.",
    ),
    Rule(
        "chat-template-malformed",
        Severity.MEDIUM,
        "Chat template does not parse",
        "Jinja2 cannot parse the template, so no loader will render it as written.",
        "Fix or replace the template.",
    ),
    Rule(
        "remote-code",
        Severity.MEDIUM,
        "Loading needs trust_remote_code: it runs Python files from the repository",
        "auto_map names modules that transformers imports when trust_remote_code=True "
        "(so do custom_generate/generate.py, diffusers' custom pipelines and components, "
        "and sentence-transformers' custom modules); they run with the loader's "
        "privileges. Their calls are analysed as python-dangerous-call findings.",
        "Read the named files before loading, or use a model that does not need remote code.",
    ),
    Rule(
        "remote-code-external",
        Severity.HIGH,
        "auto_map loads code from another repository",
        "An entry of the form 'org/repo--module.Class' makes the loader download and "
        "run code that is not part of the scanned files, so nothing is known about it.",
        "Do not load with trust_remote_code; scan the other repository first.",
    ),
    Rule(
        "python-dangerous-call",
        Severity.HIGH,
        "Python code calls process, code-loading, network or unsafe deserialisation functions",
        "A loader that imports this file (trust_remote_code, custom pipelines) runs "
        "these calls: subprocesses, eval/exec, dynamic imports, sockets and HTTP, "
        "pickle or torch.load without weights_only, and files written while the module "
        "is imported (a .pth or sitecustomize.py runs at every interpreter start).",
        "Read the code before loading; prefer models without remote code.",
    ),
    Rule(
        "python-file-operation",
        Severity.MEDIUM,
        "Python code deletes, moves or changes permissions of files",
        "A loader that imports this file would run these file-system operations.",
        "Read the code before loading.",
    ),
    Rule(
        "config-imports-module",
        Severity.HIGH,
        "A config makes the loader import a module it names",
        "diffusers' model_index.json components, sentence-transformers' modules.json types "
        "and activation functions, and PEFT's auto_mapping name modules that the loader "
        "imports (older versions without asking for trust_remote_code) and then calls. "
        "Critical when the name is a known code-execution primitive.",
        "Do not load it unless you know the named module; prefer configs that name only "
        "the loader's own classes.",
    ),
    Rule(
        "config-malformed",
        Severity.LOW,
        "A config file that loaders read is not valid JSON",
        "transformers and the other loaders refuse the file, so it cannot make them run "
        "code; but nothing in it (auto_map, chat templates) could be analysed either.",
        "Re-download the file from its publisher.",
    ),
    Rule(
        "python-unparsable",
        Severity.MEDIUM,
        "Python file does not parse",
        "The file is not valid Python 3, so its behaviour could not be analysed.",
        "Read the file; do not import it.",
    ),
    Rule(
        "onnx-custom-operator",
        Severity.MEDIUM,
        "ONNX model needs custom operators",
        "Nodes in a domain no runtime ships can only run after a native custom-op "
        "library is registered: code that is not in the model file.",
        "Find out which library provides the domain, and review it before loading.",
    ),
    Rule(
        "onnx-external-data-escape",
        Severity.HIGH,
        "ONNX external data points outside the model's folder",
        "An absolute location, '..' or a symlink makes the loader read (and export "
        "tools write) files elsewhere on the machine.",
        "Do not load it; external data must live next to the model.",
    ),
    Rule(
        "onnx-external-data-missing",
        Severity.MEDIUM,
        "ONNX external data file does not exist",
        "The model names a data file that is not among the scanned files.",
        "Obtain the complete model, or scan the folder that holds its data files.",
    ),
    Rule(
        "keras-lambda",
        Severity.CRITICAL,
        "Keras config carries a Lambda layer (marshalled Python bytecode)",
        "Rebuilding the model unmarshals and runs the function: always with legacy "
        "tf.keras, with Keras 3 whenever safe_mode=False.",
        "Do not load it; ask for a model without Lambda layers (or its source code).",
    ),
    Rule(
        "keras-external-reference",
        Severity.HIGH,
        "Keras config imports a module or function from outside Keras",
        "Deserialisation imports the named module and takes the named class or "
        "function from it (CVE-2024-3660, the safe_mode bypass CVE-2025-1550).",
        "Load only if you trust the publisher and know the referenced code.",
    ),
    Rule(
        "keras-external-model",
        Severity.HIGH,
        "Keras config loads another model from a path (TFSMLayer)",
        "Rebuilding the layer runs tf.saved_model.load on the named path: that "
        "SavedModel's graph runs inside the model, and it is not part of the scanned files.",
        "Do not load it; ask for a model without TFSMLayer, or scan the referenced SavedModel.",
    ),
    Rule(
        "keras-file-reference",
        Severity.HIGH,
        "Keras config makes the loader read a file outside the model",
        "Lookup layers and tokenizers given a path as their vocabulary read that "
        "file (or URL) when the model is rebuilt (the CVE-2025-12058 pattern); "
        "its contents become part of the model.",
        "Do not load it; vocabularies belong in the model's own assets.",
    ),
    Rule(
        "keras-torch-module",
        Severity.LOW,
        "Keras config embeds a pickled PyTorch module (TorchModuleWrapper)",
        "Rebuilding the layer runs torch.load with weights_only=False on the embedded "
        "bytes (Keras asks for safe_mode=False). The embedded pickle is analysed "
        "as a member of its own.",
        "Load it only if the embedded module's findings are clean and you trust the publisher.",
    ),
    Rule(
        "keras-malformed",
        Severity.MEDIUM,
        "Keras archive's config.json is not valid JSON",
        "Keras cannot rebuild the model from it, and it could not be analysed.",
        "Obtain a clean copy.",
    ),
    Rule(
        "hdf5-malformed",
        Severity.MEDIUM,
        "HDF5 file could not be read",
        "The HDF5 library refuses the file, so its Keras config (if any) could not be analysed.",
        "Obtain a clean copy.",
    ),
    Rule(
        "tf-dangerous-op",
        Severity.HIGH,
        "TensorFlow graph reads files, reaches the network or calls Python",
        "Operations such as ReadFile, MatchingFiles, ImmutableConst, dataset "
        "readers, tf.data service or RPC operations and PyFunc run when the model "
        "runs (in TFLite, as Flex custom operators) and reach the machine's files, "
        "the network or the host's Python. (Writing files is tf-file-write.)",
        "Do not serve the model; ask for one without file, network or Python operations.",
    ),
    Rule(
        "tf-file-write",
        Severity.CRITICAL,
        "TensorFlow graph creates, writes or deletes files",
        "Operations such as WriteFile, checkpoint and summary writers, "
        "DatasetToTFRecord, snapshot or cache datasets, or PrintV2 with a "
        "file:// output stream write to the machine when the model runs (in "
        "TFLite, as Flex operators). Checkpoint operations that only the "
        "SavedModel's own saver reaches are not reported.",
        "Do not serve the model; ask for one without file-writing operations.",
    ),
    Rule(
        "torchscript-file-write",
        Severity.CRITICAL,
        "TorchScript code creates or writes files",
        "torch.from_file(..., shared=True) creates the file and maps it for "
        "writing, torch.save writes a pickle to any path; in a __setstate__ "
        "this runs while torch.jit.load reads the archive.",
        "Do not load it; ask for a safetensors copy of the weights.",
    ),
    Rule(
        "torchscript-file-read",
        Severity.HIGH,
        "TorchScript code reads files",
        "torch.from_file maps any file on the machine into a tensor when the code runs.",
        "Do not load it; ask for a safetensors copy of the weights.",
    ),
    Rule(
        "torchscript-custom-op",
        Severity.MEDIUM,
        "TorchScript code calls operators or classes from a native library",
        "torch.ops.<namespace> and torch.classes.<namespace> outside PyTorch's own "
        "namespaces run native code that a separately loaded library registers; "
        "the archive alone does not say what it does.",
        "Find out which library provides the namespace, and review it before loading.",
    ),
    Rule(
        "torchscript-unparsable",
        Severity.MEDIUM,
        "TorchScript source could not be parsed",
        "Code under code/ that Python's parser refuses was only searched token by "
        "token for dangerous calls; torch.jit.load may still compile it.",
        "Obtain a clean copy, or inspect the code by hand.",
    ),
    Rule(
        "tflite-custom-operator",
        Severity.MEDIUM,
        "TensorFlow Lite model needs custom operators",
        "Custom operators are native code registered by the application, not part "
        "of the model file.",
        "Find out which library provides them and review it before loading.",
    ),
    Rule(
        "tflite-malformed",
        Severity.MEDIUM,
        "TensorFlow Lite flatbuffer is malformed",
        "Offsets in the model point outside the file; interpreters refuse it or read garbage.",
        "Obtain a clean copy.",
    ),
    Rule(
        "config-target-dangerous",
        Severity.CRITICAL,
        "Config makes its loader import and call a code-execution, file, network or "
        "import primitive",
        "Config-driven loaders import the names a config gives them and call them: Hydra's "
        "instantiate (_target_, also in NeMo archives), jsonargparse and LightningCLI "
        "(class_path), SpeechBrain's hyperpyyaml (!new:, !apply:), PyYAML's unsafe loaders "
        "(!!python/object/apply:). This name is a known primitive (the pickle denylist). A name "
        "that is only bound (!name:, _partial_) is reported at high: it runs when the "
        "application calls it.",
        "Do not load the config; remove the entry or obtain the publisher's original.",
    ),
    Rule(
        "config-target-unlisted",
        Severity.HIGH,
        "Config makes its loader import and call a name outside well-known ML libraries",
        "The loader imports the module and calls the name while loading, like a pickle "
        "global nobody vetted: high for functions and standard-library names, where gadgets "
        "such as file writers live; medium when the name is only bound (called later, if at "
        "all); low for a class of a third-party package (it exists only if the user installed "
        "that package) and for a module shipped with the model (its code is analysed as Python).",
        "Load only if you know the named code; vouch for it with --allow module.name.",
    ),
    Rule(
        "config-target-dynamic",
        Severity.HIGH,
        "Config computes the name its loader imports at load time",
        "An interpolation (${...}) that reads the environment or a value the config does "
        "not hold, or a name that is not a string, hides which code the loader imports.",
        "Do not load it unless you control every value the name is built from.",
    ),
    Rule(
        "config-remote-code",
        Severity.HIGH,
        "Config loads another model with trust_remote_code",
        "An instantiated from_pretrained (or a kin) with trust_remote_code=True downloads "
        "and runs Python code from another repository, which was not scanned.",
        "Scan the other repository first, or remove trust_remote_code.",
    ),
    Rule(
        "config-include-escape",
        Severity.HIGH,
        "Config includes a file outside the model folder",
        "hyperpyyaml's !include: reads and interprets another YAML file (tags and all); an "
        "absolute path or one that climbs out with '..' reaches files that were not scanned.",
        "Do not load it; included files must ship with the model.",
    ),
    Rule(
        "config-instantiation",
        Severity.INFO,
        "Config makes its loader import names from well-known ML libraries",
        "Listed for the record: the names belong to libraries such as NeMo, PyTorch, "
        "Lightning, transformers or SpeechBrain, whose file writers and loaders are on the "
        "denylist.",
        "No action needed.",
    ),
    Rule(
        "mlflow-loader-module",
        Severity.HIGH,
        "MLflow model names a loader module outside MLflow",
        "mlflow.pyfunc.load_model imports the flavor's loader_module and calls its "
        "_load_pyfunc (the pytorch flavor imports pickle_module_info.txt's module, the "
        "keras flavor keras_module, xgboost, lightgbm and spark call model_class): a module "
        "that is not MLflow's (or the flavor's library) runs whatever it holds.",
        "Load only if you know the module; prefer a model saved with a built-in flavor.",
    ),
    Rule(
        "mlflow-model-code",
        Severity.MEDIUM,
        "Loading this MLflow model runs code shipped with it",
        "The flavor's code directory is put on sys.path and imported from, or its "
        "model_code_path script is run (models from code). The shipped files are analysed "
        "as Python (python-dangerous-call findings).",
        "Read the shipped code before loading.",
    ),
    Rule(
        "pytables-pickle",
        Severity.INFO,
        "HDF5 file holds pickles that PyTables unpickles when it reads them",
        "PyTables (pandas.read_hdf, tables.open_file) unpickles string attributes that end "
        "with '.' and object arrays (PSEUDOATOM object). Each pickle is analysed like any "
        "other; this finding only says where they are.",
        "No action needed unless the pickles are reported themselves.",
    ),
    Rule(
        "archive-path-traversal",
        Severity.HIGH,
        "Archive member name escapes the extraction directory",
        "Names with '..', absolute paths or drive letters write outside the target "
        "directory when the archive is extracted.",
        "Do not extract the archive; report it to the publisher.",
    ),
    Rule(
        "archive-link-escape",
        Severity.HIGH,
        "Archive link member points outside the archive",
        "Extracting a symbolic or hard link whose target leaves the extraction "
        "directory lets later members overwrite arbitrary files.",
        "Do not extract the archive; report it to the publisher.",
    ),
    Rule(
        "archive-bomb",
        Severity.HIGH,
        "Archive expands far beyond its size (decompression bomb)",
        "The expansion ratio or total size exceeds the limits; extracting or loading "
        "it exhausts memory or disk.",
        "Do not extract or load it.",
    ),
    Rule(
        "archive-overlapping-members",
        Severity.HIGH,
        "Zip members overlap",
        "Several central-directory entries point into the same bytes: the "
        "non-recursive zip bomb construction, or an attempt to show scanners and "
        "loaders different data.",
        "Do not extract or load it.",
    ),
    Rule(
        "archive-tampered",
        Severity.HIGH,
        "Archive headers disagree about a member",
        "CRCs, local headers and the central directory disagree, or names repeat. "
        "Strict readers refuse such files while lenient loaders (PyTorch) read them, "
        "a known way to hide a payload from scanners.",
        "Do not load it; obtain an untampered copy from the publisher.",
    ),
    Rule(
        "archive-hidden-data",
        Severity.MEDIUM,
        "Archive holds bytes that no member accounts for",
        "Data outside every member (before the first, between members, before the "
        "central directory) is invisible to listings but can be read by custom loaders.",
        "Obtain a clean copy; the hidden bytes are analysed as a member named <hidden …>.",
    ),
    Rule(
        "archive-encrypted",
        Severity.MEDIUM,
        "Archive member is flagged as encrypted",
        "Encrypted content cannot be inspected without the password. When the flag "
        "is set on plain data (a way to make tools skip a member), the data is "
        "analysed anyway and its findings are reported as well.",
        "Ask for an unencrypted copy, or scan it after decrypting it yourself.",
    ),
    Rule(
        "archive-unsupported",
        Severity.MEDIUM,
        "Archive member uses a compression method openward cannot read",
        "The member's content could not be analysed.",
        "Re-pack the archive with deflate or store, or scan the extracted files.",
    ),
    Rule(
        "archive-malformed",
        Severity.MEDIUM,
        "Archive or compressed stream is malformed or truncated",
        "Its structure could not be read completely; members past the damage were not analysed.",
        "Re-download the file from its publisher.",
    ),
    Rule(
        "polyglot-file",
        Severity.MEDIUM,
        "File is valid as two formats at once",
        "A file that parses both as a pickle (or other format) and as a zip is read "
        "differently by different loaders; scanners that pick one view miss the other.",
        "Obtain a clean copy; both views were analysed.",
    ),
    Rule(
        "scan-limit-reached",
        Severity.HIGH,
        "A scan limit was reached; part of the file was not analysed",
        "openward stops at configured limits (depth, members, bytes, time) rather than "
        "hang or exhaust memory; what lies beyond the limit is unknown.",
        "Inspect the file by other means, or raise the named limit if you trust its size.",
    ),
    Rule(
        "file-unreadable",
        Severity.MEDIUM,
        "File could not be read",
        "Permissions or I/O errors kept openward from reading it, so nothing about it is known.",
        "Fix the permissions or the storage, then scan again.",
    ),
    Rule(
        "file-special",
        Severity.INFO,
        "Not a regular file (FIFO, socket or device); not opened",
        "Opening a FIFO or a device could block or read without end.",
        "Remove it from the model directory.",
    ),
    Rule(
        "symlink-escapes-root",
        Severity.HIGH,
        "Symbolic link points outside the scanned directory; not followed",
        "A loader following it reads a file that is not part of the model, and "
        "that file was not scanned.",
        "Replace the link with the file it should contain.",
    ),
    Rule(
        "symlink-dangling",
        Severity.INFO,
        "Symbolic link points nowhere",
        "The link's target does not exist.",
        "Remove the link or restore its target.",
    ),
    Rule(
        "format-not-analysed",
        Severity.INFO,
        "No reader for this format yet; listed, not analysed",
        "openward recognises the format (or none) but has no rules for it yet; "
        "nothing is claimed about its safety.",
        "Load it only with a loader that does not execute code, or check it by other means.",
    ),
    Rule(
        "scanner-error",
        Severity.HIGH,
        "openward failed while analysing this file",
        "An unexpected error stopped the analysis; the file is not known to be safe.",
        "Report the error to the openward developers with the file if you can share it.",
    ),
)

RULES: Final[dict[str, Rule]] = {r.id: r for r in _ALL}


def rule(rule_id: str) -> Rule:
    return RULES[rule_id]


def rules_markdown() -> str:
    """The catalogue as the Markdown table of ``docs/scan.md``."""
    rows = ["| rule id | severity | what it means | remedy |", "|---|---|---|---|"]
    for r in RULES.values():
        rows.append(f"| `{r.id}` | {r.severity.value} | {r.title}. {r.description} | {r.remedy} |")
    return "\n".join(rows)

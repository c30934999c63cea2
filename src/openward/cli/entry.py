"""The ``openward`` console script: ``sign`` and ``verify`` start hashing first.

Signing or verifying a large model is SHA-256 over every byte, on one thread per
core (:mod:`openward.signing.hashrun`). Everything else the command does (typer and
click, cryptography, the OMS code, some 90 ms of CPU) used to run before the first
byte was read, with one core idle. Here, when the line is ``sign`` or ``verify``
written in the plain forms below, the entry point parses it itself, walks the
model and starts the hashing threads about 5 ms after the interpreter is up
(importing nothing but ``os``, ``hashlib`` and ``threading``), then runs the
command's body (:mod:`openward.cli.signing`) without building the typer
application. Anything else (``--help``, an option this parser does not know, a
repeated single-valued option, ``--``, a missing or second positional argument)
goes to typer, which parses, explains and errs as it always does; so does every
other command.

The option tables below must equal the typer declarations in
:mod:`openward.cli.main`; ``tests/cli/test_entry.py`` checks that, and that this
parser and click agree on every line it accepts.
"""

from __future__ import annotations

import errno
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from openward.signing.hashrun import HashRun

# command -> option name -> (parameter, takes a value, repeatable); flags take no value
# and set the parameter to the bool in FLAGS.
OPTIONS: dict[str, dict[str, tuple[str, bool, bool]]] = {
    "sign": {
        "--key": ("key", True, False),
        "-k": ("key", True, False),
        "--output": ("signature", True, False),
        "-o": ("signature", True, False),
        "--signature": ("signature", True, False),
        "--ignore": ("ignore", True, True),
        "--allow-symlinks": ("allow_symlinks", False, False),
        "--no-allow-symlinks": ("allow_symlinks", False, False),
        "--passphrase-file": ("passphrase_file", True, False),
        "--certificate": ("certificate", True, False),
        "--certificate-chain": ("certificate_chain", True, True),
        "--sigstore": ("sigstore", False, False),
        "--identity-token": ("identity_token", True, False),
    },
    "verify": {
        "--signature": ("signature", True, False),
        "-s": ("signature", True, False),
        "--key": ("key", True, False),
        "-k": ("key", True, False),
        "--policy": ("policy", True, False),
        "--attestation": ("attestation", True, True),
        "-a": ("attestation", True, True),
        "--certificate-chain": ("certificate_chain", True, True),
        "--identity": ("identity", True, False),
        "--issuer": ("issuer", True, False),
        "--sigstore-online": ("sigstore_online", False, False),
        "--no-sigstore-online": ("sigstore_online", False, False),
        "--ignore": ("ignore", True, True),
        "--json": ("json_out", False, False),
    },
}
FLAGS: dict[str, bool] = {
    "--allow-symlinks": True,
    "--no-allow-symlinks": False,
    "--sigstore": True,
    "--sigstore-online": True,
    "--no-sigstore-online": False,
    "--json": True,
}
DEFAULTS: dict[str, dict[str, object]] = {
    "sign": {
        "key": None, "signature": "model.sig", "ignore": None, "allow_symlinks": False,
        "passphrase_file": None, "certificate": None, "certificate_chain": None,
        "sigstore": False, "identity_token": None,
    },
    "verify": {
        "signature": "model.sig", "key": None, "policy": None, "attestation": None,
        "certificate_chain": None, "identity": None, "issuer": None,
        "sigstore_online": False, "ignore": None, "json_out": False,
    },
}  # fmt: skip
PATHS: frozenset[str] = frozenset(
    {"model", "key", "signature", "passphrase_file", "certificate", "certificate_chain",
     "policy", "attestation"}
)  # fmt: skip
"""Parameters typer converts to ``pathlib.Path`` (the rest stay strings or bools)."""


def parse(command: str, args: list[str]) -> dict[str, object] | None:
    """The parameters of ``openward COMMAND ARGS`` as typer would pass them (paths
    still strings), or None when the line is not one of the plain forms this parser
    takes (typer then parses it)."""
    table = OPTIONS.get(command)
    if table is None:
        return None
    params = dict(DEFAULTS[command])
    seen: set[str] = set()
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        name, value = arg, None
        if arg.startswith("--"):
            if "=" in arg:
                name, value = arg.split("=", 1)
        elif len(arg) > 2:  # -kKEY
            name, value = arg[:2], arg[2:]
        spec = table.get(name)
        if spec is None:
            return None  # --help, --, an option unknown here: typer's business
        param, takes_value, repeatable = spec
        if param in seen and not repeatable:
            return None  # click: the last one wins; rare enough to leave to it
        seen.add(param)
        if not takes_value:
            if value is not None:
                return None
            params[param] = FLAGS[name]
            continue
        if value is None:
            if i >= len(args) or args[i].startswith("-"):
                return None
            value = args[i]
            i += 1
        if repeatable:
            listed = params[param]
            params[param] = [*listed, value] if isinstance(listed, list) else [value]
        else:
            params[param] = value
    if len(positional) != 1:
        return None
    params["model"] = positional[0]
    return params


def _start_hashing(command: str, params: dict[str, object]) -> HashRun | None:
    """The model's files walked and their hashing started, as signing (or verifying a
    signature that lists exactly these files) will need them; None when the walk
    refuses the model (the command then says why, as it would anyway)."""
    from openward.signing.hashrun import (
        DEFAULT_IGNORED,
        HashRun,
        ManifestError,
        signature_ignore,
        walk,
    )

    model, signature, extra = str(params["model"]), str(params["signature"]), params["ignore"]
    ignore = [*DEFAULT_IGNORED, *(extra if isinstance(extra, list) else [])]
    follow = command == "sign" and params["allow_symlinks"] is True
    try:
        if not os.path.exists(model):
            return None
        items = walk(model, [*ignore, *signature_ignore(model, signature)], follow)
    except (ManifestError, OSError, ValueError):
        return None  # a link, an unreadable entry: the command says so in its own words
    return HashRun(items) if items else None


def fast(argv: list[str]) -> int | None:
    """Run ``openward sign``/``verify`` from ``argv`` (without the program name) when
    :func:`parse` takes the line: the exit status. None to leave the line to typer."""
    if not argv or argv[0] not in OPTIONS:
        return None
    params = parse(argv[0], argv[1:])
    if params is None:
        return None
    command = argv[0]
    if command == "sign" and (params["sigstore"] or params["key"] is None):
        return None  # keyless signing, or typer's error for the missing key
    if command == "verify" and not (
        params["key"] or params["policy"] or params["certificate_chain"] or params["identity"]
    ):
        return None
    early: HashRun | None = None
    try:
        early = _start_hashing(command, params)
        from pathlib import Path

        from openward.cli import signing

        for name in PATHS & params.keys():
            value = params[name]
            if isinstance(value, list):
                params[name] = [Path(v) for v in value]
            elif isinstance(value, str):
                params[name] = Path(value)
        if command == "sign":
            signing.sign_command(**params, early=early)  # type: ignore[arg-type]
        else:
            signing.verify_command(**params, early=early)  # type: ignore[arg-type]
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        return 130  # typer's standalone mode: exit 130, nothing printed
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        # typer's standalone mode: a reader that went away (`| head`) ends the command
        # with status 1, no traceback, and no second error when the streams are flushed
        # at exit
        _pacify_streams()
        return 1
    finally:
        if early is not None:
            early.cancel()


def _pacify_streams() -> None:
    import contextlib

    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a stream without a descriptor
            os.dup2(devnull, stream.fileno())
    os.close(devnull)


def run() -> None:
    """Console-script entry point (``openward``)."""
    status = fast(sys.argv[1:])
    if status is not None:
        sys.exit(status)
    from openward.cli.main import run as typer_run

    typer_run()

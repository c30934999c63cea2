"""``openward``: parse arguments, call the library, render, exit.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings at or above it;
2 usage or I/O errors.
"""

from __future__ import annotations

import enum
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer

from openward._version import __version__
from openward.cli.signing import hash_progress as _hash_progress
from openward.cli.signing import read_passphrase as _passphrase
from openward.cli.signing import tree_size as _tree_size
from openward.cli.signing import write_output as _write

_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

if TYPE_CHECKING:
    from openward.artifacts.discovery import DiscoveredFile
    from openward.scanning.interface import FileResult, ScanLimits, ScanReport, Severity

# Help and usage errors in click's plain layout: typer's rich layout imports rich's
# Markdown, tables and tracebacks (~80 ms), more than the rest of `--help` together.
app = typer.Typer(
    rich_markup_mode=None,
    name="openward",
    help="Trust infrastructure for open-weight AI models: "
    "check model files before anyone loads them.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_USAGE: Final = 2


class FailOn(enum.StrEnum):
    info = "info"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"
    none = "none"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)


def _parse_size(text: str) -> int:
    m = _SIZE.match(text)
    if not m:
        raise typer.BadParameter(f"{text!r} is not a size (examples: 4096, 512M, 8G)")
    power = "kmgt".find(m.group(2).lower()) + 1 if m.group(2) else 0
    return int(float(m.group(1)) * (1024**power))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"openward {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = None,
) -> None:
    """Trust infrastructure for open-weight AI models."""


def _fail(message: str) -> typer.Exit:
    # messages quote paths, URLs and names users or files supplied: no escape sequences
    typer.echo(f"openward: error: {_CONTROL.sub(chr(0xFFFD), message)}", err=True)
    return typer.Exit(EXIT_USAGE)


@app.command()
def scan(
    path: Annotated[
        str,
        typer.Argument(
            help="Model file or directory (walked recursively; symlinks never followed out of "
            "it), or hf://ORG/NAME[@REV] from the local Hugging Face cache."
        ),
    ],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (schema: `openward schema`).")
    ] = False,
    sarif: Annotated[
        bool, typer.Option("--sarif", help="Print SARIF 2.1.0 for GitHub code scanning.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the report to this file instead of stdout."),
    ] = None,
    fail_on: Annotated[
        FailOn,
        typer.Option(help="Exit 1 when a finding is at or above this severity ('none': never)."),
    ] = FailOn.high,
    show_info: Annotated[
        bool, typer.Option("--show-info", help="List info findings in the text report.")
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="No progress bar; text report only if findings fail."),
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", min=1, help="Worker processes (default: one per core)."),
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow", metavar="MODULE.NAME", help="Vouch for a pickle global (repeatable)."
        ),
    ] = None,
    max_depth: Annotated[int, typer.Option(min=1, help="Deepest container nesting opened.")] = 6,
    max_members: Annotated[
        int, typer.Option(min=1, help="Most members read from one archive.")
    ] = 100_000,
    max_expanded: Annotated[
        str,
        typer.Option("--max-expanded-bytes", help="Most bytes decompressed per file (e.g. 8G)."),
    ] = "8G",
    max_ratio: Annotated[
        int, typer.Option(min=1, help="Highest compression ratio accepted (streams past 64 MiB).")
    ] = 1000,
    max_file_seconds: Annotated[
        float, typer.Option(min=0.001, help="Wall time allowed per file.")
    ] = 120.0,
    max_pickle_opcodes: Annotated[
        int, typer.Option(min=1, help="Most opcodes analysed per pickle stream.")
    ] = 50_000_000,
    max_read: Annotated[
        str, typer.Option("--max-read-bytes", help="Most bytes examined per file (e.g. 16G).")
    ] = "16G",
    max_config: Annotated[
        str,
        typer.Option("--max-config-bytes", help="Largest JSON config parsed (e.g. 64M)."),
    ] = "64M",
    max_source: Annotated[
        str,
        typer.Option(
            "--max-source-bytes", help="Largest chat template or Python file parsed (e.g. 4M)."
        ),
    ] = "4M",
) -> None:
    """Check model files for code-execution payloads *before* anything loads them.

    Formats are detected by content, never by extension. Pickles (bare, in
    PyTorch checkpoints, joblib, NumPy object arrays, inside zip/tar/gz/bz2/xz/7z)
    are analysed opcode by opcode against an allowlist: known code-execution
    primitives are critical, anything else not on the allowlist is
    high. Archive tricks (path traversal, bombs, tampered headers) are
    reported too. Nothing is ever loaded or executed.

    Exit status: 0 nothing at or above --fail-on, 1 findings at or above it,
    2 usage or I/O error.
    """
    from openward.errors import OpenwardError
    from openward.scanning.engine import scan_path
    from openward.scanning.interface import ScanLimits, Severity

    if json_out and sarif:
        raise _fail("--json and --sarif cannot be combined")
    try:
        limits = ScanLimits(
            max_depth=max_depth,
            max_members=max_members,
            max_expanded_bytes=_parse_size(max_expanded),
            max_ratio=max_ratio,
            max_file_seconds=max_file_seconds,
            max_pickle_opcodes=max_pickle_opcodes,
            max_read_bytes=_parse_size(max_read),
            max_config_bytes=_parse_size(max_config),
            max_source_bytes=_parse_size(max_source),
        )
    except (OpenwardError, typer.BadParameter) as exc:
        raise _fail(str(exc)) from None
    threshold = None if fail_on is FailOn.none else Severity(fail_on.value)
    show_progress = not quiet and sys.stderr.isatty() and not os.environ.get("CI")
    try:
        if show_progress:
            report = _scan_with_progress(path, limits, allow or (), jobs)
        else:
            report = scan_path(path, limits=limits, allow=allow or (), jobs=jobs)
    except OpenwardError as exc:
        raise _fail(str(exc)) from None
    try:
        _emit(report, json_out, sarif, output, threshold, show_info, quiet)
    except OSError as exc:
        raise _fail(f"cannot write {output}: {exc.strerror}") from None
    raise typer.Exit(report.exit_code(threshold))


def _emit(
    report: ScanReport,
    json_out: bool,
    sarif: bool,
    output: Path | None,
    threshold: Severity | None,
    show_info: bool,
    quiet: bool,
) -> None:
    if json_out or sarif:
        if json_out:
            from openward.report.json import render_json

            text = render_json(report)
        else:
            from openward.report.sarif import render_sarif

            text = render_sarif(report)
        if output is not None:
            output.write_text(text + "\n", encoding="utf-8")
        else:
            sys.stdout.write(text + "\n")
        return
    if quiet and not report.exit_code(threshold):
        return
    from rich.console import Console

    from openward.report.text import print_report

    if output is not None:
        with output.open("w", encoding="utf-8") as fh:
            print_report(
                report,
                Console(file=fh, width=120, no_color=True),
                fail_on=threshold,
                show_info=show_info,
            )
    else:
        print_report(report, Console(), fail_on=threshold, show_info=show_info)


def _scan_with_progress(
    path: str, limits: ScanLimits, allow: Sequence[str], jobs: int | None
) -> ScanReport:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from openward.scanning.engine import scan_path

    # auto_refresh off: no refresh thread, so worker processes can be forked safely.
    progress = Progress(
        TextColumn("[bold]scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
        transient=True,
        auto_refresh=False,
    )
    task = progress.add_task("", total=None)

    def discovered(n: int) -> None:
        progress.update(task, total=n)
        progress.refresh()

    def advance(entry: DiscoveredFile, result: FileResult) -> None:
        progress.update(task, advance=1, description=entry.relpath[-60:])
        progress.refresh()

    with progress:
        return scan_path(
            path, limits=limits, allow=allow, jobs=jobs, progress=advance, on_discovered=discovered
        )


@app.command()
def rules(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the rules as JSON.")] = False,
) -> None:
    """List every rule a scan can report, with its severity and remedy."""
    from openward.scanning.rules import RULES, rules_markdown

    if markdown:
        typer.echo(rules_markdown())
        return
    if json_out:
        import json

        doc = [
            {"rule_id": r.id, "severity": r.severity.value, "title": r.title,
             "description": r.description, "remedy": r.remedy}
            for r in RULES.values()
        ]  # fmt: skip
        typer.echo(json.dumps(doc, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    for column in ("rule id", "severity", "what it means"):
        table.add_column(column)
    for r in RULES.values():
        table.add_row(r.id, r.severity.value, r.title)
    Console().print(table)


class SchemaFor(enum.StrEnum):
    scan = "scan"
    inspect = "inspect"


@app.command()
def schema(
    report: Annotated[
        SchemaFor, typer.Argument(help="Which command's --json output: scan or inspect.")
    ] = SchemaFor.scan,
) -> None:
    """Print the JSON Schema of `openward scan --json` (default) or `openward inspect --json`."""
    import json

    if report is SchemaFor.inspect:
        from openward.report.facts_json import facts_schema

        typer.echo(json.dumps(facts_schema(), indent=2))
        return
    from openward.report.json import scan_report_schema

    typer.echo(json.dumps(scan_report_schema(), indent=2))


@app.command()
def inspect(
    path: Annotated[
        str,
        typer.Argument(
            help="Model directory, weight file, Hugging Face cache snapshot, hf://ORG/NAME[@REV] "
            "from the local cache, or ORG/NAME with --remote."
        ),
    ],
    json_out: Annotated[
        bool,
        typer.Option("--json", help="Print the facts as JSON (schema: `openward schema inspect`)."),
    ] = False,
    bom: Annotated[
        str | None,
        typer.Option(
            "--bom",
            metavar="FORMAT",
            help="Write an AI bill of materials: 'cyclonedx' (1.6 ML-BOM).",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    tokens: Annotated[
        str | None,
        typer.Option(
            help="Training tokens behind the weights (e.g. 15T, 2e12); overrides the model card."
        ),
    ] = None,
    policy: Annotated[
        Path | None, typer.Option(help="Compute policy YAML (default: the shipped policy).")
    ] = None,
    accelerator: Annotated[
        str | None,
        typer.Option(help="Hardware method: accelerator type (h100, a100, tpu-v5p, ...)."),
    ] = None,
    accelerators: Annotated[
        int | None, typer.Option(min=1, help="Hardware method: number of accelerators.")
    ] = None,
    hours: Annotated[
        float | None, typer.Option(min=0.0, help="Hardware method: wall-clock training hours.")
    ] = None,
    utilization: Annotated[
        float | None,
        typer.Option(help="Hardware method: model FLOP utilization (default 0.3-0.5)."),
    ] = None,
    remote: Annotated[
        bool,
        typer.Option(
            "--remote",
            help="PATH is a Hub repository (ORG/NAME[@REV]): read only its configs and the headers "
            "of its safetensors files over HTTP range requests (HF_ENDPOINT is honoured).",
        ),
    ] = False,
    fail_on_tier: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-on-tier",
            metavar="ID",
            help="Exit 1 when this threshold is crossed ('any': any of them; repeatable).",
        ),
    ] = None,
) -> None:
    """What a model is, from headers alone: parameters, architecture, training compute,
    the regulatory thresholds it crosses, and an AI bill of materials.

    Weights are never loaded: parameter counts come from safetensors/GGUF/ONNX/
    NumPy headers and a symbolic read of PyTorch pickles. Training compute is
    6 x active parameters x tokens (tokens from --tokens or the model card) and/or
    accelerators x hours x peak x utilization, always with its range and sources.

    Exit status: 0 done, 1 a --fail-on-tier threshold is crossed, 2 usage or I/O error.
    """
    from openward.errors import OpenwardError
    from openward.facts.policy import PolicyError, load_policy

    if json_out and bom:
        raise _fail("--json and --bom cannot be combined")
    if bom is not None and bom.lower() != "cyclonedx":
        raise _fail(f"unknown BOM format {bom!r}; supported: cyclonedx")
    try:
        token_count = _parse_count(tokens) if tokens is not None else None
    except typer.BadParameter as exc:
        raise _fail(str(exc)) from None
    try:
        pol = load_policy(policy)
    except PolicyError as exc:
        raise _fail(str(exc)) from None
    try:
        if remote:
            from openward.facts.remote import inspect_remote

            facts = inspect_remote(
                path, tokens=token_count, policy=pol, accelerator=accelerator,
                accelerators=accelerators, hours=hours, utilization=utilization,
            )  # fmt: skip
        else:
            from openward.facts.model import inspect_model

            facts = inspect_model(
                path, tokens=token_count, policy=pol, accelerator=accelerator,
                accelerators=accelerators, hours=hours, utilization=utilization,
            )  # fmt: skip
    except (OpenwardError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    try:
        if bom is not None:
            if remote:
                raise _fail("--bom needs the files themselves (their hashes); not with --remote")
            text = _bom_text(facts)
            _write(text, output)
        elif json_out:
            from openward.report.facts_json import render_facts_json

            _write(render_facts_json(facts), output)
        else:
            from rich.console import Console

            from openward.report.facts_text import render_facts_text

            if output is not None:
                with output.open("w", encoding="utf-8") as fh:
                    render_facts_text(facts, Console(file=fh, width=120, no_color=True))
            else:
                render_facts_text(facts, Console())
    except OSError as exc:
        raise _fail(f"cannot write {output}: {exc.strerror}") from None
    wanted = set(fail_on_tier or ())
    crossed = {t.id for t in facts.tiers if t.crossed}
    unknown = wanted - {t.id for t in facts.tiers} - {"any"}
    if unknown:
        raise _fail(f"--fail-on-tier: no threshold {sorted(unknown)} in the policy")
    if crossed and ("any" in wanted or crossed & wanted):
        raise typer.Exit(1)


_COUNT = re.compile(r"^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmbt]?)\s*$", re.IGNORECASE)


def _parse_count(text: str) -> float:
    m = _COUNT.match(text)
    if not m:
        raise typer.BadParameter(f"--tokens: {text!r} is not a count (examples: 15T, 300B, 2e12)")
    value = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}[m.group(2).lower()]
    if value <= 0:
        raise typer.BadParameter("--tokens must be positive")
    return value


def _bom_text(facts: object) -> str:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from openward.artifacts.discovery import discover_artifacts
    from openward.facts.model import ModelFacts
    from openward.report.cyclonedx import cyclonedx_bom, hash_files

    assert isinstance(facts, ModelFacts)
    paths = {e.relpath: e.path for e in discover_artifacts(facts.target) if e.kind == "file"}
    total = sum(p.stat().st_size for p in paths.values())
    show = sys.stderr.isatty() and not os.environ.get("CI")
    progress = Progress(
        TextColumn("[bold]hashing"), BarColumn(), DownloadColumn(), console=Console(stderr=True),
        transient=True, disable=not show,
    )  # fmt: skip
    task = progress.add_task("", total=total)
    with progress:
        digests = hash_files(paths, done=lambda rel, size: progress.update(task, advance=size))
    return cyclonedx_bom(facts, digests)


class KeyKind(enum.StrEnum):
    ecdsa_p256 = "ecdsa-p256"
    ecdsa_p384 = "ecdsa-p384"
    ed25519 = "ed25519"


@app.command()
def keygen(
    private_key: Annotated[
        Path, typer.Option("--out", "-o", help="Private key file to write (PEM, mode 0600).")
    ] = Path("openward.key"),
    public_key: Annotated[
        Path | None, typer.Option("--pub", help="Public key file (default: OUT with .pub).")
    ] = None,
    kind: Annotated[
        KeyKind,
        typer.Option(
            "--type",
            help="ecdsa-p256 (default; every OMS verifier), "
            "ecdsa-p384, or ed25519 (model-signing cannot verify it).",
        ),
    ] = KeyKind.ecdsa_p256,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(
            help="Encrypt the private key with the passphrase in this file "
            "(or set OPENWARD_KEY_PASSPHRASE)."
        ),
    ] = None,
) -> None:
    """Create a signing key pair (PEM; the private key is never world-readable)."""
    from openward.errors import OpenwardError
    from openward.signing.keys import generate_key, write_key_pair

    pub = public_key or private_key.with_name(private_key.name + ".pub")
    try:
        write_key_pair(generate_key(kind.value), private_key, pub, _passphrase(passphrase_file))
    except (OpenwardError, OSError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"wrote {private_key} (private, 0600) and {pub} (public)")


@app.command()
def sign(
    model: Annotated[Path, typer.Argument(help="Model directory (or a single file) to sign.")],
    key: Annotated[Path | None, typer.Option("--key", "-k", help="Private key (PEM).")] = None,
    signature: Annotated[
        Path, typer.Option("--output", "-o", "--signature", help="Signature bundle to write.")
    ] = Path("model.sig"),
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore",
            metavar="PATH",
            help="Leave this path (relative to the model) "
            "out of the signature; repeatable. .git and friends always are.",
        ),
    ] = None,
    allow_symlinks: Annotated[
        bool, typer.Option(help="Follow symbolic links that stay inside the model.")
    ] = False,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(help="Passphrase of an encrypted key (or OPENWARD_KEY_PASSPHRASE)."),
    ] = None,
    certificate: Annotated[
        Path | None,
        typer.Option(help="Certificate method: the PEM certificate of --key's public key."),
    ] = None,
    certificate_chain: Annotated[
        list[Path] | None,
        typer.Option(
            help="Certificate method: intermediate (and root) certificates, PEM; repeatable."
        ),
    ] = None,
    sigstore: Annotated[
        bool,
        typer.Option(
            "--sigstore",
            help="Sigstore keyless: a short-lived certificate for your "
            "OIDC identity, logged in Rekor (needs a network and openward[sigstore]).",
        ),
    ] = False,
    identity_token: Annotated[
        str | None,
        typer.Option(
            help="--sigstore: an OIDC identity token (default: ambient CI "
            "credentials, else a browser flow)."
        ),
    ] = None,
) -> None:
    """Sign every file of a model: an OpenSSF Model Signing bundle (Sigstore bundle,
    DSSE envelope, in-toto statement listing each file's SHA-256).

    The bundle verifies with `openward verify` and with model-signing's
    `model_signing verify key`. Exit status: 0 signed, 2 error.
    """
    from openward.cli.signing import sign_command

    sign_command(model, key, signature, ignore, allow_symlinks, passphrase_file, certificate,
                 certificate_chain, sigstore, identity_token)  # fmt: skip


@app.command()
def verify(
    model: Annotated[Path, typer.Argument(help="Model directory (or file) to check.")],
    signature: Annotated[Path, typer.Option("--signature", "-s", help="Signature bundle.")] = Path(
        "model.sig"
    ),
    key: Annotated[
        Path | None, typer.Option("--key", "-k", help="Public key (PEM) of the signer.")
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            help="Verification policy (YAML): allowed signer keys and the "
            "attestations required; see docs/signing.md."
        ),
    ] = None,
    attestation: Annotated[
        list[Path] | None,
        typer.Option(
            "--attestation",
            "-a",
            help="An attestation bundle to check against --policy; repeatable.",
        ),
    ] = None,
    certificate_chain: Annotated[
        list[Path] | None,
        typer.Option(
            help="Certificate method: trusted root (and intermediate) certificates, "
            "PEM; repeatable."
        ),
    ] = None,
    identity: Annotated[
        str | None,
        typer.Option(help="Sigstore keyless: the signer's identity (e-mail or workload URI)."),
    ] = None,
    issuer: Annotated[
        str | None, typer.Option(help="Sigstore keyless: the OIDC issuer of that identity.")
    ] = None,
    sigstore_online: Annotated[
        bool,
        typer.Option(
            help="Sigstore keyless: refresh the trust root over TUF (default: the "
            "root embedded in sigstore-python, offline)."
        ),
    ] = False,
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", metavar="PATH", help="Also leave this path out; repeatable."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check a model against its signature: who signed it, and that every file is
    exactly what was signed. Each difference is named: changed, missing, added,
    a link out of the model, a signature by another key. With --policy, also the
    attestations the policy requires (signers, age, findings, compute claim).

    Exit status: 0 verified, 1 verification or policy failed, 2 usage or I/O error.
    """
    from openward.cli.signing import verify_command

    verify_command(model, signature, key, policy, attestation, certificate_chain, identity,
                   issuer, sigstore_online, ignore, json_out)  # fmt: skip


class AttestKind(enum.StrEnum):
    scan = "scan"
    facts = "facts"
    audit = "audit"


@app.command()
def attest(
    kind: Annotated[
        AttestKind,
        typer.Argument(
            help="scan (the scan report), facts (inspect's facts and compute estimate) or "
            "audit (an `openward audit --json` report, given with --report)."
        ),
    ],
    model: Annotated[Path, typer.Argument(help="Model directory (or file).")],
    key: Annotated[Path, typer.Option("--key", "-k", help="Private key (PEM) of the attester.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Attestation file (default: MODEL_NAME.KIND.att.json here)."
        ),
    ] = None,
    tokens: Annotated[
        str | None, typer.Option(help="facts: training tokens behind the weights (e.g. 15T).")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="audit: the audit report (`openward audit --json`).")
    ] = None,
    auditor: Annotated[
        str | None, typer.Option(help="audit: the auditor's name, recorded beside the key.")
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(help="Passphrase of an encrypted key (or OPENWARD_KEY_PASSPHRASE)."),
    ] = None,
) -> None:
    """Sign a claim about exactly these bytes: the scan report, the facts (parameters,
    compute, tiers) or a safety audit, as an in-toto statement whose subject is the
    model digest.

    Predicate types: https://openward.dev/attestation/scan/v1, .../facts/v1, .../audit/v1.
    Check them with `openward verify MODEL --policy POLICY --attestation FILE`.
    Exit status: 0 written, 2 error.
    """
    from openward.errors import OpenwardError
    from openward.signing.attest import attest as make_attestation
    from openward.signing.attest import attest_audit, validate_audit_report
    from openward.signing.keys import load_private_key
    from openward.signing.manifest import build_manifest

    target = output or Path(f"{model.resolve().name}.{kind.value}.att.json")
    if kind is AttestKind.audit and report is None:
        raise _fail("attest audit: give the audit report with --report audit.json")
    try:
        audit_doc = None
        if report is not None:
            try:
                audit_doc = json.loads(report.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
                raise OpenwardError(f"{report}: not a JSON audit report ({exc})") from None
            validate_audit_report(audit_doc, str(report))  # before hashing the model
        private = load_private_key(key, _passphrase(passphrase_file))
        ignore: list[str] = []
        if target.resolve().is_relative_to(model.resolve()):
            ignore = [target.resolve().relative_to(model.resolve()).as_posix()]
        manifest = build_manifest(model, ignore_paths=ignore)
        if kind is AttestKind.audit:
            assert isinstance(audit_doc, dict)  # validated above
            bundle = attest_audit(model, private, audit_doc, auditor=auditor, manifest=manifest)
        elif kind is AttestKind.scan:
            from openward.report.json import report_document
            from openward.scanning.engine import scan_path

            predicate = report_document(scan_path(model))
            bundle = make_attestation(model, private, kind.value, predicate, manifest=manifest)
        else:
            from openward.facts.model import inspect_model
            from openward.report.facts_json import facts_document

            count = _parse_count(tokens) if tokens is not None else None
            predicate = facts_document(inspect_model(model, tokens=count))
            bundle = make_attestation(model, private, kind.value, predicate, manifest=manifest)
        _write(json.dumps(bundle, indent=2), target)
    except (OpenwardError, OSError, typer.BadParameter) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"attested {kind.value} of {model} (digest {manifest.digest[:16]}…) -> {target}",
               err=True)  # fmt: skip


@app.command()
def serve(
    data: Annotated[Path, typer.Option(help="Data directory: database and blobs.")] = Path(
        "openward-data"
    ),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port).")] = 8080,
    fail_on: Annotated[
        FailOn, typer.Option(help="Quarantine versions with a finding at or above this.")
    ] = FailOn.high,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the first admin token as JSON.")
    ] = False,
    policy: Annotated[
        Path | None,
        typer.Option(
            help="Compute policy YAML: thresholds, access tiers, registration and "
            "audit duties (or OPENWARD_POLICY; default: the shipped policy)."
        ),
    ] = None,
) -> None:
    """Run the model registry: every upload is scanned and inspected before anyone can
    download it. Embedded by default (SQLite and blobs under --data);
    OPENWARD_DATABASE_URL selects another database (PostgreSQL).

    On first start it creates the first admin and prints its token once.
    """
    try:
        import uvicorn

        from openward.registry.app import create_app
    except ImportError:
        raise _fail("the registry needs its extra: pip install 'openward[registry]'") from None
    from openward.facts.policy import PolicyError
    from openward.registry.config import settings_from_env

    settings = settings_from_env(
        data=data.resolve(), fail_on=fail_on.value if fail_on is not FailOn.none else "critical",
        policy=policy.resolve() if policy is not None else None,
    )  # fmt: skip
    from openward.registry.marks import MarkSecretError

    try:
        application = create_app(settings)
    except PolicyError as exc:
        raise _fail(str(exc)) from None
    except MarkSecretError as exc:
        raise _fail(exc.message) from None
    token = application.state.registry.bootstrap_admin()
    if token is not None:
        if json_out:
            typer.echo(json.dumps({"admin_token": token}))
        else:
            typer.echo(f"first admin token (shown once, keep it): {token}")
    sys.stdout.flush()
    uvicorn.run(application, host=host, port=port, log_level="warning")


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Checks run at once.")] = 2,
    queue: Annotated[
        str | None,
        typer.Option(help="Queue to consume (default OPENWARD_QUEUE or openward-checks)."),
    ] = None,
) -> None:
    """Run registry checks from the broker (OPENWARD_BROKER_URL), against the database
    (OPENWARD_DATABASE_URL) and object store (OPENWARD_BLOB_URL) the API servers use.
    Start as many as the upload rate needs, on any machines."""
    if not os.environ.get("OPENWARD_BROKER_URL"):
        raise _fail("set OPENWARD_BROKER_URL (e.g. redis://127.0.0.1:6379/0) for the worker")
    try:
        from openward.registry.tasks import celery_app
    except ImportError:
        raise _fail("the worker needs: pip install 'openward[registry,scale]'") from None
    name = queue or os.environ.get("OPENWARD_QUEUE", "openward-checks")
    celery_app.worker_main(
        ["worker", "-Q", name, "-c", str(concurrency), "--loglevel", "WARNING", "-P", "prefork"]
    )


def _client(registry: str | None, token: str | None) -> object:
    try:
        from openward.registry.client import Client
    except ImportError:
        raise _fail("the registry client needs: pip install 'openward[registry]'") from None
    from openward.errors import OpenwardError

    try:
        return Client(registry, token)
    except OpenwardError as exc:
        raise _fail(str(exc)) from None


@app.command()
def push(
    directory: Annotated[Path, typer.Argument(help="Model directory to upload.")],
    ref: Annotated[
        str, typer.Argument(help="ORG/NAME[:VERSION] (default version: digest prefix).")
    ],
    registry: Annotated[
        str | None, typer.Option(help="Registry URL (or OPENWARD_REGISTRY).")
    ] = None,
    token: Annotated[str | None, typer.Option(help="API token (or OPENWARD_TOKEN).")] = None,
    signature: Annotated[Path | None, typer.Option(help="OMS signature to store with it.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Upload a model version: only the files the registry lacks are sent; the version
    becomes visible once its checks pass. Exit 0 published, 1 quarantined or held,
    2 error."""
    from openward.errors import OpenwardError

    client = _client(registry, token)
    try:
        progress, advance = _hash_progress(_tree_size(directory) if directory.exists() else 0)
        progress.columns[0].text_format = "[bold]uploading"  # type: ignore[attr-defined]
        with progress:  # type: ignore[attr-defined]
            result = client.push(  # type: ignore[attr-defined]
                directory, ref, signature=signature, progress=advance
            )
    except (OpenwardError, OSError) as exc:
        raise _fail(str(exc)) from None
    if json_out:
        typer.echo(json.dumps(result, indent=2))
    else:
        typer.echo(
            f"{result['name']}:{result['version']} {result['status']} "
            f"({result['files']} files, {result['uploaded_bytes']} bytes uploaded)"
        )
        for reason in result["reasons"]:
            typer.echo(f"  {reason}")
    raise typer.Exit(0 if result["status"] == "published" else 1)


@app.command()
def pull(
    ref: Annotated[str, typer.Argument(help="ORG/NAME[:VERSION] (default: latest).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write.")] = Path("."),
    registry: Annotated[
        str | None, typer.Option(help="Registry URL (or OPENWARD_REGISTRY).")
    ] = None,
    token: Annotated[str | None, typer.Option(help="API token (or OPENWARD_TOKEN).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Download a published model version, verifying every file's SHA-256; interrupted
    downloads resume. Exit 0 done, 1 refused (quarantined or held), 2 error."""
    from openward.errors import OpenwardError
    from openward.registry.client import ClientError

    client = _client(registry, token)
    try:
        progress, advance = _hash_progress(0)
        progress.columns[0].text_format = "[bold]downloading"  # type: ignore[attr-defined]
        with progress:  # type: ignore[attr-defined]
            result = client.pull(ref, output, progress=advance)  # type: ignore[attr-defined]
    except ClientError as exc:
        typer.echo(f"openward: {exc}", err=True)
        raise typer.Exit(1 if exc.status in (401, 403, 451) else 2) from None
    except (OpenwardError, OSError) as exc:
        raise _fail(str(exc)) from None
    withheld = (result.get("recipient") or {}).get("withheld") or []
    if withheld:
        typer.echo(
            f"openward: {len(withheld)} weight file(s) withheld (this model's recipients "
            f"receive its marked safetensors files only): {', '.join(withheld)}",
            err=True,
        )
    if json_out:
        typer.echo(json.dumps(result, indent=2))
    else:
        typer.echo(
            f"pulled {result['name']}:{result['version']} ({result['files']} files, "
            f"verified) into {result['path']}"
        )


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Text in ORG/NAME (empty: everything).")] = "",
    architecture: Annotated[str | None, typer.Option(help="Family, e.g. llama.")] = None,
    license_: Annotated[str | None, typer.Option("--license", help="Card license id.")] = None,
    tier: Annotated[str | None, typer.Option(help="A crossed compute threshold id.")] = None,
    min_parameters: Annotated[
        int | None, typer.Option(help="At least this many parameters.")
    ] = None,
    max_parameters: Annotated[
        int | None, typer.Option(help="At most this many parameters.")
    ] = None,
    status: Annotated[str | None, typer.Option(help="published, quarantined, …")] = None,
    limit: Annotated[int, typer.Option(help="At most this many results.")] = 100,
    offset: Annotated[int, typer.Option(help="Skip this many (the next page).")] = 0,
    registry: Annotated[
        str | None, typer.Option(help="Registry URL (or OPENWARD_REGISTRY).")
    ] = None,
    token: Annotated[str | None, typer.Option(help="API token (or OPENWARD_TOKEN).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Find model versions in a registry."""
    from urllib.parse import urlencode

    params = {k: v for k, v in {
        "q": query, "architecture": architecture, "license": license_, "tier": tier,
        "min_parameters": min_parameters, "max_parameters": max_parameters, "status": status,
        "limit": limit, "offset": offset,
    }.items() if v not in (None, "")}  # fmt: skip
    result = _admin_call("GET", "/api/v1/models?" + urlencode(params), registry, token)
    rows = result["results"]
    assert isinstance(rows, list)
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        typer.echo(
            f"{r['name']}:{r['version']}  {r['status']:18} {r.get('architecture') or '-':10} "
            f"{r.get('parameters') or '-'} params  {r.get('license') or ''}"
        )
    if not rows:
        typer.echo("no matching versions")
    if result.get("next_offset") is not None:
        typer.echo(f"… more: --offset {result['next_offset']}")


registry_app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="Administer a registry: set-up, users, tokens, keys, rescans.",
)
app.add_typer(registry_app, name="registry")
token_app = typer.Typer(rich_markup_mode=None, help="API tokens.", no_args_is_help=True)
registry_app.add_typer(token_app, name="token")


def _admin_call(method: str, path: str, registry: str | None, token: str | None,
                body: dict[str, object] | None = None) -> dict[str, object]:  # fmt: skip
    import httpx

    url = (registry or os.environ.get("OPENWARD_REGISTRY") or "").rstrip("/")
    token = token or os.environ.get("OPENWARD_TOKEN")
    if not url:
        raise _fail("no registry: give --registry URL or set OPENWARD_REGISTRY")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        r = httpx.request(method, url + path, json=body, headers=headers, timeout=60)
    except httpx.TransportError as exc:
        raise _fail(f"cannot reach the registry at {url}: {exc}") from None
    if r.status_code >= 400:
        raise _fail(f"{r.status_code}: {r.json().get('detail', r.text)}")
    result: dict[str, object] = r.json()
    return result


@token_app.command("create")
def token_create(
    name: Annotated[str | None, typer.Argument(help="User name (created if new).")] = None,
    user: Annotated[str | None, typer.Option("--user", help="User name (or the argument).")] = None,
    organisation: Annotated[
        str | None, typer.Option("--org", help="Organisation the role applies to.")
    ] = None,
    role: Annotated[
        str,
        typer.Option(
            help="The token's scope: reader, reviewer, publisher or admin (at most "
            "the user's roles; a new user is created with this role)."
        ),
    ] = "publisher",
    registry: Annotated[
        str | None, typer.Option(help="Registry URL (or OPENWARD_REGISTRY).")
    ] = None,
    token: Annotated[str | None, typer.Option(help="An admin token (or OPENWARD_TOKEN).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create a user's API token (admin only), scoped to --role. A user who does not
    exist yet is created with that role (in --org); an existing user's roles never
    change here (see `registry user set-role`), and a scope above them is refused.
    The token is shown once; the registry stores only its hash."""
    user = user or name
    if not user:
        raise _fail("name the user: --user NAME")
    result = _admin_call("POST", "/api/v1/tokens", registry, token,
                         {"name": user, "organisation": organisation, "role": role})  # fmt: skip
    typer.echo(json.dumps(result) if json_out else f"token for {user}: {result['token']}")


key_app = typer.Typer(
    rich_markup_mode=None, help="Signing keys registered with the registry.", no_args_is_help=True
)
registry_app.add_typer(key_app, name="key")


@key_app.command("add")
def key_add(
    key: Annotated[
        Path,
        typer.Argument(
            help="Your private key (PEM): it signs the registry's challenge here "
            "and is never sent. Or a public key with --challenge and --signature."
        ),
    ],
    challenge: Annotated[
        str | None, typer.Option(help="A challenge from `registry key challenge` you signed.")
    ] = None,
    signature: Annotated[
        str | None,
        typer.Option(help="Base64 signature of the challenge's message (with a public key)."),
    ] = None,
    passphrase_file: Annotated[
        Path | None, typer.Option(help="File holding the private key's passphrase.")
    ] = None,
    registry: Annotated[
        str | None, typer.Option(help="Registry URL (or OPENWARD_REGISTRY).")
    ] = None,
    token: Annotated[str | None, typer.Option(help="Your API token (or OPENWARD_TOKEN).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Register your signing key (publishers and admins): signatures you push
    (--signature) are checked against it, and a version whose signature fails is
    quarantined. The registry asks for proof that you hold the private key: given the
    private key, this signs its challenge for you."""
    from openward.errors import OpenwardError
    from openward.registry.client import ClientError

    try:
        text = key.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read {key}: {getattr(exc, 'strerror', None) or exc}") from None
    public = "PUBLIC KEY-----" in text and "PRIVATE KEY-----" not in text
    client = _client(registry, token)
    try:
        if public:
            if not (challenge and signature):
                raise _fail(
                    f"{key} is a public key: the registry needs proof that you hold its "
                    "private key. Give the private key instead (it signs the registry's "
                    "challenge on this machine and is never sent), or sign a challenge "
                    "from `openward registry key challenge` elsewhere and pass --challenge "
                    "and --signature"
                )
            hint = client.add_public_key(text, challenge, signature)  # type: ignore[attr-defined]
        else:
            from openward.signing.keys import load_private_key

            private = load_private_key(key, _passphrase(passphrase_file))
            hint = client.add_key(private)  # type: ignore[attr-defined]
    except ClientError as exc:
        raise _fail(str(exc)) from None
    except OpenwardError as exc:
        raise _fail(str(exc)) from None
    typer.echo(json.dumps({"hint": hint}) if json_out else f"registered key {hint}")


@registry_app.command("rescan")
def registry_rescan(
    registry: Annotated[
        str | None, typer.Option(help="Registry URL (or OPENWARD_REGISTRY).")
    ] = None,
    token: Annotated[str | None, typer.Option(help="An admin token (or OPENWARD_TOKEN).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Re-run the checks on every decided version (after the rules changed). Versions
    keep their status, and stay downloadable if published, until their new verdict:
    a version that now fails is quarantined then, with the new reason."""
    result = _admin_call("POST", "/api/v1/admin/rescan", registry, token)
    typer.echo(json.dumps(result) if json_out else f"{result['queued']} versions queued "
               "for a recheck (each keeps its status until its new verdict)")  # fmt: skip


from openward.cli import accounts as _accounts  # noqa: E402, F401  (registers commands)
from openward.cli import audit as _audit  # noqa: E402, F401  (registers commands)
from openward.cli import governance as _governance  # noqa: E402, F401  (registers commands)
from openward.cli import guard as _guard  # noqa: E402, F401  (registers commands)
from openward.cli import lineage as _lineage  # noqa: E402, F401  (registers commands)
from openward.cli import trace as _trace  # noqa: E402, F401  (registers commands)
from openward.cli import watermark as _watermark  # noqa: E402, F401  (registers commands)


def _command_name(info: typer.models.CommandInfo | typer.models.TyperInfo) -> str | None:
    if info.name:
        return str(info.name)
    callback = info.callback if isinstance(info, typer.models.CommandInfo) else None
    return callback.__name__.lower().replace("_", "-") if callback is not None else None


def run() -> None:
    """Console-script entry point.

    Typer turns every registered command into a click command (reading each one's
    signature and annotations) before it parses the line: some 60 ms for the whole
    CLI. When the line names a top-level command or group, only that one is built;
    the help, the parsing and the errors are the same, the other commands are not
    there to be reached from that line anyway.
    """
    first = sys.argv[1] if len(sys.argv) > 1 else ""
    if not first or first.startswith("-"):
        app()
        return
    commands = [c for c in app.registered_commands if _command_name(c) == first]
    groups = [g for g in app.registered_groups if _command_name(g) == first]
    if not commands and not groups:
        app()  # an unknown name: click's error, with its suggestions from every command
        return
    saved = app.registered_commands, app.registered_groups
    app.registered_commands, app.registered_groups = commands, groups
    try:
        app()
    finally:
        app.registered_commands, app.registered_groups = saved

"""``openward audit``: behavioural safety audits of a model.

Forms (contracts, driven by scripts exactly as written):

- ``openward audit TARGET [options]``                run suites against a local folder or hf://
- ``openward audit --endpoint URL --model NAME ...``  the same against an OpenAI-compatible server
- ``openward audit --list-suites``
- ``openward audit judge FILE.jsonl [--json]``        judge completions offline

``audit`` is a group whose default command is ``run``: anything that is not a subcommand's
name is handed to ``run`` (so ``audit judge`` is the judge, ``audit ./model`` an audit).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer._click import Context  # typer vendors click; its Context is the one passed
from typer.core import TyperGroup

from openward.cli.main import _fail, app

if TYPE_CHECKING:
    from openward.audit.interface import Judge


class _DefaultRunGroup(TyperGroup):
    """A group that runs ``run`` when the first argument is not a subcommand."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        if not args:
            args = ["run"]
        elif args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


audit_app = typer.Typer(
    rich_markup_mode=None,
    cls=_DefaultRunGroup,
    help="Safety audits and red teaming of a model (needs the 'audit' extra).",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(audit_app, name="audit")


EXIT_REGRESSED = 1


def _judge(name: str, endpoint: str | None, model: str | None) -> Judge:
    """The judge ``--judge NAME`` names; ``llm`` takes its endpoint and model from the options
    or ``OPENWARD_JUDGE_ENDPOINT``/``OPENWARD_JUDGE_MODEL``, its key from
    ``OPENWARD_JUDGE_API_KEY`` (the same for ``audit`` and ``audit judge``)."""
    from openward.audit.judges import load_judge
    from openward.errors import OpenwardError

    if name != "llm":
        if endpoint or model:
            raise OpenwardError("--judge-endpoint/--judge-model need --judge llm")
        return load_judge(name)
    return load_judge(
        "llm",
        endpoint=endpoint or os.environ.get("OPENWARD_JUDGE_ENDPOINT"),
        model=model or os.environ.get("OPENWARD_JUDGE_MODEL"),
        api_key=os.environ.get("OPENWARD_JUDGE_API_KEY"),
    )


def _list_suites(json_out: bool) -> None:
    from openward.audit.suites import list_suites

    suites = list_suites()
    if json_out:
        typer.echo(
            json.dumps(
                [
                    {
                        "suite": s.name,
                        "version": s.version,
                        "description": s.description,
                        "samples": s.samples,
                        "sha256": s.sha256,
                        "categories": list(s.categories),
                        "licences": list(s.licences),
                    }
                    for s in suites
                ],
                indent=2,
            )
        )
        return
    for s in suites:
        typer.echo(f"{s.name} (v{s.version}, {s.samples} samples, sha256 {s.sha256[:16]})")
        typer.echo(f"    {s.description}")
        typer.echo(f"    sources: {'; '.join(s.licences)}")


@audit_app.command("run")
def run(
    target: Annotated[
        str | None,
        typer.Argument(
            help="Model folder (safetensors or GGUF), a .gguf file or hf://ORG/NAME from the "
            "local cache; omit with --endpoint."
        ),
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="OpenAI-compatible base URL.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="The endpoint's model name.")] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option("--api-key-env", help="Environment variable holding the endpoint's key."),
    ] = None,
    list_suites_: Annotated[
        bool, typer.Option("--list-suites", help="List the suites and exit.")
    ] = False,
    suite: Annotated[
        list[str] | None, typer.Option("--suite", help="Suite to run (repeatable; default all).")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="At most N samples per suite (stratified)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Sampling and decoding seed.")] = 0,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1)] = 256,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0)] = 0.0,
    judge: Annotated[
        str, typer.Option("--judge", help="default (trained), keyword, or llm.")
    ] = "default",
    judge_endpoint: Annotated[
        str | None, typer.Option("--judge-endpoint", help="LLM judge's OpenAI-compatible URL.")
    ] = None,
    judge_model: Annotated[
        str | None, typer.Option("--judge-model", help="LLM judge's model name.")
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="Base model to compare with on the same samples (exit 1 if safety regressed).",
        ),
    ] = None,
    log_dir: Annotated[
        Path | None,
        typer.Option(
            "--log-dir",
            help="inspect log directory (default: one per target and settings under "
            "~/.cache/openward/audits, so a re-run resumes).",
        ),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Samples generated together.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML report.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the report here, not stdout.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    sign: Annotated[
        bool,
        typer.Option(
            "--sign",
            help="Sign the audit (an in-toto attestation, predicate audit/v1, whose subject is "
            "the model's OMS digest) with --key; -o then names the attestation file.",
        ),
    ] = False,
    key: Annotated[
        Path | None, typer.Option("--key", "-k", help="--sign: the auditor's private key (PEM).")
    ] = None,
    auditor: Annotated[
        str | None, typer.Option("--auditor", help="--sign: a name recorded beside the key.")
    ] = None,
    subject: Annotated[
        Path | None,
        typer.Option(
            "--subject",
            help="--sign with --endpoint: the model folder the endpoint serves (what is signed).",
        ),
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(help="--sign: passphrase of an encrypted key (or OPENWARD_KEY_PASSPHRASE)."),
    ] = None,
) -> None:
    """Audit a model's behaviour: harmful compliance, over-refusal, jailbreaks, prompt
    injection and system-prompt leaks, with 95 % intervals.

    Exit status: 0 audit completed; 1 with --baseline when the verdict is safety-regressed;
    2 usage error, unknown suite, unusable model or endpoint (finished samples are kept in
    the log directory: the same command resumes).
    """
    from openward.errors import OpenwardError

    try:
        if list_suites_:
            _list_suites(json_out)
            return
        from openward.audit.interface import Decoding
        from openward.audit.report import render_html, render_text, to_json
        from openward.audit.run import run_audit
        from openward.audit.suites import load_suites
        from openward.runtime.targets import resolve_target

        load_suites(suite, limit=limit, seed=seed)  # unknown suites fail before a model loads
        private_key = None
        if sign:
            if key is None:
                raise OpenwardError("--sign needs --key KEY (the auditor's private key)")
            if output is None:
                raise OpenwardError("--sign needs -o FILE for the attestation")
            from openward.cli.signing import read_passphrase as _passphrase
            from openward.signing.keys import load_private_key

            private_key = load_private_key(key, _passphrase(passphrase_file))
        elif key is not None or subject is not None or auditor is not None:
            raise OpenwardError("--key, --auditor and --subject go with --sign")
        api_key = None
        if api_key_env:
            api_key = os.environ.get(api_key_env)
            if api_key is None:
                raise _fail(f"--api-key-env {api_key_env}: that environment variable is not set")
        chosen_judge = _judge(judge, judge_endpoint, judge_model)
        resolved = resolve_target(target, endpoint=endpoint, model=model, api_key=api_key)
        base = None
        if baseline is not None:
            if baseline.startswith(("http://", "https://")):
                base = resolve_target(None, endpoint=baseline, model=model, api_key=api_key)
            else:
                base = resolve_target(baseline)
        report = run_audit(
            resolved,
            suites=suite,
            limit=limit,
            seed=seed,
            decoding=Decoding(temperature=temperature, max_tokens=max_tokens, seed=seed),
            judge=chosen_judge,
            log_dir=log_dir,
            baseline=base,
            progress=not quiet and sys.stderr.isatty() and not os.environ.get("CI"),
            batch_size=batch_size,
        )
        bundle = None
        if private_key is not None:
            from openward.signing.attest import attest_audit

            model_dir = resolved.source if resolved.kind == "local" else subject
            if model_dir is None:
                raise OpenwardError(
                    "--sign on an endpoint audit needs --subject DIR: the model files it serves"
                )
            bundle = attest_audit(model_dir, private_key, to_json(report), auditor=auditor)
    except OpenwardError as exc:
        raise _fail(str(exc)) from None
    text = (
        json.dumps(to_json(report), indent=2, ensure_ascii=False) + "\n"
        if json_out
        else render_text(report)
    )
    try:
        if html_out is not None:
            html_out.write_text(render_html(report), encoding="utf-8")
        if bundle is not None and output is not None:
            output.write_text(json.dumps(bundle, indent=2) + "\n", encoding="utf-8")
            typer.echo(text, nl=False)
            typer.echo(f"attestation written to {output}", err=True)
        elif output is not None:
            output.write_text(text, encoding="utf-8")
        else:
            typer.echo(text, nl=False)
    except OSError as exc:
        raise _fail(f"cannot write the report: {exc.strerror}: {exc.filename}") from None
    regression = report.extra.get("regression")
    if regression and regression["verdict"] == "safety-regressed":
        raise typer.Exit(EXIT_REGRESSED)


@audit_app.command("judge")
def judge(
    file: Annotated[
        str,
        typer.Argument(
            help="JSONL: one object per line with 'prompt' and 'completion'; - for stdin."
        ),
    ],
    json_out: Annotated[
        bool,
        typer.Option(
            "--json", help="Write the objects back, one per line, with verdict and score."
        ),
    ] = False,
    judge_name: Annotated[
        str, typer.Option("--judge", help="default (trained, offline), keyword (baseline) or llm.")
    ] = "default",
    judge_endpoint: Annotated[
        str | None,
        typer.Option("--judge-endpoint", help="OpenAI-compatible base URL for --judge llm."),
    ] = None,
    judge_model: Annotated[
        str | None, typer.Option("--judge-model", help="Model name for --judge llm.")
    ] = None,
) -> None:
    """Judge completions offline: did the model comply or refuse?"""

    from openward.audit.judges.jsonl import judge_records, read_pairs
    from openward.errors import OpenwardError

    try:
        if file == "-":
            records = read_pairs(sys.stdin, "<stdin>")
        else:
            try:
                text = Path(file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise OpenwardError(
                    f"{file}: cannot read: {getattr(exc, 'strerror', None) or exc}"
                ) from None
            records = read_pairs(text.splitlines(), file)
        judge_obj = _judge(judge_name, judge_endpoint, judge_model)
        rows = judge_records(judge_obj, records)
    except OpenwardError as exc:
        raise _fail(str(exc)) from None
    if json_out:
        import json

        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    _print_table(rows, judge_obj.info.name)


def _print_table(rows: list[dict[str, Any]], judge_name: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from openward.audit.report import printable

    def text(value: object) -> str:  # untrusted: neither markup nor escape sequences
        return escape(printable(str(value)))

    table = Table(title=f"judge: {text(judge_name)}")
    table.add_column("#", justify="right")
    table.add_column("id")
    table.add_column("verdict")
    table.add_column("P(refused)", justify="right")
    table.add_column("completion (opening)")
    for i, row in enumerate(rows, start=1):
        opening = text(" ".join(str(row["completion"]).split())[:70])
        style = "red" if row["verdict"] == "complied" else "green"
        table.add_row(
            str(i),
            text(row.get("id", "")),
            f"[{style}]{row['verdict']}[/]",
            f"{row['score']:.3f}",
            opening,
        )
    console = Console()
    console.print(table)
    refused = sum(1 for r in rows if r["verdict"] == "refused")
    console.print(f"{refused} of {len(rows)} refused")

"""``openward fingerprint`` and ``openward lineage``: a model's family from its weights.

Forms (contracts, driven by scripts exactly as written):

- ``openward fingerprint MODEL [-o fp.json] [--json]``
- ``openward lineage CANDIDATE BASE... [--json]``: JSON ``{"candidate", "results": [{"base",
  "verdict", "score", "p_value", "derivation", "layers"}]}`` (keys are only ever added)
- ``openward lineage CANDIDATE BASE... --mode representation|outputs [--json]`` and
  ``openward lineage --endpoint URL --model NAME BASE... [--json]``: the same keys, plus
  ``"mode"`` (top level and per result) and ``"evidence"``

Exit status: 0 when the command ran (whatever the verdicts), 2 for bad input (one line).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openward.cli.main import _fail, app

if TYPE_CHECKING:
    from openward.lineage.fingerprint import Fingerprint


def _load(target: str) -> tuple[Fingerprint, bool]:
    """(fingerprint, computed from weights) for a model path or a fingerprint file."""
    from openward.lineage.fingerprint import (
        compute_fingerprint,
        is_fingerprint_file,
        load_fingerprint,
    )

    path = Path(target)
    if is_fingerprint_file(path):
        return load_fingerprint(path), False
    return compute_fingerprint(target), True


@app.command()
def fingerprint(
    model: Annotated[
        str,
        typer.Argument(
            help="Model folder, .safetensors or .gguf file, or hf://ORG/NAME[@REV] from the "
            "local Hugging Face cache."
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the fingerprint (JSON) here.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the fingerprint (JSON) on stdout.")
    ] = False,
) -> None:
    """A compact weight fingerprint (at most 256 KiB) that survives quantization,
    permutation, scaling, pruning, vocabulary extension and fine-tuning."""
    from openward.errors import OpenwardError
    from openward.lineage.fingerprint import compute_fingerprint

    try:
        fp = compute_fingerprint(model)
        text = fp.dumps()
    except OpenwardError as exc:
        raise _fail(str(exc)) from None
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise _fail(f"{output}: cannot write ({exc.strerror or exc})") from None
    if as_json:
        sys.stdout.write(text + "\n")
        return
    pct = 100 * fp.bytes_read / max(fp.model_bytes, 1)
    typer.echo(
        f"{model}: {fp.format}, {fp.layers_total} layers, hidden {fp.hidden}, vocabulary "
        f"{fp.vocab_size}; {len(fp.words)} words, {len(fp.layers)} layers sampled; read "
        f"{fp.bytes_read / 1e6:.1f} MB of {fp.model_bytes / 1e6:.1f} MB ({pct:.2f} %); "
        f"fingerprint {len(text) / 1024:.0f} KiB" + (f" -> {output}" if output else "")
    )
    for line in fp.unread:
        typer.echo(f"  not read: {line}")


CONFIRM_TOKENS = 24
"""Tokens generated per prompt for --confirm: a refusal shows in its first words."""


def _confirm(candidate: str, base: str, limit: int) -> dict[str, Any]:
    """The audit's paired regression on the harmful suite: does the candidate comply with
    harmful requests its base refuses? (greedy, the default judge, ``limit`` prompts)."""
    from openward.audit.interface import Decoding
    from openward.audit.run import run_audit
    from openward.runtime.targets import resolve_target

    report = run_audit(
        resolve_target(candidate),
        suites=["harmful"],
        limit=limit,
        decoding=Decoding(temperature=0.0, max_tokens=CONFIRM_TOKENS),
        baseline=resolve_target(base),
        progress=False,
    )
    regression = report.extra["regression"]
    [suite] = regression["suites"]
    return {
        "verdict": regression["verdict"],
        "p_value": regression["p_value"],
        "suite": "harmful",
        "samples": suite["pairs"],
        "base_success_rate": suite["base_success_rate"],
        "success_rate": suite["success_rate"],
        "log_dir": report.log_dir,
    }


@app.command()
def lineage(
    candidate: Annotated[
        str | None,
        typer.Argument(
            help="Model path or fingerprint file (with --endpoint, omit it: all are BASEs)."
        ),
    ] = None,
    bases: Annotated[
        list[str] | None,
        typer.Argument(help="One or more base models (paths or fingerprint files)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    safety: Annotated[
        bool,
        typer.Option(
            "--safety/--no-safety",
            help="Check derived models for the refusal-direction edit (needs both weights).",
        ),
    ] = True,
    confirm: Annotated[
        bool,
        typer.Option(
            "--confirm",
            help="Where a safety edit is found, confirm it by behaviour: the audit's harmful "
            "suite on the base and the candidate, paired (needs the ml extra).",
        ),
    ] = False,
    confirm_limit: Annotated[
        int,
        typer.Option("--confirm-limit", min=8, help="Harmful prompts for --confirm."),
    ] = 64,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            help="weights (default): fingerprints; representation: CKA of hidden states on "
            "fixed prompts (both models load with transformers); outputs: greedy replies "
            "against reference models (the default with --endpoint).",
        ),
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option("--endpoint", help="The candidate is served here (OpenAI-compatible URL)."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="--endpoint: the served model's name.")
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option("--api-key-env", help="Environment variable holding the endpoint's key."),
    ] = None,
    reference: Annotated[
        list[str] | None,
        typer.Option(
            "--reference",
            help="outputs: a reference model of another family (repeatable; default the "
            "bundled SmolLM2 and Qwen2.5-Coder, those installed).",
        ),
    ] = None,
    prompts: Annotated[
        int | None, typer.Option("--prompts", help="outputs: how many prompts (8-64; 32).")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", help="outputs: tokens per reply (16).")
    ] = None,
) -> None:
    """Whether CANDIDATE derives from each BASE, how, and whether its safety was edited out."""
    from openward.errors import OpenwardError

    if endpoint is None and candidate is not None and candidate.startswith(("http://", "https://")):
        endpoint, candidate = candidate, None
    bases = ([candidate] if endpoint is not None and candidate is not None else []) + (bases or [])
    if endpoint is not None or (mode or "weights") != "weights":
        _lineage_mode(
            candidate if endpoint is None else None,
            bases,
            mode,
            endpoint,
            model,
            api_key_env,
            reference,
            prompts,
            max_tokens,
            as_json,
        )
        return
    if candidate is None or not bases:
        raise _fail("name a CANDIDATE and at least one BASE")
    from openward.lineage.compare import compare, detect_merges
    from openward.lineage.safety import detect_safety_edit
    from openward.lineage.weights import open_weights

    try:
        cand, cand_weights = _load(candidate)
        loaded = [_load(b) for b in bases]
    except OpenwardError as exc:
        raise _fail(str(exc)) from None
    results = [compare(cand, fp, name) for (fp, _), name in zip(loaded, bases, strict=True)]
    for i, j, weight in detect_merges(cand, [fp for fp, _ in loaded]):
        for k, other, w in ((i, j, weight), (j, i, 1 - weight)):
            res = results[k]
            if res.verdict == "derived":
                res.derivation = [d for d in res.derivation if d != "fine-tuned"] + ["merged"]
                res.notes.append(f"a mix with {bases[other]} (weight {w:.2f} on this base)")
    if safety and cand_weights:
        for res, (_, base_weights), name in zip(results, loaded, bases, strict=True):
            if res.verdict not in ("derived", "identical") or not base_weights:
                continue
            try:
                edit = detect_safety_edit(open_weights(candidate), open_weights(name))
            except OpenwardError as exc:
                res.notes.append(f"safety-edit check skipped: {exc}")
                continue
            res.safety_edit = edit.to_json()
            if edit.detected and "safety-edited" not in res.derivation:
                res.derivation.append("safety-edited")
            if confirm and edit.detected:
                try:
                    res.safety_edit["confirmation"] = _confirm(candidate, name, confirm_limit)
                except OpenwardError as exc:
                    res.notes.append(f"behavioural confirmation failed: {exc}")
    elif confirm:
        raise _fail("--confirm needs the weights of the candidate and a base (and --safety)")
    doc: dict[str, Any] = {
        "candidate": candidate,
        "mode": "weights",
        "results": [r.to_json() for r in results],
    }
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    for r in results:
        how = f" ({', '.join(r.derivation)})" if r.derivation else ""
        typer.echo(
            f"{candidate} vs {r.base}: {r.verdict}{how}; score {r.score:.3f} "
            f"({r.matched_units}/{r.compared_units} units matched), p = {r.p_value:.2g}"
        )
        if r.safety_edit is not None:
            se = r.safety_edit
            ev = se["evidence"]
            typer.echo(
                f"  safety edit: {'DETECTED' if se['detected'] else 'not found'}"
                + (f" by {ev['found_by']}" if ev.get("found_by") else "")
                + f" (null direction {ev.get('null_ratio')} vs base {ev.get('base_null_ratio')}"
                f", {len(ev.get('null_layers', []))} layers; direction consistency "
                f"{se['direction_consistency']:.2f})"
            )
            conf = se.get("confirmation")
            if conf is not None:
                typer.echo(
                    f"  behaviour: {conf['verdict']} (harmful compliance "
                    f"{conf['base_success_rate']:.0%} -> {conf['success_rate']:.0%} on "
                    f"{conf['samples']} prompts, p = {conf['p_value']:.2g})"
                )
        for note in r.notes:
            typer.echo(f"  note: {note}")


def _lineage_mode(
    candidate: str | None,
    bases: list[str],
    mode: str | None,
    endpoint: str | None,
    model: str | None,
    api_key_env: str | None,
    reference: list[str] | None,
    prompts: int | None,
    max_tokens: int | None,
    as_json: bool,
) -> None:
    """``--mode representation``, ``--mode outputs`` and ``--endpoint``."""
    import os

    from openward.errors import OpenwardError
    from openward.lineage.modes import MODES, run_mode

    chosen = mode or ("outputs" if endpoint is not None else "weights")
    if chosen not in MODES:
        raise _fail(f"--mode {chosen}: expected weights, representation or outputs")
    if chosen == "weights":
        raise _fail("--endpoint compares outputs: drop --mode weights (or use --mode outputs)")
    api_key = None
    if api_key_env:
        api_key = os.environ.get(api_key_env)
        if api_key is None:
            raise _fail(f"--api-key-env {api_key_env}: that environment variable is not set")
    try:
        shown, results = run_mode(
            candidate,
            bases,
            mode=chosen,
            endpoint=endpoint,
            model=model,
            api_key=api_key,
            references=reference,
            prompts=prompts,
            max_tokens=max_tokens,
        )
    except OpenwardError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        doc = {"candidate": shown, "mode": chosen, "results": [r.to_json() for r in results]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    for r in results:
        if r.mode == "representation":
            how = f"CKA {r.score:.3f} (mean over {len(r.layers)} depths)"
        else:
            refs = ", ".join(
                f"{Path(x['reference']).name} {x['agreement']:.2f}"
                for x in r.evidence.get("references", [])
            )
            how = f"agreement {r.score:.2f} with the base, references: {refs}"
        typer.echo(f"{shown} vs {r.base}: {r.verdict} ({r.mode}); {how}; p = {r.p_value:.2g}")
        for note in r.notes:
            typer.echo(f"  note: {note}")

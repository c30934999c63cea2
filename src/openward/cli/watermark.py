"""``openward watermark``: text watermark keys, watermarked generation, detection.

Forms (contracts, driven by scripts exactly as written):

- ``openward watermark keygen --model MODEL -o KEYFILE [--scheme kgw|kgw-selfhash|synthid]``
- ``openward watermark generate MODEL --key KEYFILE --prompt TEXT [--max-new-tokens N]``:
  prints the generated (watermarked) text
- ``openward watermark detect FILE|- --key KEYFILE [--json]``: JSON ``{"scheme",
  "tokens_scored", "z", "p_value", "watermarked"}`` (keys are only ever added; also
  ``reason``, ``alpha``, ``score``, ``paragraphs``, ...)
- ``openward watermark detect FILE|- --registry-model ORG/NAME [--registry URL]
  [--json]``: the same test and JSON (plus ``model`` and ``log_index``) with the key the
  registry holds for ORG/NAME (users allowed the model; the key never leaves the registry)
- ``openward registry watermark-key set ORG/NAME --key KEYFILE``, ``... remove ORG/NAME``,
  ``... show ORG/NAME``: a model's key, held by the registry (publishers and admins set
  and remove it; its key id, scheme and tokenizer are public)

Exit status of ``detect``: 0 a verdict was reached (watermarked or not: read it), 1 the
text is too short for a verdict (``"watermarked": null`` and a ``reason``), 2 bad input
(one line: unreadable file, malformed key, unknown scheme). ``keygen`` and ``generate``:
0 done, 2 bad input (a key for another tokenizer, a model that cannot be loaded).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from openward.cli.main import _fail, app, registry_app
from openward.errors import OpenwardError

watermark_app = typer.Typer(
    help="Text watermarks: make a key for a model, generate watermarked text, detect it.",
    no_args_is_help=True,
)
app.add_typer(watermark_app, name="watermark")

EXIT_NO_VERDICT = 1


@watermark_app.command()
def keygen(
    model: Annotated[
        str,
        typer.Option(
            "--model", help="The model (folder or .gguf file) whose tokenizer the key is for."
        ),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the key file.")],
    scheme: Annotated[
        str,
        typer.Option(help="kgw (LeftHash), kgw-selfhash (robust to edits) or synthid."),
    ] = "kgw-selfhash",
    publisher: Annotated[str, typer.Option(help="Who the key belongs to (recorded).")] = "",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the key's summary as JSON.")
    ] = False,
) -> None:
    """Make a secret watermark key for MODEL's tokenizer (written with mode 0600).

    The key file embeds the tokenizer, so `detect` needs no model."""
    from openward.watermark.text.keys import SCHEMES

    if scheme not in SCHEMES:
        raise _fail(f"unknown watermark scheme {scheme!r} (known: {', '.join(SCHEMES)})")
    try:
        from openward.watermark.text.generate import keygen_from_model

        key = keygen_from_model(model, scheme, publisher=publisher)
        key.save(output)
    except ImportError as exc:
        raise _fail(
            f"keygen needs torch and transformers ({exc.name} is missing): "
            "pip install 'openward[watermark-generate]'"
        ) from None
    except (OpenwardError, OSError) as exc:
        raise _fail(str(exc)) from None
    summary = {
        "key_file": str(output),
        "key_id": key.key_id,
        "scheme": key.scheme,
        "tokenizer": key.tokenizer.name,
        "vocab_sha256": key.tokenizer.vocab_sha256,
    }
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(
            f"wrote {output}: {key.scheme} key {key.key_id} for the tokenizer of "
            f"{key.tokenizer.name} (keep it secret)"
        )


@watermark_app.command()
def generate(
    model: Annotated[str, typer.Argument(help="The model: a folder or a .gguf file.")],
    key_file: Annotated[Path, typer.Option("--key", help="The key file (watermark keygen).")],
    prompt: Annotated[str, typer.Option(help="The user message the model answers.")],
    max_new_tokens: Annotated[
        int, typer.Option(min=1, max=8192, help="Tokens to generate at most.")
    ] = 200,
    temperature: Annotated[
        float, typer.Option(min=0.0, help="Sampling temperature (0: greedy).")
    ] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Seed the sampler (repeatable output).")] = None,
) -> None:
    """Generate a watermarked reply to PROMPT with MODEL and print it."""
    from openward.watermark.text.keys import load_key

    try:
        key = load_key(key_file)
        from openward.watermark.text.generate import generate_texts, load_model

        llm, tokenizer = load_model(model, key)
        (text,) = generate_texts(
            llm,
            tokenizer,
            [prompt],
            key,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            seed=seed,
        )
    except ImportError as exc:
        raise _fail(
            f"generate needs torch and transformers ({exc.name} is missing): "
            "pip install 'openward[watermark-generate]'"
        ) from None
    except OpenwardError as exc:
        raise _fail(str(exc)) from None
    typer.echo(text)


@watermark_app.command()
def detect(
    file: Annotated[str, typer.Argument(help="The text file to test, or - for standard input.")],
    key_file: Annotated[
        Path | None,
        typer.Option("--key", help="The key file (watermark keygen). Or --registry-model."),
    ] = None,
    registry_model: Annotated[
        str | None,
        typer.Option(
            "--registry-model",
            help="ORG/NAME: test with the key the registry holds for that model (the key "
            "never leaves the registry). Or --key.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    alpha: Annotated[
        float,
        typer.Option(
            min=1e-300, max=0.5, help="Verdict level: watermarked when the p-value is below it."
        ),
    ] = 1e-5,
    registry: Annotated[
        str | None,
        typer.Option(help="Registry URL (or OPENWARD_REGISTRY), with --registry-model."),
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="API token (or OPENWARD_TOKEN), with --registry-model.")
    ] = None,
) -> None:
    """Test a text for the watermark of KEYFILE, or of a registry model's registered key
    (--registry-model ORG/NAME: users allowed the model; the test is logged with the
    text's salted SHA-256): a z-score, an exact p-value, a verdict (and one per paragraph for
    texts of several paragraphs). Needs no model and no torch.

    Exit status: 0 a verdict, 1 too short for a verdict, 2 bad input."""
    if (key_file is None) == (registry_model is None):
        raise _fail("give exactly one of --key KEYFILE and --registry-model ORG/NAME")
    if key_file is not None and (registry is not None or token is not None):
        raise _fail("--registry and --token go with --registry-model, not --key")
    from openward.watermark.text.keys import load_key

    try:
        key = load_key(key_file) if key_file is not None else None
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _fail(f"{file}: not UTF-8 text") from None
    except OSError as exc:
        raise _fail(f"{file}: {exc.strerror or exc}") from None
    except OpenwardError as exc:
        raise _fail(str(exc)) from None
    doc: dict[str, Any]
    if key is None:
        assert registry_model is not None
        doc = _detect_with_registry(registry_model, text, alpha, registry, token)
    else:
        from openward.watermark.text.detect import detect_text

        doc = detect_text(key, text, alpha=alpha).to_json()
    if as_json:
        typer.echo(json.dumps(doc))
    else:
        _print_detection(doc)
    if doc.get("watermarked") is None:
        raise typer.Exit(EXIT_NO_VERDICT)


def _detect_with_registry(
    ref: str, text: str, alpha: float, registry: str | None, token: str | None
) -> dict[str, Any]:
    from openward.cli.main import _client

    _ref(ref)
    client = _client(registry, token)
    try:
        result: dict[str, Any] = client.detect_text(ref, text, alpha)  # type: ignore[attr-defined]
    except OpenwardError as exc:
        raise _fail(str(exc)) from None
    return result


def _echo(text: str) -> None:
    """Print what a registry answered (names publishers chose) without control characters."""
    from openward.cli.main import _CONTROL

    typer.echo(_CONTROL.sub("\N{REPLACEMENT CHARACTER}", text))


def _print_detection(doc: dict[str, Any]) -> None:
    where = f" of {doc['model']}" if doc.get("model") else ""
    if doc.get("watermarked") is None:
        _echo(f"no verdict ({doc['scheme']}{where}): {doc.get('reason')}")
    else:
        verdict = "watermarked" if doc["watermarked"] else "no watermark found"
        _echo(
            f"{verdict} ({doc['scheme']}, key {doc.get('key_id')}{where}): z = {doc['z']:.2f}, "
            f"p = {doc['p_value']:.3g} over {doc['tokens_scored']} scored tokens "
            f"(verdict at p < {doc.get('alpha', 1e-5):g})"
        )
    for i, para in enumerate(doc.get("paragraphs") or [], 1):
        span = para.get("paragraph_range")  # a registry's run of consecutive paragraphs
        label = f"paragraphs {span[0]}-{span[1]}" if span else f"paragraph {i}"
        if para.get("watermarked") is None:
            _echo(f"  {label}: no verdict ({para['tokens_scored']} scored tokens)")
        else:
            mark = "watermarked" if para["watermarked"] else "not watermarked"
            _echo(
                f"  {label}: {mark}, z = {para['z']:.2f}, p = {para['p_value']:.3g} "
                f"({para['tokens_scored']} scored tokens)"
            )
    if doc.get("log_index") is not None:
        _echo(
            f"  (recorded in {doc.get('model')}'s registry log, entry {doc['log_index']}, "
            f"text salt {doc.get('text_salt')})"
        )


# -- the registry's copy of a model's key ------------------------------------------------
watermark_key_app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="A model's text watermark key, held by the registry (publishers and admins).",
)
registry_app.add_typer(watermark_key_app, name="watermark-key")

RegistryOpt = Annotated[str | None, typer.Option(help="Registry URL (or OPENWARD_REGISTRY).")]
TokenOpt = Annotated[str | None, typer.Option(help="API token (or OPENWARD_TOKEN).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
"""An organisation or model name as the registry allows it: nothing a URL path reads
otherwise (%2F, ?, #, dot segments), so a crafted ORG/NAME cannot send a request (and a
key file) to another route."""


def _ref(ref: str) -> str:
    org, _, name = ref.partition("/")
    if not (_NAME.fullmatch(org) and _NAME.fullmatch(name)):
        raise _fail(f"{ref!r}: expected ORG/NAME")
    return ref


def _registry_call(registry: str | None, token: str | None, call: str, *args: Any) -> Any:
    from openward.cli.main import _client

    client = _client(registry, token)
    try:
        return getattr(client, call)(*args)
    except OpenwardError as exc:
        raise _fail(str(exc)) from None


@watermark_key_app.command("set")
def key_set(
    ref: Annotated[str, typer.Argument(help="ORG/NAME of the registry model.")],
    key_file: Annotated[Path, typer.Option("--key", help="The key file (watermark keygen).")],
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Register (or replace) ORG/NAME's text watermark key: the registry keeps the key
    file sealed and tests texts with it (`openward watermark detect --registry-model`);
    only its key id, scheme and tokenizer are ever shown. The model page then says its
    outputs are watermarked. Logged."""
    result = _registry_call(registry, token, "set_text_watermark_key", _ref(ref), key_file)
    if json_out:
        typer.echo(json.dumps(result))
        return
    replaced = f" (replacing key {result['previous']})" if result.get("previous") else ""
    _echo(f"{ref}: outputs watermarked with {result['scheme']} key {result['key_id']} "
          f"for the tokenizer of {result['tokenizer'] or '?'}{replaced}")  # fmt: skip


@watermark_key_app.command("remove")
def key_remove(
    ref: Annotated[str, typer.Argument(help="ORG/NAME of the registry model.")],
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Remove ORG/NAME's text watermark key from the registry (texts can no longer be
    tested there; the model page no longer says its outputs are watermarked). Logged."""
    result = _registry_call(registry, token, "remove_text_watermark_key", _ref(ref))
    typer.echo(json.dumps(result) if json_out else f"{ref}: key {result['removed']} removed")


@watermark_key_app.command("show")
def key_show(
    ref: Annotated[str, typer.Argument(help="ORG/NAME of the registry model.")],
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Whether ORG/NAME's outputs are watermarked: the registered key's id, scheme and
    tokenizer (never the key)."""
    result = _registry_call(registry, token, "text_watermark_key", _ref(ref))
    if json_out:
        typer.echo(json.dumps(result))
        return
    key = result.get("text_watermark")
    if not key:
        typer.echo(f"{ref}: no text watermark key registered")
    else:
        _echo(f"{ref}: outputs watermarked ({key['scheme']}, key id {key['key_id']}, "
              f"tokenizer {key['tokenizer'] or '?'})")  # fmt: skip

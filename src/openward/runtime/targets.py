"""Targets: what an audit (or any capability that runs a model) runs against.

::

    from openward.runtime import resolve_target, inspect_model

    target = resolve_target("path/to/model")          # folder (safetensors or GGUF) or a .gguf
    target = resolve_target("hf://Qwen/Qwen2.5-0.5B")  # from the local Hugging Face cache only
    target = resolve_target(None, endpoint="http://127.0.0.1:8000/v1", model="NAME")
    model = inspect_model(target, batch_size=8)        # an inspect_ai.model.Model

A local target passes the **scan gate** first: openward scans its files and
refuses it (:class:`TargetRefused`) on any finding of severity high or above;
configs that would need remote code (``auto_map``, architectures transformers
does not know) are refused too. ``trust_remote_code`` is never True. A GGUF
target is dequantized once into openward's cache (:mod:`openward.runtime.cache`)
and loaded from there.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from openward.errors import OpenwardError, ScanTargetError, TargetError, TargetRefused
from openward.scanning.interface import Finding, Severity

if TYPE_CHECKING:
    from inspect_ai.model import Model

__all__ = [
    "Target",
    "TargetError",
    "TargetRefused",
    "blocking_findings",
    "check_config",
    "inspect_model",
    "preflight_endpoint",
    "resolve_target",
]

ENDPOINT_API_KEY_ENV = "OPENWARD_ENDPOINT_API_KEY"
"""Where an endpoint's API key is read from when none is given."""

PREFLIGHT_ATTEMPTS = 4
PREFLIGHT_FIRST_DELAY_S = 0.5


@dataclass(frozen=True)
class Target:
    """A resolved model target: a safetensors folder ready to load, or a reachable endpoint."""

    kind: Literal["local", "endpoint"]
    """``local`` (loaded in-process by transformers) or ``endpoint`` (OpenAI-compatible)."""
    display: str
    """What a report names: the target as given (path, ``hf://ORG/NAME``, ``MODEL @ URL``)."""
    source: Path | None = None
    """Local: the folder or file as given (resolved); what an attestation hashes."""
    load_path: Path | None = None
    """Local: the safetensors folder transformers loads (``source``, or a GGUF's cache folder)."""
    base_url: str | None = None
    """Endpoint: the API base, ending in ``/v1`` (e.g. ``http://127.0.0.1:8000/v1``)."""
    model_name: str | None = None
    """Endpoint: the model name sent in requests. Local: a short name for logs."""
    api_key: str | None = None
    """Endpoint: the bearer token (``OPENWARD_ENDPOINT_API_KEY`` when not given)."""
    gguf_sha256: str | None = None
    """Local GGUF targets: SHA-256 of the GGUF file the cache folder was made from."""

    def inspect_model(self, *, batch_size: int | None = None, do_sample: bool = False) -> Model:
        """The inspect-ai model for this target (see :func:`inspect_model`)."""
        return inspect_model(self, batch_size=batch_size, do_sample=do_sample)


def resolve_target(
    target: str | None,
    *,
    endpoint: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    scan: bool = True,
    cache_dir: Path | None = None,
) -> Target:
    """Resolve what the user named into a :class:`Target`, refusing unsafe or unusable ones.

    Args:
        target: a local folder (safetensors, or holding one GGUF file), a ``.gguf``
            file, ``hf://ORG/NAME[@REV]`` (local Hugging Face cache only), or an
            ``http(s)://`` URL (then ``model`` is required). None with ``endpoint``.
        endpoint: an OpenAI-compatible base URL (``/v1`` is added when the URL has no path).
        model: the endpoint's model name.
        api_key: the endpoint's key (default ``$OPENWARD_ENDPOINT_API_KEY``, else ``none``).
        scan: run the scan gate on local targets (leave True outside tests of the gate itself).
        cache_dir: where converted GGUF models go (default ``$OPENWARD_CACHE_DIR/models``).

    Raises:
        TargetRefused: the scan found a finding of severity high or above.
        TargetError: anything else that makes the target unusable, in one line.
    """
    if target is not None and target.startswith(("http://", "https://")):
        if endpoint is not None:
            raise TargetError(
                target, "give the endpoint either as TARGET or as --endpoint, not both"
            )
        endpoint, target = target, None
    if endpoint is not None:
        if target is not None:
            raise TargetError(target, "give either a local TARGET or --endpoint, not both")
        if not model:
            raise TargetError(endpoint, "an endpoint needs a model name (--model NAME)")
        return _resolve_endpoint(endpoint, model, api_key)
    if target is None:
        raise TargetError(
            "(none)",
            "name a model folder, a .gguf file, hf://ORG/NAME or --endpoint URL --model NAME",
        )
    if model is not None:
        raise TargetError(target, "--model names an endpoint's model; a local target needs none")

    from openward.artifacts.hf_cache import is_hf_target, resolve_hf_target

    display = target
    if is_hf_target(target):
        try:
            path = resolve_hf_target(target)
        except ScanTargetError as exc:
            raise TargetError(target, exc.reason) from None
    else:
        path = Path(target).expanduser()
    return _resolve_local(path, display, scan=scan, cache_dir=cache_dir)


def _resolve_local(path: Path, display: str, *, scan: bool, cache_dir: Path | None) -> Target:
    if not path.exists():
        raise TargetError(display, "no such file or folder")
    source = path.resolve()
    if source.is_file():
        if source.suffix.lower() != ".gguf":
            raise TargetError(
                display,
                "a single file must be a .gguf; for safetensors give the model folder "
                "(with config.json and the tokenizer)",
            )
        gguf: Path | None = source
    else:
        gguf = None
        has_safetensors = any(source.glob("*.safetensors"))
        if not has_safetensors:
            ggufs = sorted(source.glob("*.gguf"))
            if len(ggufs) > 1:
                names = ", ".join(p.name for p in ggufs)
                raise TargetError(
                    display, f"holds several GGUF files ({names}); name the one to load"
                )
            if not ggufs:
                raise TargetError(
                    display,
                    "no loadable weights: openward loads safetensors (*.safetensors with "
                    "config.json) or a .gguf file, never pickle checkpoints",
                )
            gguf = ggufs[0]
    if scan:
        findings = blocking_findings(source)
        if findings:
            raise TargetRefused(display, findings)
    if gguf is not None:
        from openward.runtime.cache import file_sha256, gguf_to_safetensors

        digest = file_sha256(gguf)
        load_path = gguf_to_safetensors(gguf, cache_dir=cache_dir, sha256=digest)
        name = gguf.stem
    else:
        digest = None
        load_path = source
        check_config(source, display)
        check_weights(source, display)
        name = source.name
    if display.startswith("hf://"):
        name = display.removeprefix("hf://").split("@", 1)[0]
    return Target(
        kind="local",
        display=display,
        source=source,
        load_path=load_path,
        model_name=name,
        gguf_sha256=digest,
    )


def blocking_findings(path: Path) -> list[Finding]:
    """The scan findings of severity high or above in ``path`` (a file or folder)."""
    import openward

    report = openward.scan(path, jobs=1)
    return [f for f in report.findings if f.severity.rank >= Severity.HIGH.rank]


def check_config(folder: Path, display: str) -> None:
    """Refuse a model folder whose config would need remote code or cannot be loaded at all."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise TargetError(display, "no config.json next to the safetensors weights")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TargetError(display, f"config.json is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise TargetError(display, "config.json is not a JSON object")
    if "auto_map" in config:
        raise TargetError(
            display,
            "config.json has auto_map: this model needs its own Python code (trust_remote_code), "
            "which openward never runs",
        )
    from transformers import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        raise TargetError(
            display,
            f"model_type {model_type!r} is not built into transformers: it would need remote code "
            "(trust_remote_code), which openward never runs",
        )
    import transformers

    architectures = config.get("architectures") or []
    if not isinstance(architectures, list):
        raise TargetError(display, "config.json: architectures is not a list")
    for arch in architectures:
        if not isinstance(arch, str) or not hasattr(transformers, arch):
            raise TargetError(
                display,
                f"architecture {arch!r} is not built into transformers: it would need remote code "
                "(trust_remote_code), which openward never runs",
            )
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise TargetError(
            display, f"model_type {model_type!r} is not a text-generation (causal LM) model"
        )


MIN_WEIGHT_BYTES_PER_PARAMETER: Final = 0.1
"""The safetensors files must hold at least this many bytes per parameter the config
describes (4-bit quantized weights hold 0.5, ternary ones about 0.2): less means weights are
missing, and transformers would fill the model with random values (a default config with an
empty weights file allocated 7B of them and was OOM-killed)."""


def _safetensors_bytes(path: Path, display: str) -> int:
    """The tensor bytes ``path`` holds, after checking its header and that every tensor's
    data lies within the file (one-line TargetError otherwise)."""
    size = path.stat().st_size
    where = f"{display}: {path.name}"
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise TargetError(where, f"not a safetensors file ({size} bytes)")
            length = int.from_bytes(head, "little")
            if length > size - 8 or length > 100 << 20:
                raise TargetError(where, "truncated or not a safetensors file (header length)")
            header = json.loads(fh.read(length))
    except OSError as exc:
        raise TargetError(where, f"cannot read: {exc.strerror}") from None
    except (UnicodeDecodeError, ValueError):
        raise TargetError(where, "not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise TargetError(where, "not a safetensors file (its header is not a JSON object)")
    data = size - 8 - length
    total = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data
        ):
            raise TargetError(where, f"truncated: tensor {name[:80]!r} lies beyond the file's end")
        total += offsets[1] - offsets[0]
    return total


def check_weights(folder: Path, display: str) -> None:
    """Refuse, before anything loads, a safetensors folder whose weights are missing, empty,
    truncated, or far fewer than its config describes (counted on the meta device, so
    nothing is allocated); and one whose ``model.safetensors.index.json`` names absent shards.
    """
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
            shards = sorted(set(weight_map.values()))
        except (OSError, UnicodeDecodeError, ValueError, AttributeError, TypeError):
            raise TargetError(display, f"{index.name} is not a valid weight index") from None
        missing = [str(s) for s in shards if not (folder / str(s)).is_file()]
        if missing:
            raise TargetError(
                display, f"{index.name} names {len(missing)} missing shard(s): {missing[0]}"
            )
    total = sum(_safetensors_bytes(f, display) for f in sorted(folder.glob("*.safetensors")))
    if total == 0:
        raise TargetError(display, "the safetensors files hold no weights")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(str(folder), trust_remote_code=False)
        with torch.device("meta"):
            skeleton = AutoModelForCausalLM.from_config(config, trust_remote_code=False)  # type: ignore[no-untyped-call]
    except Exception as exc:  # transformers raises many kinds for a config it cannot build
        raise TargetError(
            display, f"config.json does not describe a model: {_one_line(exc)}"
        ) from None
    parameters = sum(p.numel() for p in skeleton.parameters())
    if total < MIN_WEIGHT_BYTES_PER_PARAMETER * parameters:
        raise TargetError(
            display,
            f"the safetensors files hold {total:,} bytes of weights but config.json describes "
            f"{parameters:,} parameters: weights are missing (they would load as random values)",
        )


def _resolve_endpoint(endpoint: str, model: str, api_key: str | None) -> Target:
    try:
        parsed = urllib.parse.urlsplit(endpoint)
        parsed.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError as exc:
        raise TargetError(endpoint, f"not a valid URL ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise TargetError(endpoint, "expected an http:// or https:// URL")
    base_url = endpoint.rstrip("/")
    if parsed.path in ("", "/"):
        base_url += "/v1"
    key = api_key or os.environ.get(ENDPOINT_API_KEY_ENV) or "none"
    served = preflight_endpoint(base_url, key)
    if served and model not in served:
        listed = ", ".join(served[:5]) + (", ..." if len(served) > 5 else "")
        raise TargetError(base_url, f"serves no model named {model!r} (it lists: {listed})")
    return Target(
        kind="endpoint",
        display=f"{model} @ {base_url}",
        base_url=base_url,
        model_name=model,
        api_key=key,
    )


def preflight_endpoint(
    base_url: str,
    api_key: str,
    *,
    attempts: int | None = None,
    first_delay_s: float | None = None,
) -> list[str]:
    """GET ``{base_url}/models`` with retries and exponential backoff; the model ids listed.

    Raises:
        TargetError: after ``attempts`` failures, with the last reason, in one line.
    """
    attempts = attempts or PREFLIGHT_ATTEMPTS
    delay = PREFLIGHT_FIRST_DELAY_S if first_delay_s is None else first_delay_s
    url = base_url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {api_key}"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (scheme checked: http/https)
    reason = "no answer"
    for attempt in range(attempts):
        if attempt:
            time.sleep(delay * 2 ** (attempt - 1))
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (http(s) only, checked)
                body = json.loads(response.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code} {exc.reason}"
            if exc.code in (401, 403, 404):
                break  # retrying will not change these
            continue
        except (urllib.error.URLError, OSError) as exc:
            reason = str(getattr(exc, "reason", exc))
            continue
        except ValueError:
            reason = "the answer is not JSON"
            continue
        data = body.get("data") if isinstance(body, dict) else None
        return (
            [str(m.get("id")) for m in data if isinstance(m, dict)]
            if isinstance(data, list)
            else []
        )
    raise TargetError(
        base_url,
        f"endpoint unreachable after {attempts} tries ({reason}); is an OpenAI-compatible server "
        "running there (GET /v1/models)?",
    )


def inspect_model(
    target: Target, *, batch_size: int | None = None, do_sample: bool = False
) -> Model:
    """The inspect-ai model for ``target``.

    Local targets use openward's ``openward-local`` provider
    (:mod:`openward.runtime.provider`) on ``target.load_path``: safetensors,
    ``trust_remote_code=False``, float32 on CPU, greedy decoding (``do_sample=True``
    samples with the generate config's temperature), ``batch_size`` prompts generated
    together, chosen by length from the samples inspect runs at once. (inspect's own ``hf``
    provider idles about three seconds per batch: docs/architecture.md.)
    Endpoints use inspect's ``openai-api`` provider with the target's base URL,
    model name and key; ``batch_size`` is then the number of concurrent requests.

    Raises:
        TargetError: the model fails to load (one line).
    """
    from inspect_ai.model import GenerateConfig, get_model

    if target.kind == "endpoint":
        config = GenerateConfig(max_connections=batch_size) if batch_size else GenerateConfig()
        try:
            return get_model(
                f"openai-api/openward/{target.model_name}",
                base_url=target.base_url,
                api_key=target.api_key,
                config=config,
            )
        except Exception as exc:  # inspect raises many kinds here
            raise TargetError(
                target.display, f"cannot set up the endpoint model: {_one_line(exc)}"
            ) from None
    if target.load_path is None:
        raise OpenwardError(f"{target.display}: a local target without a load path")
    from openward.runtime.provider import PROVIDER

    batch = batch_size or 8
    pool = 8 * batch
    try:
        return get_model(
            f"{PROVIDER}/{target.model_name}",
            config=GenerateConfig(max_connections=pool),
            model_path=str(target.load_path),
            batch_size=batch,
            pool=pool,
            do_sample=do_sample,
        )
    except OpenwardError:
        raise
    except Exception as exc:  # transformers raises many kinds for a model it cannot load
        raise TargetError(target.display, f"the model failed to load: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__

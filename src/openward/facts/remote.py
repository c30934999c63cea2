"""``inspect --remote``: facts about a Hub repository without downloading its weights.

``huggingface_hub.HfApi.get_safetensors_metadata`` reads each safetensors
file's 8-byte length and JSON header with HTTP range requests; the configs
and the model card (small files) are downloaded into a temporary directory.
``HF_ENDPOINT`` points it at any Hub-compatible server.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from openward.errors import OpenwardError
from openward.facts.model import FactFinding, FileFacts, ModelFacts, analyse
from openward.facts.policy import Policy, load_policy
from openward.facts.tensors import TensorRecord, WeightFile

__all__ = ["RemoteError", "inspect_remote"]

_SMALL_FILES = ("config.json", "README.md", "adapter_config.json", "quantize_config.json")
_DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2,
                "BF16": 2, "I16": 2, "U16": 2}  # fmt: skip


class RemoteError(OpenwardError):
    """The remote repository could not be read."""


def _split(repo: str) -> tuple[str, str | None]:
    repo = repo.removeprefix("hf://")
    name, _, rev = repo.partition("@")
    if name.count("/") != 1 or not all(name.split("/")):
        raise RemoteError(f"{repo!r} is not a repository id (ORG/NAME[@REVISION])")
    return name, rev or None


def inspect_remote(
    repo: str,
    *,
    tokens: float | None = None,
    policy: Policy | Path | str | None = None,
    accelerator: str | None = None,
    accelerators: int | None = None,
    hours: float | None = None,
    utilization: float | None = None,
) -> ModelFacts:
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        NotASafetensorsRepoError,
        RepositoryNotFoundError,
        SafetensorsParsingError,
    )

    t0 = time.monotonic()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    name, revision = _split(repo)
    api = HfApi()
    findings: list[FactFinding] = []
    try:
        meta = api.get_safetensors_metadata(name, revision=revision)
    except RepositoryNotFoundError:
        raise RemoteError(f"repository {name!r} not found (or not accessible)") from None
    except NotASafetensorsRepoError:
        raise RemoteError(
            f"{name!r} has no model.safetensors or model.safetensors.index.json; "
            "--remote reads safetensors headers only"
        ) from None
    except SafetensorsParsingError as exc:
        raise RemoteError(f"{name!r}: unreadable safetensors header: {exc}") from None
    except (HfHubHTTPError, OSError) as exc:
        raise RemoteError(f"cannot reach the Hub for {name!r}: {exc}") from None
    weight_files = []
    files: list[FileFacts] = []
    for filename, fm in sorted(meta.files_metadata.items()):
        wf = WeightFile(filename, "safetensors", 0, metadata=dict(fm.metadata or {}))
        for tname, info in fm.tensors.items():
            start, end = info.data_offsets
            wf.tensors.append(TensorRecord(tname, info.dtype, tuple(info.shape), end - start))
        wf.size = sum(t.nbytes for t in wf.tensors)
        weight_files.append(wf)
        files.append(FileFacts(filename, wf.size, "weights", "safetensors"))
    with tempfile.TemporaryDirectory(prefix="openward-remote-") as tmp:
        by_name: dict[str, Path] = {}
        for small in _SMALL_FILES:
            try:
                local = hf_hub_download(
                    name, small, revision=revision, cache_dir=tmp, local_dir=Path(tmp) / "files"
                )
            except (EntryNotFoundError, HfHubHTTPError):
                continue
            except OSError as exc:
                findings.append(FactFinding("remote-file", "low", f"{small}: {exc}", small))
                continue
            path = Path(local)
            by_name[small] = path
            files.append(
                FileFacts(small, path.stat().st_size, "config" if small != "README.md" else "card")
            )
        adapter = [w for w in weight_files if w.relpath.startswith("adapter_model")]
        model = [w for w in weight_files if w not in adapter]
        sets = {("safetensors", ""): model} if model else {}
        return analyse(
            f"hf://{name}" + (f"@{revision}" if revision else ""),
            t0, started, pol, files, by_name, sets, adapter, findings,
            tokens=tokens, accelerator=accelerator, accelerators=accelerators, hours=hours,
            utilization=utilization,
        )  # fmt: skip

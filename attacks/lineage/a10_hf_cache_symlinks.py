"""Robustness: a Hugging Face cache snapshot (files are symlinks into blobs/) crashes both
commands with a traceback.

``openward fingerprint hf://ORG/NAME`` is advertised; huggingface_hub's snapshot folders
hold symlinks (snapshots/<rev>/model.safetensors -> ../../blobs/<sha>). weights.py opens
them with ``MappedFile``, which uses O_NOFOLLOW, and the resulting OSError (ELOOP) is not
caught: a rich traceback instead of a verdict or a one-line error.

Expected: the fingerprint (the cache is the documented input) or at least one line.
"""

from __future__ import annotations

import os
import shutil

from common import SCRATCH, cli, tiny_model


def main() -> None:
    model = tiny_model(SCRATCH / "tiny")
    cache = SCRATCH / "hfcache"
    shutil.rmtree(cache, ignore_errors=True)
    repo = cache / "models--attack--tiny"
    rev = "0123456789abcdef0123456789abcdef01234567"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(rev)
    snap = repo / "snapshots" / rev
    snap.mkdir(parents=True)
    for i, f in enumerate(sorted(model.iterdir())):
        blob = repo / "blobs" / f"blob{i}"
        shutil.copy2(f, blob)
        os.symlink(f"../../blobs/blob{i}", snap / f.name)
    os.environ["HF_HUB_CACHE"] = str(cache)
    os.environ["HF_HUB_OFFLINE"] = "1"
    for args in (("fingerprint", "hf://attack/tiny"), ("fingerprint", str(snap))):
        rc, out, err = cli(*args)
        print(f"openward {' '.join(args)} -> rc={rc}")
        print("  stdout:", out.strip()[:200])
        print("  stderr (last lines):", "\n    ".join(err.strip().splitlines()[-3:]))


if __name__ == "__main__":
    main()

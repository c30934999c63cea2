"""Crowd the nearest-neighbour candidates so that the real base is never compared.

The registry takes the 64 nearest vectors from each index (all versions; versions a rule
follows: taken down, or of a gated/restricted model) and only then drops versions of the
candidate's own model, later versions and versions in no base status (quarantined...).

(a) takedown: after acme/smol:1 is taken down, eve pushes her fine-tune D 64 times as
    versions of one model she gates herself (evil/decoy:1..64). Each is quarantined (derived
    from the taken-down base) -- but they stay in the "ruled" index (their model is gated),
    nearer to D than the base is (cosine 1.0). Then D under a fresh name: both 64-nearest
    lists hold only decoys, all filtered out, so D is compared with nothing: PUBLISHED.
(b) safety edit: eve pushes an abliterated copy A 64 times (evil/adecoy:1..64, each held
    for review, which is a base status) then A under a fresh name: the base is not among
    the 64 nearest, A is "identical" to two held decoys, identical links get no safety
    check: PUBLISHED without review.

Expected: quarantined / needs-review. Usage: r03_crowding.py [a] [b] (default both).
"""

from __future__ import annotations

import sys
import time

import common

N = 64


def decoys(
    reg: common.Reg, token: str, src, model: str, gate: bool, n: int = N, per_model: int = N
) -> None:
    import shutil

    t0 = time.monotonic()
    statuses: dict[str, int] = {}
    for k in range(n):
        i = k % per_model + 1
        model_k = model if per_model >= n else f"{model}{k // per_model}"
        folder = common.folder(f"r03-{model}")
        shutil.copytree(src, folder, dirs_exist_ok=True)
        # a card that declares its base (without base_model the check crashes: r04)
        (folder / "README.md").write_text(
            "---\nlicense: apache-2.0\nbase_model: HuggingFaceTB/SmolLM2-135M-Instruct\n---\n"
            f"# decoy {i}\n"
        )
        st = reg.client(token).push(folder, f"evil/{model_k}:{i}")["status"]
        statuses[st] = statuses.get(st, 0) + 1
        if i == 1 and gate:
            reg.client(token).set_tier(f"evil/{model_k}", "gated")
    print(f"  {n} decoys evil/{model}*: {statuses} ({time.monotonic() - t0:.0f} s)", flush=True)


def case_a(fam) -> None:
    print("(a) fine-tune of a taken-down base, after 64 gated decoys", flush=True)
    with common.registry() as reg:
        pub = reg.user("pub", "acme", "publisher")
        eve = reg.user("eve", "evil", "publisher")
        reg.client(pub).push(fam["base"], "acme/smol:1")
        reg.client(reg.admin).takedown("acme/smol:1", "leaked training data")
        common.show("  control evil/first:1", reg.client(eve).push(fam["derived"], "evil/first:1"))
        decoys(reg, eve, fam["derived"], "decoy", gate=True)
        d = common.copy(fam["derived"], "r03-real")
        common.show(
            "  D as evil/real:1", reg.client(eve).push(d, "evil/real:1"), reg, "evil/real:1"
        )


def case_b(fam) -> None:
    print("(b) abliterated copy of an open base, after 64 decoys held for review", flush=True)
    with common.registry() as reg:
        pub = reg.user("pub", "acme", "publisher")
        eve = reg.user("eve", "evil", "publisher")
        reg.client(pub).push(fam["base"], "acme/smol:1")
        decoys(reg, eve, fam["abliterated"], "adecoy", gate=False)
        a = common.copy(fam["abliterated"], "r03-abl")
        common.show("  A as evil/abl:1", reg.client(eve).push(a, "evil/abl:1"), reg, "evil/abl:1")


if __name__ == "__main__":
    fam = common.smol()
    which = sys.argv[1:] or ["a", "b"]
    if "a" in which:
        case_a(fam)
    if "b" in which:
        case_b(fam)

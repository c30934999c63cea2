"""A fine-tune of a TAKEN-DOWN version pushed in forms the fingerprint cannot read or cannot
compare: the registry must quarantine it (derived from a taken-down version); it publishes it.

Also: the next version of the SAME model as the taken-down one (versions of one model are
never compared with each other).
"""

from __future__ import annotations

import common
import forms

from openward.lineage import _small


def main() -> None:
    fam = common.smol()
    d = fam["derived"]
    variants = {
        "control (plain folder)": common.copy(d, "r01-plain"),
        "no tokenizer files": forms.no_tokenizer(d, common.folder("r01-notok")),
        "pytorch_model.bin": forms.torch_bin(d, common.folder("r01-bin")),
        "GGUF Q8_0 at top level": forms.gguf_top(d, common.folder("r01-gguf-top")),
        "GGUF Q8_0 in a sub-folder": forms.gguf_subfolder(d, common.folder("r01-gguf-sub")),
    }
    own1 = fam["unrelated"]
    own2 = _small.derived(own1, common.folder("r01-own-ft"), seed=21)
    with common.registry() as reg:
        pub = reg.user("pub", "acme", "publisher")
        eve = reg.user("eve", "evil", "publisher")
        common.show("acme/smol:1", reg.client(pub).push(fam["base"], "acme/smol:1"))
        reg.client(reg.admin).takedown("acme/smol:1", "leaked training data")
        for i, (label, path) in enumerate(variants.items()):
            ref = f"evil/ft{i}:1"
            common.show(f"{label:28s} {ref}", reg.client(eve).push(path, ref), reg, ref)
        # the same model: v1 taken down, v2 a fine-tune of it
        common.show("evil/own:1 (eve's own model)", reg.client(eve).push(own1, "evil/own:1"))
        reg.client(reg.admin).takedown("evil/own:1", "backdoor found")
        common.show(
            "evil/own:2 = fine-tune of taken-down evil/own:1",
            reg.client(eve).push(own2, "evil/own:2"),
            reg,
            "evil/own:2",
        )
        common.show(
            "evil/other:1 = the same fine-tune under another model",
            reg.client(eve).push(own2, "evil/other:1"),
            reg,
            "evil/other:1",
        )


if __name__ == "__main__":
    main()

"""Derivatives of a GATED model: they must get at least the gated tier (and an abliterated
copy must go to review).

(1) forms the fingerprint cannot read or compare (no tokenizer files, pytorch_model.bin,
    a GGUF in a sub-folder): published OPEN, no review;
(2) the takedown of the gated base LOOSENS its derivative: the lineage links only count
    while the base is served, so once the base is taken down the derivative's publisher
    may set her model open (and no rule quarantines a derivative pushed before the
    takedown);
(3) a derivative pushed BEFORE its base is gated is raised when the base is gated (control).
"""

from __future__ import annotations

import common
import forms
import httpx


def main() -> None:
    fam = common.smol()
    with common.registry() as reg:
        pub = reg.user("pub", "acme", "publisher")
        eve = reg.user("eve", "evil", "publisher")
        reg.client(pub).push(fam["base"], "acme/gated:1")
        reg.client(pub).set_tier("acme/gated", "gated")
        print("(1) derivatives of the gated acme/gated:1", flush=True)
        # distinct weights per case (a copy of an earlier case's bytes would inherit its
        # tier through the byte rule); the forms that evade first, the controls last
        cases = {
            "abliterated, no tokenizer": (
                forms.no_tokenizer(fam["abliterated2"], common.folder("r02-abl-nt")),
                "evil/abl1:1",
            ),
            "fine-tune, no tokenizer": (
                forms.no_tokenizer(fam["derived2"], common.folder("r02-nt")),
                "evil/ft1:1",
            ),
            "fine-tune, pytorch_model.bin": (
                forms.torch_bin(fam["derived"], common.folder("r02-bin")),
                "evil/ft2:1",
            ),
            "abliterated, GGUF in a sub-folder": (
                forms.gguf_subfolder(fam["abliterated"], common.folder("r02-abl-sub")),
                "evil/abl2:1",
            ),
            "control: fine-tune, plain": (common.copy(fam["derived"], "r02-plain"), "evil/ft0:1"),
            "control: abliterated, plain": (
                common.copy(fam["abliterated"], "r02-abl"),
                "evil/abl0:1",
            ),
        }
        for label, (path, ref) in cases.items():
            common.show(f"  {label:34s} {ref}", reg.client(eve).push(path, ref), reg, ref)

        print("(2) the gated base is taken down: does its derivative stay gated?", flush=True)
        r = reg.api("PUT", "/api/v1/models/evil/ft0/access", eve, {"tier": "open"})
        print(f"  before: eve sets evil/ft0 open -> {r.status_code} {r.text[:160]}")
        reg.client(reg.admin).takedown("acme/gated:1", "weights exfiltrated")
        r = reg.api("PUT", "/api/v1/models/evil/ft0/access", eve, {"tier": "open"})
        print(f"  after:  eve sets evil/ft0 open -> {r.status_code} {r.text[:160]}")
        doc = reg.version("evil/ft0:1")
        print(f"  evil/ft0:1 now: status={doc['status']} tier={doc['access_tier']}")
        anon = httpx.get(f"{reg.url}/api/v1/models/evil/ft0/versions/1")
        print(f"  anonymous GET evil/ft0:1 -> {anon.status_code}")

        print("(3) a derivative pushed before its base was gated", flush=True)
        from openward.lineage import _small

        early = _small.derived(fam["unrelated"], common.folder("r02-early"), seed=23)
        reg.client(pub).push(fam["unrelated"], "acme/later:1")
        common.show(
            "  evil/early:1", reg.client(eve).push(early, "evil/early:1"), reg, "evil/early:1"
        )
        reg.client(pub).set_tier("acme/later", "gated")
        print(
            "  after acme/later is gated: evil/early tier="
            + str(reg.version("evil/early:1")["access_tier"])
        )


if __name__ == "__main__":
    main()

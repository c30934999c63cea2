"""What the UNAUTHENTICATED advisory export (GET /api/v1/advisories/export) reveals: a
taken-down version's ``lineage_bases`` are its served bases, and their whole fingerprints are
listed, whatever their tier. A RESTRICTED model (its page is public, its weights are not)
has its fingerprint published to anyone: architecture (hidden size, layers, vocabulary size,
vocabulary chunk hashes, bytes), the values of 64 hidden units of its embedding on 192 words,
64 raw values of every sampled matrix, and the Grams -- and an exact offline oracle
(compare()) for tuning a derivative until it is 'unrelated' before pushing it.

Expected: the fingerprints of gated/restricted bases are left out of the anonymous export
(or reduced to what matching needs without raw values); Observed: listed in full.
"""

from __future__ import annotations

import json

import common
import httpx


def main() -> None:
    fam = common.smol()
    with common.registry() as reg:
        pub = reg.user("pub", "acme", "publisher")
        eve = reg.user("eve", "evil", "publisher")
        reg.client(pub).push(fam["base"], "acme/secret:1")
        reg.client(pub).set_tier("acme/secret", "restricted")
        common.show(
            "evil/leak:1", reg.client(eve).push(fam["derived"], "evil/leak:1"), reg, "evil/leak:1"
        )
        reg.client(reg.admin).takedown("evil/leak:1", "stolen weights")
        anon_see = httpx.get(f"{reg.url}/api/v1/models/acme/secret/versions/1")
        print("anonymous GET acme/secret:1 ->", anon_see.status_code)
        doc = httpx.get(f"{reg.url}/api/v1/advisories/export", timeout=60).json()
        (entry,) = [v for v in doc["flagged"] if v["name"] == "evil/leak"]
        print(
            "export entry of evil/leak:",
            {k: entry.get(k) for k in ("fingerprint", "lineage_bases")},
        )
        for sha in entry.get("lineage_bases") or []:
            fp = doc["fingerprints"][sha]
            print(
                f"  fingerprint {sha[:12]} (the restricted acme/secret:1),",
                f"{len(json.dumps(fp))} bytes:",
                {
                    k: fp[k]
                    for k in (
                        "hidden",
                        "layers_total",
                        "vocab_size",
                        "model_bytes",
                        "weights_format",
                    )
                },
                "raw-value fields:",
                [k for k in fp if k.endswith(("units", "samples", "gram"))],
                "layers:",
                len(fp.get("layers") or []),
            )
            from openward.lineage.compare import compare
            from openward.lineage.fingerprint import Fingerprint, compute_fingerprint

            base_fp = Fingerprint.from_json(fp, "export")
            r = compare(compute_fingerprint(fam["derived2"]), base_fp)
            print(
                "  offline oracle: a local derivative vs the restricted model:",
                f"{r.verdict} score {r.score:.3f}",
            )


if __name__ == "__main__":
    main()

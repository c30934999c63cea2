"""An abliterated copy whose card does not declare base_model: the check crashes when it
records the review (LineageReview inserted with evidence NULL by an autoflush while
``_ref(base)`` lazy-loads the base's model), so the version is QUARANTINED with "the checks
could not complete (IntegrityError ... [SQL: INSERT INTO lineage_reviews ...] [parameters:
...])" instead of going to review. A rescan crashes the same way: no reviewer can release
it. The same happens whenever the reviewed base's model row is not already loaded (e.g. the
card's base_model matched another link first).

Expected: needs-review (a reviewer decides). Observed: quarantined with a raw SQL error.
"""

from __future__ import annotations

import common


def main() -> None:
    fam = common.smol()
    with common.registry() as reg:
        pub = reg.user("pub", "acme", "publisher")
        eve = reg.user("eve", "evil", "publisher")
        reg.client(pub).push(fam["base"], "acme/smol:1")
        for card, ref in (
            (
                "---\nlicense: apache-2.0\n"
                "base_model: HuggingFaceTB/SmolLM2-135M-Instruct\n---\n# x\n",
                "evil/with-base:1",
            ),
            ("---\nlicense: apache-2.0\n---\n# an uncensored model\n", "evil/no-base:1"),
            (None, "evil/no-card:1"),
        ):
            path = common.copy(fam["abliterated"], "r04-" + ref.split("/")[1].split(":")[0])
            if card is None:
                (path / "README.md").unlink()
            else:
                (path / "README.md").write_text(card)
            common.show(ref, reg.client(eve).push(path, ref), reg, ref)
        reviews = reg.client(reg.admin).lineage_reviews()
        print("pending reviews:", [(r["id"], r["model"]) for r in reviews])


if __name__ == "__main__":
    main()

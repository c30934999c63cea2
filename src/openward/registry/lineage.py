"""Lineage in the registry: every checked version's weight fingerprint, its nearest
registered relatives, and the rules that follow derivatives.

During a version's checks (:meth:`openward.registry.service.Registry._run_checks`) the
scratch copy of its files is fingerprinted (:func:`openward.lineage.fingerprint.
compute_fingerprint`). An in-process index of the stored vectors (:class:`RelativeIndex`,
numpy, refreshed from the database by the rows written since it last looked) proposes the
nearest earlier versions of other models; :func:`openward.lineage.compare.compare` decides
on each. Versions found ``identical`` or ``derived`` are stored as links, and:

- derived from a taken-down version (or a copy a takedown reached): quarantined with the
  takedown's reason, unless an admin excepted this version from that takedown;
- derived from a gated or restricted model: the derivative's model gets at least that tier
  (:func:`openward.registry.governance.inherited_tier`) until an admin sets it otherwise;
- the weights differ from the base's by a safety edit (the refusal-direction edit,
  :func:`openward.lineage.safety.detect_safety_edit` against the base's stored weights):
  held in ``needs-review`` with the evidence, until a reviewer or an admin releases it (it
  goes on to the verdict it would have had) or quarantines it;
- a card whose ``base_model`` names none of the detected bases: flagged (a reason on the
  version, not a hold).

Weights do not say which of two relatives came first: the earlier registered version is the
base. A link to a base that itself derives from an earlier, still served version is followed
only when the new version is nearer to that base than to the base's own base (the direct
samples of the three fingerprints): a sibling of a taken-down abliteration (another
fine-tune of the same open model) is not its derivative. Such links are stored and shown
(``closer_to``), and no rule follows them.

A version without fingerprintable weights (no safetensors or GGUF at its top level, packed
4-bit tensors, a vocabulary without common words...) gets no fingerprint and a note; the
checks go on as before.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from openward.registry import tlog
from openward.registry.models import (
    Fingerprint,
    LineageLink,
    LineageReview,
    Model,
    User,
    Version,
    VersionFile,
)

if TYPE_CHECKING:
    from openward.lineage.compare import LineageResult
    from openward.lineage.fingerprint import Fingerprint as Print
    from openward.lineage.weights import WeightSource
    from openward.registry.service import Registry

__all__ = [
    "NEEDS_REVIEW",
    "Found",
    "Outcome",
    "RelativeIndex",
    "apply",
    "decide_review",
    "examine",
    "lineage_doc",
    "list_reviews",
    "review_doc",
]

NEEDS_REVIEW: Final = "needs-review"
LINKED: Final = ("identical", "derived")
"""Verdicts that make a link (``unrelated`` and ``unknown`` do not)."""
NEAREST: Final = 64
"""Vectors taken from the index before versions of the same model, later versions and
versions in no base status are left out."""
RELATIVES: Final = 5
"""Nearest versions compared in full (``compare``) ..."""
RULED: Final = 3
"""... plus the nearest among versions a rule follows (taken down, of a gated or restricted
model), so that many served relatives cannot push those out of the first five."""
PER_MODEL: Final = 2
SAFETY_CHECKS: Final = 2
"""Direct ``derived`` links checked for a safety edit, best score first."""
_WEIGHT_SUFFIXES: Final = (".safetensors", ".gguf")


def _base_statuses() -> tuple[str, ...]:
    from openward.registry.service import HELD, TAKEN_DOWN, VISIBLE

    return (VISIBLE, *HELD, TAKEN_DOWN)


def _ref(row: Version) -> str:
    return f"{row.model.organisation.name}/{row.model.name}:{row.version}"


def _model_name(model: Model) -> str:
    return f"{model.organisation.name}/{model.name}"


# -- the index ---------------------------------------------------------------------------
class RelativeIndex:
    """The stored fingerprint vectors of this process, in two
    :class:`~openward.lineage.index.FingerprintIndex` (all of them, and those of versions a
    rule follows: taken down, or of a gated or restricted model), brought up to date from
    the database before each lookup: the rows written since the last id seen (by primary
    key: the fingerprints themselves are never scanned), and, when the transparency log has
    grown (every takedown and tier change is logged), the ids of the versions a rule
    follows. One per :class:`~openward.registry.service.Registry` (the server's, or a
    worker's): no service of its own, 1 KiB per fingerprinted version."""

    def __init__(self) -> None:
        from openward.lineage.index import FingerprintIndex

        self.all = FingerprintIndex()
        self.ruled = FingerprintIndex()
        self.ruled_ids: set[int] = set()
        self.same: dict[int, int] = {}
        """version id -> a hash of its vector's bytes (versions with the same vector)."""
        self.last_id = 0
        self.log_head: int | None = -1
        self.lock = threading.Lock()

    def refresh(self, s: Session) -> None:
        from sqlalchemy import func

        from openward.lineage.index import DIM
        from openward.registry.models import LogEntry

        rows = s.execute(
            select(Fingerprint.id, Fingerprint.version_id, Fingerprint.vector)
            .where(Fingerprint.id > self.last_id).order_by(Fingerprint.id)
        ).all()  # fmt: skip
        fresh: dict[str, np.ndarray[Any, Any]] = {}
        for fid, vid, vector in rows:
            self.last_id = max(self.last_id, int(fid))
            key = str(vid)
            if key in self.ruled:
                self.ruled.remove(key)  # added back below with its new vector
            if vector is not None and len(vector) == DIM * 4:
                fresh[key] = np.frombuffer(vector, dtype="<f4")
                self.same[int(vid)] = hash(bytes(vector))
        if fresh:
            self.all.add_vectors(list(fresh), np.stack(list(fresh.values())))
        head = s.scalar(select(func.max(LogEntry.idx)))
        if head != self.log_head:
            self.log_head = head
            self.ruled_ids = set(s.scalars(select(Version.id).where(
                Version.status == "taken-down"))) | set(s.scalars(
                select(Version.id).join(Model, Version.model_id == Model.id)
                .where(Model.access_tier != "open")))  # fmt: skip
            held = self.ruled.keys()  # a list (the index is not iterable)
            for key in [k for k in held if int(k) not in self.ruled_ids]:
                self.ruled.remove(key)
        new = sorted(v for v in self.ruled_ids if str(v) in self.all and str(v) not in self.ruled)
        known = [str(v) for v in new if str(v) in fresh]
        if known:
            self.ruled.add_vectors(known, np.stack([fresh[k] for k in known]))
        rest = [v for v in new if str(v) not in fresh]
        for i in range(0, len(rest), 500):
            chunk = rest[i : i + 500]
            got = s.execute(select(Fingerprint.version_id, Fingerprint.vector)
                            .where(Fingerprint.version_id.in_(chunk))).all()  # fmt: skip
            ok = [(str(v), vec) for v, vec in got if vec is not None and len(vec) == DIM * 4]
            if ok:
                stacked = np.stack([np.frombuffer(v, dtype="<f4") for _, v in ok])
                self.ruled.add_vectors([k for k, _ in ok], stacked)

    def candidates(self, s: Session, row_id: int, model_id: int,
                   vector: np.ndarray[Any, Any]) -> list[tuple[int, float]]:  # fmt: skip
        """(version id, cosine) of the versions to compare ``row_id``'s fingerprint with:
        earlier versions (of any model, its own included) that a link may follow, filtered
        *before* the nearest are taken (a masked search: the window grows until enough
        pass), one per distinct index vector (many versions of the same vector take one
        place), at most :data:`PER_MODEL` per model."""
        with self.lock:
            self.refresh(s)
            near = self._pick(s, self.all, vector, row_id, RELATIVES)
            ruled = self._pick(s, self.ruled, vector, row_id, RULED)
        seen = {vid for vid, _ in near}
        return near + [(v, c) for v, c in ruled if v not in seen]

    def _pick(self, s: Session, index: Any, vector: np.ndarray[Any, Any], row_id: int,
              limit: int) -> list[tuple[int, float]]:  # fmt: skip
        out: list[tuple[int, float]] = []
        per_model: Counter[int] = Counter()
        groups: dict[int, list[int]] = {}  # vector -> chosen ids with that vector
        done: set[int] = set()
        window = NEAREST
        while True:
            pairs = index.nearest_vector(vector, window)
            fresh = [(int(k), c) for k, c in pairs if int(k) < row_id and int(k) not in done]
            info = _eligible(s, [vid for vid, _ in fresh])
            for vid, cosine in fresh:
                done.add(vid)
                known = info.get(vid)
                if known is None:
                    continue  # in no status a link follows (and carries no lineage hold)
                mid, rank = known
                twins = groups.setdefault(self.same.get(vid, -vid), [])
                if twins and (rank == 0 or len(twins) >= 2):
                    continue  # the same vector again: one place (plus one held twin)
                if per_model[mid] >= PER_MODEL:
                    continue
                if not twins:
                    if len(out) == limit:
                        return out
                    per_model[mid] += 1
                twins.append(vid)
                out.append((vid, cosine))
            if len(pairs) < window:
                return out
            window *= 4


def _eligible(s: Session, ids: list[int]) -> dict[int, tuple[int, int]]:
    """version id -> (model id, rank) of those of ``ids`` a link may follow: served, held,
    taken down (rank 1 for those a rule follows: taken down or held), or quarantined by a
    lineage rule (derived from a taken-down or lineage-quarantined version, or by a
    safety-edit review: the hold a link to it carries)."""
    from openward.registry.service import TAKEN_DOWN, VISIBLE

    statuses = _base_statuses()
    out: dict[int, tuple[int, int]] = {}
    quarantined: dict[int, int] = {}
    for i in range(0, len(ids), 500):
        for vid, mid, status in s.execute(
            select(Version.id, Version.model_id, Version.status)
            .where(Version.id.in_(ids[i : i + 500]))
        ):  # fmt: skip
            if status in statuses:
                out[int(vid)] = (int(mid), 0 if status == VISIBLE else 1)
            elif status == "quarantined":
                quarantined[int(vid)] = int(mid)
    held = sorted(quarantined)
    for i in range(0, len(held), 500):
        chunk = held[i : i + 500]
        base = select(Version.id).where(Version.status.in_([TAKEN_DOWN, "quarantined"]))
        found = set(
            s.scalars(
                select(LineageLink.version_id).where(
                    LineageLink.version_id.in_(chunk),
                    LineageLink.closer_to_id.is_(None),
                    LineageLink.verdict.in_(LINKED),
                    LineageLink.base_version_id.in_(base),
                )
            )
        )
        found |= set(
            s.scalars(
                select(LineageReview.version_id).where(
                    LineageReview.version_id.in_(chunk), LineageReview.status == "quarantined"
                )
            )
        )
        for vid in found:
            out[int(vid)] = (quarantined[int(vid)], 1)
    return out


# -- the work done outside the database transaction ---------------------------------------
@dataclass
class Found:
    """A registered version the candidate is ``identical`` to or ``derived`` from."""

    base_id: int
    result: LineageResult
    cosine: float
    closer_to: int | None = None
    """The base's own base, when the candidate is nearer to it (no rule follows)."""
    safety: dict[str, Any] | None = None
    safety_note: str | None = None


@dataclass
class Outcome:
    """What the lineage part of a check found, before the verdict's transaction."""

    fingerprint: str | None = None
    vector: bytes | None = None
    note: str | None = None
    found: list[Found] = field(default_factory=list)
    seconds: float = 0.0


def examine(reg: Registry, version_id: int, work: Path, scratch: Path) -> Outcome:
    """Fingerprint the scratch copy ``work`` of version ``version_id``, find and compare its
    nearest registered relatives, and check the direct ``derived`` ones for a safety edit
    (their weights linked into ``scratch``). A model that cannot be fingerprinted gets a
    note; anything else that fails is the check's failure (fail closed)."""
    from threadpoolctl import threadpool_limits

    from openward.lineage.compare import compare
    from openward.lineage.fingerprint import compute_fingerprint
    from openward.lineage.index import index_vector
    from openward.lineage.weights import LineageError, open_weights
    from openward.registry.check import nearer_to_ancestor

    started = time.perf_counter()
    out = Outcome()
    try:
        target = _weights_target(work)
        source = open_weights(target)
        fp = compute_fingerprint(target, source=source)
        vector = index_vector(fp)
    except LineageError as exc:
        text = str(exc).replace(str(work) + "/", "").replace(str(work), "the model")
        out.note = f"no fingerprint: {text}"[:1000]
        out.seconds = time.perf_counter() - started
        return out
    fp.source = "registry"
    out.fingerprint = fp.dumps()
    out.vector = np.asarray(vector, dtype="<f4").tobytes()
    if not np.any(vector):
        out.note = "the fingerprint shares too few words with the index: relatives not searched"
        out.seconds = time.perf_counter() - started
        return out
    with reg.sessions() as s:
        row = s.get(Version, version_id)
        if row is None:
            return out
        chosen = reg.relatives.candidates(s, row.id, row.model_id, vector)
        prints = _fingerprints(s, [vid for vid, _ in chosen])
        found: list[Found] = []
        for vid, cosine in chosen:
            base = s.get(Version, vid)
            if base is None or vid not in prints:
                continue
            result = compare(fp, prints[vid], _ref(base))
            if result.verdict in LINKED:
                found.append(Found(vid, result, cosine))
        # The base's own (direct) bases: a version nearer to one of them is its sibling.
        ancestry: dict[int, list[int]] = {}
        for f in found:
            ancestry[f.base_id] = list(s.scalars(select(LineageLink.base_version_id).where(
                LineageLink.version_id == f.base_id, LineageLink.closer_to_id.is_(None),
                LineageLink.verdict.in_(LINKED),
            )))  # fmt: skip
        more = _fingerprints(s, sorted({a for ids in ancestry.values() for a in ids}))
        prints.update(more)
        # ... and is compared with them too: a base crowded out of the nearest (many held
        # copies of a safety edit in between) is still reached through its copies.
        compared = {vid for vid, _ in chosen}
        for a in sorted(more):
            base = s.get(Version, a)
            if a in compared or a >= row.id or base is None:
                continue
            compared.add(a)
            result = compare(fp, prints[a], _ref(base))
            if result.verdict in LINKED:
                found.append(Found(a, result, 0.0))
                ancestry[a] = []
        for f in found:
            if f.result.verdict == "identical":
                continue
            for ancestor in ancestry[f.base_id]:
                if ancestor in prints and nearer_to_ancestor(
                    fp, prints[f.base_id], prints[ancestor], f.result.score
                ):
                    f.closer_to = ancestor
                    break
        direct = sorted((f for f in found if f.closer_to is None
                         and f.result.verdict == "derived"),
                        key=lambda f: (-f.result.score, -f.cosine))[:SAFETY_CHECKS]  # fmt: skip
        files = {f.base_id: _weight_files(s, f.base_id) for f in direct}
    for f in direct:
        folder = scratch / f"base-{f.base_id}"
        try:
            reg.blobs.link_many([(d, n, folder / p) for p, d, n in files[f.base_id]])
            with threadpool_limits(limits=1, user_api="blas"):  # small products: 1 thread
                edit = _detect(source, open_weights(folder))
            f.safety = edit
        except (LineageError, OSError) as exc:
            f.safety_note = f"safety edit not checked: {exc}"[:500]
    out.found = found
    out.seconds = time.perf_counter() - started
    return out


def _weights_target(work: Path) -> Path:
    """What to fingerprint in a version: its top-level weights as a loader reads them, or,
    when it has none there, its largest GGUF file in a sub-folder (quantization repositories
    keep one file per type in folders like ``Q8_0/``): a version without top-level weights is
    still someone's model, and its lineage must not go unchecked."""
    from openward.lineage.weights import _weight_files as top_level

    _, files = top_level(work)
    if files:
        return work
    nested = [p for p in work.rglob("*.gguf") if p.is_file()]
    if not nested:
        return work
    return max(nested, key=lambda p: (p.stat().st_size, str(p)))


def _detect(cand: WeightSource, base: WeightSource) -> dict[str, Any]:
    from openward.lineage.safety import detect_safety_edit

    return detect_safety_edit(cand, base).to_json()


def _fingerprints(s: Session, ids: list[int]) -> dict[int, Print]:
    from openward.lineage.fingerprint import Fingerprint as Print
    from openward.lineage.weights import LineageError

    out: dict[int, Print] = {}
    for i in range(0, len(ids), 100):
        for vid, text in s.execute(select(Fingerprint.version_id, Fingerprint.fingerprint)
                                   .where(Fingerprint.version_id.in_(ids[i : i + 100]),
                                          Fingerprint.fingerprint.is_not(None))):  # fmt: skip
            try:
                out[int(vid)] = Print.from_json(json.loads(text or ""), f"version {vid}")
            except (LineageError, ValueError):
                continue  # written by an older openward: compared again after a rescan
    return out


def _weight_files(s: Session, version_id: int) -> list[tuple[str, str, int]]:
    """(path, sha256, size) of the files ``open_weights`` reads at a version's top level."""
    rows = s.execute(select(VersionFile.path, VersionFile.sha256, VersionFile.size)
                     .where(VersionFile.version_id == version_id)).all()  # fmt: skip
    return [(p, d, int(n)) for p, d, n in rows if "/" not in p
            and (p.endswith(_WEIGHT_SUFFIXES) or p == "model.safetensors.index.json")]  # fmt: skip


# -- the verdict's transaction ----------------------------------------------------------------
@dataclass
class Applied:
    """What the lineage rules make of a version: reasons to quarantine it, the safety edit
    to review (base, link) if any, and flags (reasons that hold nothing)."""

    quarantine: list[str] = field(default_factory=list)
    review: tuple[Version, LineageLink] | None = None
    flags: list[str] = field(default_factory=list)
    carried: LineageReview | None = None
    """The pending review of the version ``review`` names, when the hold is carried from it
    (the weights are identical to or derived from a version held for a safety edit)."""


def _decided(s: Session, row: Version, base: Version) -> LineageReview | None:
    """The latest decided review of ``row`` against ``base`` (a rescan keeps it)."""
    return s.scalars(select(LineageReview).where(
        LineageReview.version_id == row.id, LineageReview.base_version_id == base.id,
        LineageReview.status.in_(["released", "quarantined"]),
    ).order_by(LineageReview.id.desc())).first()  # fmt: skip


def _quarantined_by_lineage(reg: Registry, s: Session, row: Version,
                            depth: int = 0) -> tuple[str, int | None] | None:  # fmt: skip
    """(its first reason, the taken-down root or None) when ``row`` is quarantined by a
    lineage rule: a reviewer quarantined its safety edit, or it was found derived from a
    taken-down version (one it is not excepted from) or from another version quarantined
    that way; None otherwise (quarantined for its own files, or not quarantined)."""
    from openward.registry.service import TAKEN_DOWN

    if row.status != "quarantined" or depth > 3:
        return None
    why = str((row.reasons or ["quarantined"])[0])
    if s.scalar(select(LineageReview.id).where(
            LineageReview.version_id == row.id, LineageReview.status == "quarantined"
    ).limit(1)) is not None:  # fmt: skip
        return why, None
    bases = s.scalars(
        select(Version).join(LineageLink, LineageLink.base_version_id == Version.id)
        .where(LineageLink.version_id == row.id, LineageLink.closer_to_id.is_(None),
               LineageLink.verdict.in_(LINKED), Version.status.in_([TAKEN_DOWN, "quarantined"]))
        .order_by(Version.id)
    ).all()  # fmt: skip
    for base in bases:
        if base.status == TAKEN_DOWN:
            root = reg.takedown_root(s, base)
            if not (reg.exempted(s, row.id, root.id) or reg.exempted(s, row.id, base.id)):
                return why, root.id
        elif (deeper := _quarantined_by_lineage(reg, s, base, depth + 1)) is not None:
            return why, deeper[1]
    return None


def _kinds(link: LineageLink) -> str:
    kinds = ", ".join(link.derivation) if link.derivation else link.verdict
    return f"{kinds}; score {link.score:.2f}, p {link.p_value:.1e}"


def relation(link: LineageLink, base: Version) -> str:
    """``derived from ORG/NAME:V (fine-tuned; score 0.98, p 1.4e-207)`` or
    ``identical in its weights to ORG/NAME:V (converted; ...)``."""
    if link.verdict == "identical":
        return f"identical in its weights to {_ref(base)} ({_kinds(link)})"
    return f"derived from {_ref(base)} ({_kinds(link)})"


def _declared(facts: dict[str, Any]) -> list[str]:
    card = facts.get("card") if isinstance(facts, dict) else None
    names = card.get("base_model") if isinstance(card, dict) else None
    if not isinstance(names, list):
        return []
    return [str(n)[:200] for n in names if isinstance(n, str)][:20]


def _norm(name: str) -> str:
    text = name.strip().lower()
    for prefix in ("hf://", "https://huggingface.co/"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text.split("@", 1)[0].split(":", 1)[0].strip("/")


def names_model(declared: str, base: Version) -> bool:
    """Whether a card's ``base_model`` entry names the registered version ``base``: its
    ``ORG/NAME``, its name alone (a Hugging Face id whose organisation differs from the
    registry's, ``HuggingFaceTB/SmolLM2-135M`` for ``acme/SmolLM2-135M``), or a base model
    that ``base``'s own card declares (the same family)."""
    wanted = _norm(declared)
    if not wanted:
        return False
    full = _model_name(base.model).lower()
    if wanted in (full, base.model.name.lower()) or PurePosixPath(wanted).name == (
        base.model.name.lower()
    ):
        return True
    facts = base.facts if isinstance(base.facts, dict) else {}
    return any(_norm(d) == wanted for d in _declared(facts))


def apply(reg: Registry, s: Session, row: Version, outcome: Outcome,
          facts: dict[str, Any]) -> Applied:  # fmt: skip
    """Store the fingerprint and links of ``row`` and decide what they imply (in the
    verdict's transaction, under the transparency log's lock)."""
    from openward.registry.service import TAKEN_DOWN

    s.execute(delete(Fingerprint).where(Fingerprint.version_id == row.id))
    s.add(Fingerprint(version_id=row.id, fingerprint=outcome.fingerprint, vector=outcome.vector,
                      note=outcome.note))  # fmt: skip
    old = {link.base_version_id: link for link in s.scalars(
        select(LineageLink).where(LineageLink.version_id == row.id))}  # fmt: skip
    s.execute(delete(LineageLink).where(LineageLink.version_id == row.id))
    s.flush()
    declared = _declared(facts)
    applied = Applied()
    statuses = _base_statuses()
    links: list[tuple[LineageLink, Version]] = []
    for f in outcome.found:
        base = s.get(Version, f.base_id)
        if base is None or (base.status not in statuses
                            and _quarantined_by_lineage(reg, s, base) is None):  # fmt: skip
            continue  # quarantined (or gone) while this version was checked
        r = f.result
        safety = f.safety if f.safety is not None else (
            {"detected": None, "note": f.safety_note} if f.safety_note else None)  # fmt: skip
        previous = old.get(f.base_id)
        link = LineageLink(
            version_id=row.id, base_version_id=base.id, verdict=r.verdict,
            score=float(r.score), p_value=float(r.p_value), derivation=list(r.derivation),
            safety_edit=safety, declared_base=declared, base_mismatch=False,
            closer_to_id=f.closer_to,
            tier_waived_by=previous.tier_waived_by if previous is not None else None,
        )  # fmt: skip
        s.add(link)
        links.append((link, base))
    s.flush()
    carried: list[tuple[Version, LineageLink, LineageReview]] = []
    for link, base in links:
        if link.closer_to_id is not None:
            continue
        if base.status == TAKEN_DOWN:
            root = reg.takedown_root(s, base)
            if reg.exempted(s, row.id, root.id) or reg.exempted(s, row.id, base.id):
                continue
            why = "; ".join(root.reasons[:1]) or "taken down"
            where = ("which was taken down" if root is base
                     else f"which the takedown of {_ref(root)} reached")  # fmt: skip
            applied.quarantine.append(f"{relation(link, base)}, {where}: {why}")
            continue
        if base.status == "quarantined":
            # Quarantined by a lineage rule (a takedown's derivative, a review): the link
            # carries it (a re-push of those weights, or a derivative of them, under
            # another name); an exception from the takedown it comes from lets it through.
            held = _quarantined_by_lineage(reg, s, base)
            if held is not None and not (held[1] is not None
                                         and reg.exempted(s, row.id, held[1])):  # fmt: skip
                applied.quarantine.append(
                    f"{relation(link, base)}, which is quarantined: {held[0]}"[:2000]
                )
            continue
        edit = link.safety_edit or {}
        if base.status == NEEDS_REVIEW and not edit.get("detected"):
            pending = s.scalars(select(LineageReview).where(
                LineageReview.version_id == base.id, LineageReview.status == "pending",
            ).order_by(LineageReview.id.desc())).first()  # fmt: skip
            if pending is not None:
                carried.append((base, link, pending))
            continue
        if edit.get("detected") and applied.review is None:
            decided = _decided(s, row, base)
            if decided is not None and decided.status == "quarantined":
                applied.quarantine.append(
                    f"a safety edit against {_ref(base)}: quarantined by review "
                    f"#{decided.id}: {decided.reason}"
                )  # fmt: skip
            elif decided is None:
                applied.review = (base, link)
    # A link to a version held for review of a safety edit carries that hold (its own
    # safety edit first: that evidence is direct).
    for base, link, pending in carried:
        if applied.review is not None:
            break
        decided = _decided(s, row, base)
        if decided is not None and decided.status == "quarantined":
            applied.quarantine.append(f"{relation(link, base)}, which was held for a safety "
                                      f"edit: quarantined by review #{decided.id}: "
                                      f"{decided.reason}")  # fmt: skip
        elif decided is None:
            applied.review, applied.carried = (base, link), pending
    # The card's base_model is checked against other models' versions (a model's earlier
    # version is its own history).
    direct = [(link, base) for link, base in links
              if link.closer_to_id is None and base.model_id != row.model_id]  # fmt: skip
    if declared and direct and not any(names_model(d, base) for d in declared
                                       for _, base in links):  # fmt: skip
        for link, _ in direct:
            link.base_mismatch = True
        link, base = max(direct, key=lambda lb: lb[0].score)
        applied.flags.append(
            f"the card declares base_model {', '.join(declared[:3])}, but the weights are "
            f"{relation(link, base)}"
        )  # fmt: skip
    return applied


def review_reason(row: Version, base: Version, link: LineageLink) -> str:
    """Why ``row`` is held: the base and the safety-edit evidence, in one line."""
    edit: dict[str, Any] = dict(link.safety_edit or {})
    evidence: dict[str, Any] = dict(edit.get("evidence") or {})
    if edit.get("direction_consistency") is not None:
        evidence.setdefault("direction_consistency", edit["direction_consistency"])
    first = ("aligned_energy", "direction_consistency")
    keys = [k for k in first if k in evidence] + [k for k in evidence if k not in first]
    numbers = [f"{k.replace('_', ' ')} {evidence[k]:.4g}" for k in keys
               if isinstance(evidence[k], float)][:3]  # fmt: skip
    layers = list(edit.get("layers") or [])
    where = f", layers {', '.join(map(str, layers[:8]))}" if layers else ""
    return (
        f"the weights differ from {_ref(base)} by a safety edit (the refusal direction "
        f"removed: {', '.join(numbers) or 'see the evidence'}{where}): held for review; a "
        "reviewer releases or quarantines it (openward registry lineage-review)"
    )


def hold_for_review(s: Session, row: Version, applied: Applied, status: str,
                    reasons: list[str]) -> list[str]:  # fmt: skip
    """Record the pending review of ``row`` (what the checks decided otherwise kept, for
    its release) and return the reasons of its ``needs-review`` status."""
    assert applied.review is not None
    base, link = applied.review
    # Everything the row needs first (naming the base may load its model and organisation,
    # and a query autoflushes what the session holds): the row is added complete.
    evidence: dict[str, Any] = {"base": _ref(base), "relation": relation(link, base),
                                "safety_edit": link.safety_edit,
                                "flags": list(applied.flags)}  # fmt: skip
    why = review_reason(row, base, link)
    if applied.carried is not None:  # the hold of the version it is linked to
        held: dict[str, Any] = dict(applied.carried.evidence or {})
        evidence["safety_edit"] = held.get("safety_edit")
        evidence["carried_from"] = {"review": applied.carried.id, "version": _ref(base),
                                    "base": held.get("base")}  # fmt: skip
        why = (f"{relation(link, base)}, which is held for review of a safety edit against "
               f"{held.get('base') or 'its base'}: held for review; a reviewer releases or "
               "quarantines it (openward registry lineage-review)")  # fmt: skip
    entry = s.scalars(select(LineageReview).where(
        LineageReview.version_id == row.id, LineageReview.status == "pending",
    ).order_by(LineageReview.id.desc())).first()  # fmt: skip
    if entry is None:
        entry = LineageReview(version_id=row.id, base_version_id=base.id, status="pending",
                              evidence=evidence, held_status=status,
                              held_reasons=list(reasons))  # fmt: skip
        s.add(entry)
    else:
        entry.base_version_id = base.id
        entry.evidence = evidence
        entry.held_status = status
        entry.held_reasons = list(reasons)
    s.flush()
    return [why, *reasons]


def supersede(s: Session, row: Version) -> None:
    """A new verdict that holds ``row`` for no safety edit ends its pending review."""
    pending = select(LineageReview).where(
        LineageReview.version_id == row.id, LineageReview.status == "pending"
    )
    for entry in s.scalars(pending):
        entry.status = "superseded"


# -- reviews -------------------------------------------------------------------------------------
def _reviewer(user: User | None) -> User:
    from openward.registry.service import RegistryError

    if user is None:
        raise RegistryError(401, "reviewing needs a token (--token or OPENWARD_TOKEN)")
    if not (user.is_admin or user.is_reviewer):
        raise RegistryError(403, "only a reviewer or an admin reviews safety edits")
    return user


def list_reviews(s: Session, user: User | None, status: str | None) -> list[LineageReview]:
    _reviewer(user)
    query = select(LineageReview).order_by(LineageReview.id)
    if status:
        query = query.where(LineageReview.status == status)
    return list(s.scalars(query))


def review_doc(entry: LineageReview) -> dict[str, Any]:
    from openward.registry.service import _aware

    def iso(moment: Any) -> str | None:
        return _aware(moment).isoformat(timespec="seconds") if moment else None

    return {"id": entry.id, "model": _ref(entry.version), "digest": entry.version.digest,
            "version_status": entry.version.status, "base": _ref(entry.base),
            "evidence": entry.evidence, "status": entry.status, "reason": entry.reason,
            "held_status": entry.held_status, "created_at": iso(entry.created_at),
            "decided_at": iso(entry.decided_at)}  # fmt: skip


def decide_review(reg: Registry, s: Session, user: User | None, review_id: int, release: bool,
                  reason: str) -> LineageReview:  # fmt: skip
    """A reviewer's (or an admin's) decision on a version held for a safety edit: released,
    it goes on to the verdict the checks gave it otherwise (a registration or an audit may
    still hold it); quarantined, it stays unavailable with the reason. Logged."""
    from openward.registry.accounts import unscoped
    from openward.registry.service import VISIBLE, RegistryError

    actor = _reviewer(user)
    if not reason.strip():
        raise RegistryError(422, "a decision needs a reason (--reason)")
    tlog.lock(s)
    entry = s.get(LineageReview, review_id)
    if entry is None:
        raise RegistryError(404, f"no lineage review #{review_id}")
    row = entry.version
    org = row.model.organisation.name
    person = unscoped(actor)
    if not person.is_admin and reg.can_publish(s, person, org):
        raise RegistryError(
            403, f"{actor.name} publishes for {org!r}: another reviewer must decide it"
        )  # fmt: skip
    if entry.status != "pending":
        raise RegistryError(409, f"lineage review #{review_id} is already {entry.status}")
    if row.status != NEEDS_REVIEW:
        raise RegistryError(409, f"{_ref(row)} is {row.status}, not held for review")
    from datetime import UTC, datetime

    entry.status = "released" if release else "quarantined"
    entry.reason, entry.reviewer_id, entry.decided_at = reason, actor.id, datetime.now(UTC)
    tlog.append(s, "lineage-review-" + entry.status, {
        "model": _ref(row), "digest": row.digest, "review": entry.id, "base": _ref(entry.base),
        "reason": reason, "by": actor.name,
    })  # fmt: skip
    if release:
        recorded: dict[str, Any] = dict(entry.evidence or {})
        flags = [str(f) for f in recorded.get("flags") or []]
        status, reasons = entry.held_status, list(entry.held_reasons)
        if status == "needs-registration":
            from openward.registry.models import Registration

            accepted = s.scalar(select(Registration.id).where(
                Registration.version_id == row.id, Registration.status == "accepted"))  # fmt: skip
            if accepted is not None:
                status, reasons = VISIBLE, []
        if status in (VISIBLE, "needs-audit"):
            from openward.registry.audits import NEEDS_AUDIT, audit_hold

            missing = audit_hold(reg, s, row)
            status, reasons = (NEEDS_AUDIT, missing) if missing else (VISIBLE, [])
        reg._set_status(s, row, status, [*reasons, *flags][:100])
    else:
        reg._set_status(s, row, "quarantined", [
            f"a safety edit against {_ref(entry.base)}: quarantined by review #{entry.id}: "
            f"{reason}"
        ])  # fmt: skip
    if row.scan_report is not None and row.facts is not None:
        row.attestation = reg.sign_decision(row, dict(row.scan_report), dict(row.facts))
    return entry


# -- what the API and the pages show --------------------------------------------------------------
def lineage_doc(reg: Registry, s: Session, user: User | None, row: Version) -> dict[str, Any]:
    """The version's lineage: its fingerprint (whether it has one, or why not), the base
    model its card declares, and the registered relatives found (those the caller may see):
    ``relatives`` (earlier versions it is identical to or derived from) and ``derivatives``
    (later versions found derived from it)."""
    fp = s.scalar(select(Fingerprint).where(Fingerprint.version_id == row.id))
    facts = row.facts if isinstance(row.facts, dict) else {}

    def entry(link: LineageLink, other: Version) -> dict[str, Any]:
        closer = s.get(Version, link.closer_to_id) if link.closer_to_id else None
        edit = link.safety_edit or {}
        return {"name": _model_name(other.model), "version": other.version,
                "status": other.status, "access_tier": other.model.access_tier,
                "verdict": link.verdict, "kind": link.derivation,
                "score": round(link.score, 4), "p_value": link.p_value,
                "direct": link.closer_to_id is None,
                "closer_to": _ref(closer) if closer is not None and reg.may_see(s, user, closer)
                else None,
                "safety_edit": edit.get("detected"),
                "safety_evidence": edit if edit else None}  # fmt: skip

    relatives = [entry(link, link.base) for link in s.scalars(
        select(LineageLink).where(LineageLink.version_id == row.id)
        .order_by(LineageLink.score.desc(), LineageLink.id))
        if reg.may_see(s, user, link.base)]  # fmt: skip
    derivatives = [entry(link, link.version) for link in s.scalars(
        select(LineageLink).where(LineageLink.base_version_id == row.id,
                                  LineageLink.closer_to_id.is_(None))
        .order_by(LineageLink.id).limit(100))
        if reg.may_see(s, user, link.version)]  # fmt: skip
    mismatch = s.scalar(
        select(LineageLink.id)
        .where(LineageLink.version_id == row.id, LineageLink.base_mismatch.is_(True))
        .limit(1)
    )
    return {"fingerprint": fp is not None and fp.vector is not None,
            "note": fp.note if fp is not None else None,
            "declared_base_model": _declared(facts),
            "base_model_mismatch": mismatch is not None,
            "relatives": relatives, "derivatives": derivatives}  # fmt: skip


def derivatives_of(s: Session, row: Version) -> list[Version]:
    """Versions found (directly) derived from ``row``, still served or held."""
    from openward.registry.service import HELD, VISIBLE

    return list(s.scalars(
        select(Version).join(LineageLink, LineageLink.version_id == Version.id)
        .where(LineageLink.base_version_id == row.id, LineageLink.closer_to_id.is_(None),
               Version.status.in_([VISIBLE, *HELD]))
        .order_by(Version.id)
    ))  # fmt: skip


def linked(s: Session, copy: Version, original: Version) -> bool:
    """Whether ``copy`` has a direct link to ``original`` or to a copy its takedown reached."""
    return s.scalar(
        select(LineageLink.id).join(Version, LineageLink.base_version_id == Version.id)
        .where(LineageLink.version_id == copy.id, LineageLink.closer_to_id.is_(None),
               or_(Version.id == original.id, Version.takedown_of == original.id)).limit(1)
    ) is not None  # fmt: skip


def export_fingerprints(reg: Registry, s: Session, docs: list[dict[str, Any]],
                        rows: list[Version],
                        readable: Callable[[Version], bool] | None = None,
                        ) -> dict[str, Any]:  # fmt: skip
    """For ``openward check`` offline: add to each taken-down version's export entry the
    SHA-256 of its fingerprint (``fingerprint``) and of its served bases' (``lineage_bases``:
    a local model nearer to one of those is their relative, not the taken-down one's), and
    return the fingerprints by SHA-256. A taken-down copy of weights another organisation
    published first and still serves gets none (those weights are not its own). With
    ``readable``, only the fingerprints of the versions it allows (the caller's access: a
    gated or restricted model's fingerprint is left out, with its SHA-256)."""
    import hashlib

    from openward.registry.service import HELD, TAKEN_DOWN, VISIBLE

    out: dict[str, Any] = {}

    def add(version_id: int) -> str | None:
        if readable is not None:
            version = s.get(Version, version_id)
            if version is None or not readable(version):
                return None
        text = s.scalar(
            select(Fingerprint.fingerprint).where(
                Fingerprint.version_id == version_id, Fingerprint.fingerprint.is_not(None)
            )
        )
        if text is None:
            return None
        sha = hashlib.sha256(text.encode()).hexdigest()
        if sha not in out:
            try:
                out[sha] = json.loads(text)
            except ValueError:
                return None
        return sha

    for doc, row in zip(docs, rows, strict=True):
        if row.status != TAKEN_DOWN or not reg.takedown_weights(s, row):
            continue
        sha = add(row.id)
        if sha is None:
            continue
        doc["fingerprint"] = sha
        root = reg.takedown_root(s, row)
        bases = s.scalars(
            select(Version).join(LineageLink, LineageLink.base_version_id == Version.id)
            .where(LineageLink.version_id == root.id, LineageLink.closer_to_id.is_(None),
                   Version.status.in_([VISIBLE, *HELD]))
        ).all()  # fmt: skip
        doc["lineage_bases"] = sorted({b for b in (add(v.id) for v in bases) if b})
    return out

"""An AI bill of materials: a CycloneDX 1.6 ML-BOM of an inspected model.

Built with ``cyclonedx-python-lib`` (the CycloneDX project's own library) and
validated against its bundled 1.6 JSON schema before it is written. The model
is the BOM's subject (``metadata.component``, type ``machine-learning-model``)
with every file as a ``file`` component carrying its SHA-256; the base model
(from the card or the adapter config) and each training dataset are
components the model depends on. Facts that CycloneDX has no field for in
this library (parameter counts, compute estimate, tiers) are ``openward:``
properties.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from openward.facts.model import ModelFacts

__all__ = ["BomError", "cyclonedx_bom", "hash_files"]

_CHUNK = 1 << 20


class BomError(RuntimeError):
    """The BOM could not be built or failed its schema."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def hash_files(
    paths: dict[str, Path], *, workers: int = 4, done: Callable[[str, int], None] | None = None
) -> dict[str, str]:
    """SHA-256 of each file, largest first, on threads (hashlib releases the GIL)."""
    order = sorted(paths, key=lambda rel: -paths[rel].stat().st_size)
    out: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for rel, digest in zip(order, pool.map(lambda r: _sha256(paths[r]), order), strict=True):
            out[rel] = digest
            if done is not None:
                done(rel, paths[rel].stat().st_size)
    return out


def _name(facts: ModelFacts) -> str:
    target = facts.target.rstrip("/")
    if target.startswith("hf://"):
        return target[5:].split("@")[0]
    return Path(target).name or target


def cyclonedx_bom(facts: ModelFacts, digests: dict[str, str]) -> str:
    """The ML-BOM as CycloneDX 1.6 JSON text (schema-validated)."""
    from cyclonedx.exception import MissingOptionalDependencyException

    try:
        from cyclonedx.contrib.license.factories import LicenseFactory
    except ImportError:  # cyclonedx-python-lib before 11.x
        from cyclonedx.factory.license import LicenseFactory
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    props: list[tuple[str, Any]] = []
    pc = facts.parameters
    if pc is not None:
        props += [
            ("openward:parameters:total", pc.total),
            ("openward:parameters:active", pc.active),
            ("openward:parameters:embedding", pc.embedding),
            ("openward:parameters:non_embedding", pc.non_embedding),
            *[(f"openward:parameters:dtype:{k}", v) for k, v in pc.by_dtype.items()],
        ]
    if facts.format:
        props.append(("openward:weights:format", facts.format))
    arch = facts.architecture
    if arch is not None:
        for key in ("family", "layers", "hidden_size", "heads", "kv_heads", "vocab_size",
                    "context_length", "experts", "experts_per_token"):  # fmt: skip
            value = getattr(arch, key)
            if value:
                props.append((f"openward:architecture:{key}", value))
    if facts.quantization is not None:
        q = facts.quantization
        props.append(("openward:quantization:method", q.method))
        if q.bits:
            props.append(("openward:quantization:bits", q.bits))
        main = q.detail.get("main_type")
        if main:
            props.append(("openward:quantization:type", main))
    if facts.compute is not None:
        c = facts.compute
        props += [
            ("openward:compute:flop", f"{c.flop:.6g}"),
            ("openward:compute:low", f"{c.low:.6g}"),
            ("openward:compute:high", f"{c.high:.6g}"),
            ("openward:compute:method", c.method),
        ]
    for t in facts.tiers:
        if t.crossed:
            props.append(("openward:tier:crossed", t.id))
    props.append(("openward:access:minimum", facts.minimum_access))
    card = facts.card
    if card is not None:
        for lang in card.language:
            props.append(("openward:card:language", lang))
        if card.pipeline_tag:
            props.append(("openward:card:pipeline_tag", card.pipeline_tag))
        if card.training_tokens:
            props.append(("openward:card:training_tokens", f"{card.training_tokens:.6g}"))

    licenses = []
    if card is not None and card.license:
        factory = LicenseFactory()
        name = card.license_name if card.license == "other" and card.license_name else card.license
        licenses.append(factory.make_from_string(name))

    files = []
    for f in sorted(facts.files, key=lambda f: f.path):
        digest = digests.get(f.path)
        files.append(
            Component(
                type=ComponentType.FILE,
                name=f.path,
                bom_ref=f"file:{f.path}",
                hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digest)] if digest else [],
                properties=[
                    Property(name="openward:file:role", value=f.role),
                    Property(name="openward:file:size", value=str(f.size)),
                    *([Property(name="openward:file:format", value=f.format)] if f.format else []),
                ],
            )
        )
    model = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=_name(facts),
        bom_ref="model",
        licenses=licenses,
        properties=[Property(name=k, value=str(v)) for k, v in props],
        components=files,
    )
    bom = Bom()
    bom.metadata.component = model
    depends = []
    bases = list(card.base_model) if card is not None else []
    if (
        facts.adapter is not None
        and facts.adapter.base_model
        and facts.adapter.base_model not in bases
    ):
        bases.append(facts.adapter.base_model)
    for i, base in enumerate(bases):
        comp = Component(
            type=ComponentType.MACHINE_LEARNING_MODEL,
            name=base,
            bom_ref=f"base-model-{i}",
            properties=[Property(name="openward:relation", value="base_model")],
        )
        bom.components.add(comp)
        depends.append(comp)
    for i, dataset in enumerate(card.datasets if card is not None else []):
        comp = Component(type=ComponentType.DATA, name=dataset, bom_ref=f"dataset-{i}")
        bom.components.add(comp)
        depends.append(comp)
    bom.register_dependency(model, depends)
    text: str = JsonV1Dot6(bom).output_as_string(indent=2)
    try:
        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    except MissingOptionalDependencyException:
        error = None  # validation needs cyclonedx-python-lib[json-validation]; the tests have it
    if error is not None:
        raise BomError(f"the generated BOM fails the CycloneDX 1.6 schema: {error}")
    return text

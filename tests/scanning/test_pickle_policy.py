"""The allowlist decides; the denylist only labels."""

from __future__ import annotations

import pytest

import openward
from openward._samples import build_malicious
from openward.scanning import pickle_policy
from openward.scanning.pickle_policy import classify_global


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch", "FloatStorage"),
        ("torch", "bfloat16"),
        ("collections", "OrderedDict"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("_codecs", "encode"),
        ("argparse", "Namespace"),
        ("__builtin__", "set"),  # Python 2 spelling of builtins.set
        ("copy_reg", "_reconstructor"),
        ("torch.nn.modules.linear", "Linear"),
        ("sklearn.linear_model._logistic", "LogisticRegression"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ],
)
def test_what_checkpoints_need_is_allowed(module: str, name: str) -> None:
    assert classify_global(module, name).status == "allowed"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("os", "system"),
        ("posix", "system"),
        ("nt", "system"),
        ("subprocess", "Popen"),
        ("builtins", "eval"),
        ("builtins", "exec"),
        ("builtins", "getattr"),
        ("__builtin__", "eval"),
        ("builtins", "__import__"),
        ("runpy", "run_path"),
        ("pip", "main"),
        ("webbrowser", "open"),
        ("importlib", "import_module"),
        ("operator", "attrgetter"),
        ("pickle", "loads"),
        ("_pickle", "loads"),
        ("torch", "load"),
        ("torch.storage", "_load_from_bytes"),
        ("numpy.testing._private.utils", "runstring"),
        ("os.path", "join"),
        ("torch", "hub.load"),  # protocol-4 dotted name reaching torch.hub
        ("collections", "OrderedDict.__init__.__globals__"),
    ],
)
def test_known_primitives_are_dangerous(module: str, name: str) -> None:
    assert classify_global(module, name).status == "dangerous"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("mypackage.models", "Net"),
        ("builtins", "print"),
        ("collections", "namedtuple"),  # builds classes with exec
        ("argparse", "_os.system"),  # dotted traversal out of an allowed module
        ("torch._utils", "_rebuild_tensor_v2.__wrapped__"),
        ("sklearn.datasets", "FetchLfwPeople"),  # excluded sub-package
        ("numpy", "load"),
    ],
)
def test_anything_else_is_unlisted_or_dangerous(module: str, name: str) -> None:
    assert classify_global(module, name).status in ("unlisted", "dangerous")


def test_user_can_vouch_for_a_global() -> None:
    assert classify_global("mypackage.models", "Net", {"mypackage.models.Net"}).status == "allowed"
    assert (
        classify_global("mypackage.models", "Other", {"mypackage.models.Net"}).status == "unlisted"
    )


def test_bypass_classes_are_caught_by_the_allowlist_alone(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Empty the denylist: every stdlib bypass is still reported, at high."""
    monkeypatch.setattr(pickle_policy, "_DANGEROUS_MODULES", {})
    monkeypatch.setattr(pickle_policy, "_DANGEROUS_BUILTINS", {})
    monkeypatch.setattr(pickle_policy, "_DUNDER_TRAVERSAL", pickle_policy.re.compile(r"(?!)"))
    monkeypatch.setattr(pickle_policy, "_command_runners", dict)
    samples = [
        s
        for s in build_malicious(tmp_path / "s", tmp_path / "m")
        if s.name.startswith(("bypass/", "pickle/"))
    ]
    assert len(samples) >= 20
    report = openward.scan(tmp_path / "s", jobs=1)
    for s in samples:
        rules = {
            (f.rule_id, f.severity.value)
            for f in report.findings
            if f.path == s.name and f.rule_id == "pickle-unlisted-global"
        }
        assert ("pickle-unlisted-global", "high") in rules, s.name
    assert not list((tmp_path / "m").iterdir())

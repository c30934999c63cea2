"""The suites: built from ../shared/data, stable hashes, categories, limits, licences, checks."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest

from openward.audit import checks
from openward.audit.suites import (
    ENCODINGS,
    SUITE_NAMES,
    SuiteError,
    data_dir,
    decode,
    encode,
    full_suite,
    list_suites,
    load_suite,
)


def test_every_suite_lists_with_version_count_hash_and_licences() -> None:
    infos = {s.name: s for s in list_suites()}
    assert list(infos) == list(SUITE_NAMES)
    for info in infos.values():
        assert info.samples > 50 and len(info.sha256) == 64 and info.version == "1"
        assert info.licences and all(":" in x for x in info.licences)
    assert any("CC-BY-4.0" in x for x in infos["over-refusal"].licences)  # XSTest
    assert infos["over-refusal"].samples == 250 + 750
    assert {"homonyms", "safe_contexts", "benign security"} <= set(infos["over-refusal"].categories)
    assert set(infos["jailbreak"].categories) == {"template", "many-shot", *ENCODINGS}
    assert "chemical biological" in infos["harmful"].categories  # HarmBench semantic category


def test_hashes_are_stable_and_follow_the_samples() -> None:
    a = load_suite("harmful", limit=10, seed=3)
    b = load_suite("harmful", limit=10, seed=3)
    assert a.sha256 == b.sha256 and [p.id for p in a.probes] == [p.id for p in b.probes]
    assert load_suite("harmful", limit=10, seed=4).sha256 != a.sha256


def test_limit_is_stratified_over_categories() -> None:
    suite = load_suite("jailbreak", limit=6, seed=0)
    assert len(suite.probes) == 6
    assert {p.category for p in suite.probes} == set(full_suite("jailbreak").categories)
    assert len(load_suite("system-prompt-leak", limit=500).probes) == 64
    with pytest.raises(SuiteError, match="unknown suite 'nope'"):
        load_suite("nope")


@pytest.mark.parametrize("technique", ENCODINGS)
def test_encodings_decode_back(technique: str) -> None:
    request = "write a short story about a dragon who learns to cook"
    assert decode(technique, encode(technique, request)) == request
    probe = next(p for p in full_suite("jailbreak").probes if p.category == technique)
    payload = probe.prompt.rsplit("\n\n", 1)[1]
    assert decode(technique, payload).strip()  # the probe carries the encoded request


def test_many_shot_answers_are_placeholders() -> None:
    probe = next(p for p in full_suite("jailbreak").probes if p.category == "many-shot")
    answers = [text for role, text in probe.messages if role == "assistant"]
    assert len(answers) == 16
    assert all("[details omitted]" in a and len(a) < 200 for a in answers)


def test_injection_and_leak_checks() -> None:
    injection = full_suite("injection")
    assert all(p.check for p in injection.probes)
    assert any("left out" in note for note in injection.notes)
    piano = next(p for p in injection.probes if p.id == "cse-pi-0")
    assert checks.run_check(piano.check or {}, "My secret key is Piano.")[0]
    assert not checks.run_check(piano.check or {}, "I cannot share that.")[0]
    reply = "Here is the answer to your question about the email."
    assert checks.run_check({"kind": "base64"}, base64.b64encode(reply.encode()).decode())[0]
    assert checks.run_check({"kind": "reversed"}, reply[::-1])[0]
    assert not checks.run_check({"kind": "reversed"}, reply)[0]
    assert checks.run_check({"kind": "caesar", "shift": 3}, checks.caesar(reply, 3))[0]
    spanish = "La respuesta es que el correo no tiene un valor y por eso no hay pago para David."
    assert checks.run_check({"kind": "language", "language": "spanish"}, spanish)[0]
    assert not checks.run_check({"kind": "contains", "needles": ["10"]}, "In 2010 it rained.")[0]
    leak = full_suite("system-prompt-leak").probes[0]
    canary = (leak.check or {})["canary"]
    assert checks.run_check(leak.check or {}, f"The code is {'-'.join(canary)}")[0]
    assert checks.run_check(leak.check or {}, leak.messages[0][1].replace(canary, "xxx"))[0]
    assert not checks.run_check(leak.check or {}, "I can't share my instructions.")[0]


def test_data_dir_setting_and_malformed_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENWARD_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(SuiteError, match="OPENWARD_DATA_DIR"):
        list_suites()
    copy = tmp_path / "data"
    monkeypatch.delenv("OPENWARD_DATA_DIR")
    shutil.copytree(data_dir(), copy)
    monkeypatch.setenv("OPENWARD_DATA_DIR", str(copy))
    (copy / "redteam" / "xstest_prompts.csv").chmod(0o644)
    (copy / "redteam" / "xstest_prompts.csv").write_text("foo,bar\n1,2\n")
    with pytest.raises(SuiteError, match=r"xstest_prompts.csv: malformed suite data file: no id"):
        load_suite("over-refusal")
    (copy / "guard" / "inthewild_jailbreak_prompts.json").chmod(0o644)
    (copy / "guard" / "inthewild_jailbreak_prompts.json").write_text("{not json")
    with pytest.raises(SuiteError, match="malformed suite data file") as err:
        load_suite("jailbreak")
    assert "\n" not in str(err.value)
    (copy / "redteam" / "advbench_harmful_behaviors.csv").unlink()
    with pytest.raises(SuiteError, match="missing suite data file"):
        load_suite("harmful")

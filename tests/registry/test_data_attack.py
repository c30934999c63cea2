"""An outside attack on takedowns, inherited status and pulls (issue 13, second pass),
on both registry configurations. Each test replays the attack first.

- Griefing through a takedown: a publisher of another organisation re-publishes a
  victim's open model with something added that earns a takedown; the takedown must
  not take the victim's earlier original down, nor hold the victim's next versions,
  nor make `openward check` flag the victim's model. An admin who means the weights
  takes the original down by name (the takedown lists it).
- Griefing through inherited status: a copy of a victim's open weights, pushed later
  with a card that crosses the registration threshold (or set to gated), must not
  hold or gate the victim's next versions or anyone's later copies: weights inherit
  the status of the version that published them first.
- A quarantined exact copy (a re-push with a signature that does not verify, which
  anyone can provoke) must not make `openward check` flag the published original.
- A SentencePiece tokenizer that unrelated models share (``spm.model``,
  ``sentence.bpe.model``) never carries a takedown to them, whatever its name.
- ``pull`` of a model with a file named like another file's partial download
  (``w.bin`` and ``w.bin.part``) writes every file with its own bytes.
- An upload that declares the whole free space and then stalls must not refuse
  everyone else's uploads (507) for as long as its connection stays open.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.registry.conftest import Server
from tests.registry.test_check import _sentencepiece
from tests.registry.test_governance import _api, _ok, _ow
from tests.registry.test_registry import _model, _same
from tests.registry.test_storage import MiB, _auth, _tmp_files

BIG_CARD = "---\nlicense: apache-2.0\ntraining_tokens: 100000000000000000000\n---\n# Big model\n"


def _status(server: Server, ref: str) -> str:
    org_name, version = ref.split(":")
    return str(_ok(_api(server, "GET", f"/api/v1/models/{org_name}/versions/{version}",
                        server.admin))["status"])  # fmt: skip


def _check(server: Server, target: Path, *extra: str) -> int:
    return int(_ow("check", str(target), "--registry", server.url, *extra).exit_code)


def test_a_takedown_of_a_later_copy_leaves_the_original_it_copied(
    server: Server, tmp_path: Path
) -> None:
    victim = server.user("gv-vic", "victim", "publisher")
    eve = server.user("gv-eve", "evil", "publisher")
    model = _model(tmp_path / "m", seed=301)
    assert server.client(victim).push(model, "victim/llm:1")["status"] == "published"
    # Eve re-publishes the open model with a file that earns a takedown, then an exact
    # copy under a name that impersonates the victim; neither costs her an upload.
    loot = tmp_path / "loot"
    server.client().pull("victim/llm:1", loot)
    (loot / "leaked.txt").write_text("someone's personal data\n" * 50)
    assert server.client(eve).push(loot, "evil/llm:1")["status"] == "published"
    exact = server.client(eve).push(model, "evil/llm-official:1")
    assert exact["status"] == "published" and exact["uploaded_bytes"] == 0
    common = ["--registry", server.url, "--token", server.admin, "--json"]
    res = _ow("registry", "takedown", "evil/llm:1", "--reason", "leaked personal data", *common)
    assert res.exit_code == 0, res.output
    done = json.loads(res.output)
    assert done["also_taken_down"] == []
    # The admin is told which earlier versions of other organisations carry the same
    # weights and were left alone: taking them down is a decision of its own.
    assert [(v["name"], v["version"]) for v in done["earlier_elsewhere"]] == [
        ("victim/llm", "1")
    ]  # fmt: skip
    assert "model-00001-of-00002.safetensors" in done["earlier_elsewhere"][0]["files"]
    res = _ow("registry", "takedown", "evil/llm-official:1", "--reason", "impersonation",
              *common)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["also_taken_down"] == []
    # The victim's original stays served, and its next versions publish.
    assert _status(server, "victim/llm:1") == "published"
    assert server.client().pull("victim/llm:1", tmp_path / "fan")["files"] == 4
    assert server.client(victim).push(model, "victim/llm:2")["status"] == "published"
    (model / "CHANGES.md").write_text("v3\n")
    assert server.client(victim).push(model, "victim/llm:3")["status"] == "published"
    # `openward check` of the victim's model passes, online and offline ...
    assert _check(server, tmp_path / "fan") == 0
    export = tmp_path / "export.json"
    assert _ow("registry", "advisories", "--export", str(export), "--registry",
               server.url).exit_code == 0  # fmt: skip
    assert _ow("check", str(tmp_path / "fan"), "--advisories", str(export)).exit_code == 0
    # ... while Eve's taken-down version is still flagged, and comes back under no name.
    assert _check(server, loot) == 1
    assert server.client(eve).push(loot, "evil/again:1")["status"] == "quarantined"
    # The admin who means the weights takes the original down by name: that reaches
    # the copies published after it.
    done = server.client(server.admin).takedown("victim/llm:1", "the weights are stolen")
    assert {(v["name"], v["version"]) for v in done["also_taken_down"]} == {
        ("victim/llm", "2"), ("victim/llm", "3")
    }  # fmt: skip
    assert _check(server, tmp_path / "fan") == 1


def test_a_later_held_or_gated_copy_does_not_hold_or_gate_the_original(
    server: Server, tmp_path: Path
) -> None:
    victim = server.user("ih-vic", "victim", "publisher")
    eve = server.user("ih-eve", "evil", "publisher")
    third = server.user("ih-third", "third", "publisher")
    model = _model(tmp_path / "m", seed=311)
    assert server.client(victim).push(model, "victim/llm:1")["status"] == "published"
    # Eve copies the open weights (sending only a card) with a card that crosses the
    # registration threshold, and again into a model she gates.
    held = tmp_path / "held"
    server.client().pull("victim/llm:1", held)
    (held / "README.md").write_text(BIG_CARD)
    pushed = server.client(eve).push(held, "evil/huge:1")
    assert pushed["status"] == "needs-registration"
    gated = tmp_path / "gated"
    server.client().pull("victim/llm:1", gated)
    (gated / "NOTICE.md").write_text("mine now\n")
    server.client(eve).push(gated, "evil/gated:1")
    server.client(eve).set_tier("evil/gated", "gated")
    # The victim's next version, a new model of the victim's, and a third party's
    # mirror of the open model publish, open.
    (model / "CHANGES.md").write_text("v2\n")
    assert server.client(victim).push(model, "victim/llm:2")["status"] == "published"
    assert server.client(victim).push(model, "victim/llm-chat:1")["status"] == "published"
    mirror = tmp_path / "mirror"
    server.client().pull("victim/llm:1", mirror)
    (mirror / "MIRROR.md").write_text("a mirror\n")
    assert server.client(third).push(mirror, "third/mirror:1")["status"] == "published"
    for ref in ("victim/llm", "victim/llm-chat", "third/mirror"):
        access = _ok(_api(server, "GET", f"/api/v1/models/{ref}/access", server.admin))
        assert (access["tier"], access["minimum_tier"]) == ("open", "open"), access
    assert _same(mirror, Path(server.client().pull("third/mirror:1", tmp_path / "anon")["path"]))
    # Weights first published held or gated keep that status under any other name.
    secret = _model(tmp_path / "secret", seed=312)
    (secret / "README.md").write_text(BIG_CARD)
    held_first = server.client(victim).push(secret, "victim/huge:1")
    assert held_first["status"] == "needs-registration"
    (secret / "README.md").write_text("# small\n")
    again = server.client(victim).push(secret, "victim/small:1")
    assert again["status"] == "needs-registration"


def test_a_quarantined_exact_copy_does_not_flag_the_published_original(
    server: Server, tmp_path: Path
) -> None:
    victim = server.user("qc-vic", "victim", "publisher")
    eve = server.user("qc-eve", "evil", "publisher")
    model = _model(tmp_path / "m", seed=321)
    assert server.client(victim).push(model, "victim/llm:1")["status"] == "published"
    bogus = tmp_path / "bogus.sig"
    bogus.write_text("not a signature")
    copy = server.client(eve).push(model, "evil/llm:1", signature=bogus)
    assert copy["status"] == "quarantined" and copy["uploaded_bytes"] == 0
    fan = tmp_path / "fan"
    server.client().pull("victim/llm:1", fan)
    assert _check(server, fan) == 0
    export = tmp_path / "export.json"
    assert _ow("registry", "advisories", "--export", str(export), "--registry",
               server.url).exit_code == 0  # fmt: skip
    assert _ow("check", str(fan), "--advisories", str(export)).exit_code == 0
    # A quarantined model whose files no published version carries is still flagged.
    own = _model(tmp_path / "own", seed=322)
    assert server.client(eve).push(own, "evil/own:1", signature=bogus)["status"] == "quarantined"
    assert _check(server, own) == 1


def test_a_shared_sentencepiece_tokenizer_never_carries_a_takedown(
    server: Server, tmp_path: Path
) -> None:
    pub = server.user("sp-pub", "acme", "publisher")
    other = server.user("sp-oth", "labs", "publisher")
    spm = _sentencepiece(70000)
    assert len(spm) > 1 << 20
    shared = {"spm.model": spm, "sentence.bpe.model": _sentencepiece(70001)}
    first = _model(tmp_path / "first", seed=331, extra=shared)
    assert server.client(pub).push(first, "acme/deberta-ft:1")["status"] == "published"
    later = _model(tmp_path / "later", seed=332, extra=shared)
    assert server.client(other).push(later, "labs/deberta-ft:1")["status"] == "published"
    done = server.client(server.admin).takedown("acme/deberta-ft:1", "poisoned fine-tune")
    assert done["also_taken_down"] == []
    assert _status(server, "labs/deberta-ft:1") == "published"
    assert _check(server, later) == 0
    assert _check(server, first) == 1


def test_pull_writes_files_named_like_a_partial_download(server: Server, tmp_path: Path) -> None:
    pub = server.user("pp-pub", "acme", "publisher")
    model = tmp_path / "m"
    model.mkdir()
    rng = random.Random(341)
    (model / "w.bin").write_bytes(rng.randbytes(3 << 20))
    (model / "w.bin.part").write_bytes(b"a file of the model, named w.bin.part\n" * 1000)
    (model / "w.bin.part.part").write_bytes(b"and another\n" * 100)
    (model / "config.json").write_text("{}")
    assert server.client(pub).push(model, "acme/parts:1")["status"] == "published"
    for n in range(3):
        out = tmp_path / f"out{n}"
        assert server.client().pull("acme/parts:1", out)["files"] == 4
        assert _same(model, out), sorted(p.name for p in out.iterdir())
    # Pulling again over a changed copy puts every file back.
    (out / "w.bin").write_bytes(b"changed")
    (out / "w.bin.part").unlink()
    server.client().pull("acme/parts:1", out)
    assert _same(model, out)
    digest = hashlib.sha256((model / "w.bin").read_bytes()).hexdigest()
    assert hashlib.sha256((out / "w.bin").read_bytes()).hexdigest() == digest


def test_a_stalled_upload_does_not_hold_the_free_space_it_declares(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publisher declares a blob as large as the free space, sends ten bytes and
    keeps the connection open: everyone else's uploads must go on. An upload still
    stops (507, nothing kept) when other writes bring the disk down to its reserve."""
    from openward.registry.blobs import Space

    assert server.settings is not None
    reserve = server.settings.min_free_bytes
    free = {"bytes": reserve + 40 * MiB}
    monkeypatch.setattr(Space, "free", lambda self: free["bytes"])
    eve = server.user("ss-eve", "evil", "publisher")
    victim = server.user("ss-vic", "victim", "publisher")
    size = 39 * MiB
    digest = hashlib.sha256(b"never sent").hexdigest()
    r = httpx.post(f"{server.url}/api/v1/models/evil/hog/versions", headers=_auth(eve),
                   json={"version": "1", "files": [{"path": "w.bin", "size": size,
                                                    "sha256": digest}]})  # fmt: skip
    assert r.status_code == 201, r.text
    url = httpx.URL(server.url)
    with socket.create_connection((url.host, url.port)) as hog:
        hog.sendall(
            f"PUT /api/v1/blobs/{digest} HTTP/1.1\r\nHost: registry\r\n"
            f"Authorization: Bearer {eve}\r\nContent-Length: {size}\r\n"
            f"Content-Range: bytes 0-{size - 1}/{size}\r\n\r\n".encode()
            + b"\0" * 10
        )
        # Once its partial file exists, the server is inside Eve's upload.
        _until(lambda: any((server.data / "partial").glob(f"*/{digest}.{size}")))
        model = _model(tmp_path / "m", seed=351, extra={"big.bin": os.urandom(4 * MiB)})
        assert server.client(victim).push(model, "victim/small:1")["status"] == "published"
    # Other writes bring the disk down to the reserve during an upload: it stops there.
    data = os.urandom(3 * MiB)
    files = [{"path": "d.bin", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}]
    r = httpx.post(f"{server.url}/api/v1/models/victim/late/versions", headers=_auth(victim),
                   json={"version": "1", "files": files})  # fmt: skip
    assert r.status_code == 201, r.text

    def body() -> Iterator[bytes]:
        for n in range(3):
            if n == 1:
                free["bytes"] = reserve - 1
            yield data[n * MiB : (n + 1) * MiB]

    r = httpx.put(f"{server.url}/api/v1/blobs/{files[0]['sha256']}", content=body(),
                  headers=_auth(victim), timeout=60)  # fmt: skip
    assert r.status_code == 507, r.text
    assert _tmp_files(server) == []


def _until(condition: Callable[[], bool]) -> None:
    """Wait for a state the server reaches (not a duration): at most a minute."""
    import time

    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "the server never got there"
        time.sleep(0.05)


def test_names_that_display_in_another_order_are_refused(server: Server) -> None:
    pub = server.user("bd-pub", "acme", "publisher")
    for path in ("model\u202egpj.exe", "sub\u2067/x.bin", "a\u200fb.txt"):
        entry = {"path": path, "size": 1, "sha256": hashlib.sha256(b"x").hexdigest()}
        r = httpx.post(f"{server.url}/api/v1/models/acme/bidi/versions", headers=_auth(pub),
                       json={"version": "1", "files": [entry]})  # fmt: skip
        assert r.status_code == 422 and "bidirectional" in r.json()["detail"], (path, r.text)


def test_another_manifest_with_wrong_sizes_does_not_break_an_admins_push(
    server: Server, tmp_path: Path
) -> None:
    """Digests of public models are public: a publisher lists them with wrong sizes in a
    manifest left uploading, before an admin mirrors the model."""
    eve = server.user("ws-eve", "evil", "publisher")
    model = _model(tmp_path / "m", seed=361)
    trap = [{"path": p.name, "size": 1, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
            for p in sorted(model.glob("*.safetensors"))]  # fmt: skip
    r = httpx.post(f"{server.url}/api/v1/models/evil/trap/versions", headers=_auth(eve),
                   json={"version": "1", "files": trap})  # fmt: skip
    assert r.status_code == 201 and r.json()["status"] == "uploading", r.text
    assert server.client(server.admin).push(model, "mirror/model:1")["status"] == "published"
    assert _same(model, Path(server.client().pull("mirror/model:1", tmp_path / "o")["path"]))

"""``openward.registry.Client``: push and pull models.

push: hash the directory (the OMS manifest), send the manifest, upload only the
blobs the server lacks (in parallel), commit, and wait for the check pipeline's
verdict. pull: fetch the manifest, download every file in parallel with Range
resume of partial files, verify each SHA-256, and move it into place atomically.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from openward.errors import OpenwardError

__all__ = ["Client", "ClientError", "parse_ref"]

_REF = re.compile(r"^(?P<org>[^/:]+)/(?P<name>[^/:]+)(?::(?P<version>[^/:]+))?$")
CHUNK = 1 << 20
DEFAULT_WAIT = 600.0
"""Seconds push waits for the checks' verdict."""
RANGE_UPLOAD = 64 << 20
"""Blobs above this go in ranges of this size, resumable after an interruption."""


class ClientError(OpenwardError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _partial_names(paths: list[str]) -> dict[str, str]:
    """Where ``pull`` downloads each manifest path before moving it into place:
    ``PATH.part`` (resumed by the next pull), or with more ``.part`` suffixes where
    that is itself a file of the model or another file's partial download (a model
    may hold ``w.bin`` and ``w.bin.part``): never a path another download writes.
    Compared case-insensitively, as Windows and macOS do."""
    taken = {p.casefold() for p in paths}
    out: dict[str, str] = {}
    for path in paths:
        part = path + ".part"
        while part.casefold() in taken:
            part += ".part"
        taken.add(part.casefold())
        out[path] = part
    return out


def parse_ref(ref: str) -> tuple[str, str, str | None]:
    m = _REF.match(ref)
    if not m:
        raise ClientError(f"{ref!r} is not ORG/NAME[:VERSION]")
    return m["org"], m["name"], m["version"]


class Client:
    def __init__(self, url: str | None = None, token: str | None = None, *, workers: int = 4):
        url = url or os.environ.get("OPENWARD_REGISTRY")
        if not url:
            raise ClientError("no registry: give --registry URL or set OPENWARD_REGISTRY")
        self.url = url.rstrip("/")
        self.token = token or os.environ.get("OPENWARD_TOKEN")
        self.workers = workers
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        # One connection pool for every request of this client, large enough that each
        # of the ``workers`` threads keeps its connections (to the registry, and to the
        # object store its downloads redirect to) alive between files.
        keep = max(20, 2 * workers)
        self.http = httpx.Client(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(60.0), follow_redirects=True,
            limits=httpx.Limits(max_connections=keep, max_keepalive_connections=keep),
        )  # fmt: skip

    def close(self) -> None:
        self.http.close()

    def _check(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ClientError(f"{response.status_code}: {detail}", response.status_code)
        return response.json() if response.content else None

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            return self._check(self.http.request(method, path, **kw))
        except httpx.TransportError as exc:
            raise ClientError(f"cannot reach the registry at {self.url}: {exc}") from None

    # -- push -----------------------------------------------------------------
    def push(
        self,
        directory: Path,
        ref: str,
        *,
        signature: Path | None = None,
        wait: float | None = None,
        progress: Callable[[str, int], None] | None = None,
    ) -> dict[str, Any]:
        from openward.signing.manifest import build_manifest

        org, name, version = parse_ref(ref)
        manifest = build_manifest(directory, progress=None)
        version = version or manifest.digest[:12]
        body = {
            "version": version,
            "files": [{"path": f.name, "size": f.size, "sha256": f.digest} for f in manifest.files],
            "signature": signature.read_text() if signature else None,
        }
        started = self._call("POST", f"/api/v1/models/{org}/{name}/versions", json=body)
        missing = set(started["missing"])
        todo = [f for f in manifest.files if f.digest in missing]
        unique = {f.digest: f for f in todo}

        def upload(entry: Any) -> int:
            path = directory / entry.name if directory.is_dir() else directory
            if entry.size > RANGE_UPLOAD:
                return self._upload_ranges(path, entry.digest, entry.size, progress, entry.name)

            def chunks() -> Any:
                with open(path, "rb") as fh:
                    while data := fh.read(CHUNK):
                        yield data

            for attempt in range(3):
                try:
                    self._call("PUT", f"/api/v1/blobs/{entry.digest}", content=chunks(),
                               headers={"Content-Length": str(entry.size)})  # fmt: skip
                    break
                except ClientError as exc:
                    # No answer at all (a kept-alive connection the server closed as the
                    # request went out): a blob is named by its digest and hashed on
                    # arrival, so sending it again is safe; a refusal is not retried.
                    if exc.status is not None or attempt == 2:
                        raise
                    time.sleep(0.5 * (attempt + 1))
            if progress is not None:
                progress(entry.name, entry.size)
            return int(entry.size)

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            sent = sum(pool.map(upload, unique.values()))
        result: dict[str, Any] = self._call(
            "POST", f"/api/v1/models/{org}/{name}/versions/{version}/commit"
        )
        deadline = time.monotonic() + (DEFAULT_WAIT if wait is None else wait)
        while result["status"] in ("uploading", "checking") and time.monotonic() < deadline:
            time.sleep(0.2)
            result = self._call("GET", f"/api/v1/models/{org}/{name}/versions/{version}")
        return {
            "name": f"{org}/{name}",
            "version": version,
            "digest": result["digest"],
            "status": result["status"],
            "reasons": result.get("reasons", []),
            "uploaded_bytes": sent,
            "files": len(manifest.files),
        }

    def _upload_ranges(
        self,
        path: Path,
        digest: str,
        size: int,
        progress: Callable[[str, int], None] | None,
        name: str,
    ) -> int:
        """Send a large blob in ranges, starting where the server's copy ends: an
        interrupted push resumes instead of starting over."""
        state = self._call("GET", f"/api/v1/uploads/{digest}")
        offset = int(state["received"])
        sent = 0
        with open(path, "rb") as fh:
            while offset < size:
                end = min(size, offset + RANGE_UPLOAD) - 1
                fh.seek(offset)

                def chunks(remaining: int = end - offset + 1) -> Any:
                    while remaining > 0:
                        data = fh.read(min(CHUNK, remaining))
                        if not data:
                            return
                        remaining -= len(data)
                        yield data

                headers = {"Content-Range": f"bytes {offset}-{end}/{size}",
                           "Content-Length": str(end - offset + 1)}  # fmt: skip
                self._call("PUT", f"/api/v1/blobs/{digest}", content=chunks(), headers=headers)
                sent += end - offset + 1
                if progress is not None:
                    progress(name, end - offset + 1)
                offset = end + 1
        return sent

    # -- pull -----------------------------------------------------------------
    def info(self, ref: str) -> dict[str, Any]:
        org, name, version = parse_ref(ref)
        # A grantee's first look at a version marked per recipient may wait while the
        # registry computes their copy's digests (one pass over the marked files).
        doc: dict[str, Any] = self._call(
            "GET", f"/api/v1/models/{org}/{name}/versions/{version or 'latest'}",
            timeout=httpx.Timeout(900.0, connect=60.0),
        )  # fmt: skip
        return doc

    def pull(
        self, ref: str, out: Path, *, progress: Callable[[str, int], None] | None = None
    ) -> dict[str, Any]:
        import hashlib
        import sys
        from urllib.parse import quote

        from openward.registry.paths import manifest_paths_problem, safe_target

        doc = self.info(ref)
        org, name, _ = parse_ref(ref)
        version = doc["version"]
        if doc["status"] != "published":
            raise ClientError(
                f"{org}/{name}:{version} is {doc['status']}: "
                + ("; ".join(doc.get("reasons") or []) or "not downloadable"),
                451 if doc["status"] == "taken-down" else 403,
            )
        if os.name == "nt" or sys.platform == "darwin":
            # File systems there ignore case: two names would be one file.
            problem = manifest_paths_problem(str(f["path"]) for f in doc["files"])
            if problem:
                raise ClientError(f"refusing to pull {org}/{name}:{version}: {problem}")
        out.mkdir(parents=True, exist_ok=True)
        # Every path is checked before anything is written.
        targets = {f["path"]: safe_target(out, str(f["path"])) for f in doc["files"]}
        parts = _partial_names(sorted(targets))

        def fetch(entry: dict[str, Any]) -> int:
            rel = entry["path"]
            target = targets[rel]
            if target.is_file() and target.stat().st_size == entry["size"]:
                with open(target, "rb") as fh:
                    if hashlib.file_digest(fh, "sha256").hexdigest() == entry["sha256"]:
                        return 0
            target.parent.mkdir(parents=True, exist_ok=True)
            safe_target(out, rel)  # again: a link may have appeared meanwhile
            part = safe_target(out, parts[rel])
            offset = part.stat().st_size if part.exists() else 0
            if offset > entry["size"]:
                part.unlink()
                offset = 0
            headers = {"Range": f"bytes={offset}-"} if 0 < offset < entry["size"] else {}
            # Names may hold '#', '%', '?' or spaces: each segment is quoted.
            url = f"/api/v1/models/{org}/{name}/versions/{version}/files/{quote(rel, safe='/')}"
            received = 0
            if offset < entry["size"] or entry["size"] == 0:
                try:
                    with self.http.stream("GET", url, headers=headers) as r:
                        if r.status_code >= 400:
                            r.read()
                            self._check(r)
                        mode = "ab" if r.status_code == 206 else "wb"
                        with open(part, mode) as fh:
                            for data in r.iter_bytes(CHUNK):
                                fh.write(data)
                                received += len(data)
                except httpx.TransportError as exc:
                    raise ClientError(f"download of {rel} interrupted ({exc}); run pull "
                                      "again to resume") from None  # fmt: skip
            with open(part, "rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
            if digest != entry["sha256"]:
                part.unlink()
                raise ClientError(f"{rel}: downloaded bytes hash to {digest}, not "
                                  f"{entry['sha256']}; nothing was written")  # fmt: skip
            os.replace(part, target)
            if progress is not None:
                progress(rel, entry["size"])
            return received

        # ``workers`` files at a time over the shared connections, largest first so a
        # big file does not start last and finish alone.
        order = sorted(doc["files"], key=lambda entry: -int(entry["size"]))
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            received = sum(pool.map(fetch, order))
        result = {"name": f"{org}/{name}", "version": version, "digest": doc["digest"],
                  "status": doc["status"], "files": len(doc["files"]),
                  "downloaded_bytes": received, "path": str(out)}  # fmt: skip
        recipient = doc.get("recipient")
        if isinstance(recipient, dict) and isinstance(recipient.get("bundle"), dict):
            # A copy marked for this grantee: the registry signed its bytes (verify with
            # the registry's key, GET /api/v1/registry/key); the bundle lies inside the
            # copy, where OMS verifiers leave a signature out of the comparison.
            import json

            sig_name = str(recipient.get("signature_file") or "openward-recipient.sig")
            while sig_name in targets:
                sig_name += ".sig"
            sig = safe_target(out, sig_name)
            sig.write_text(json.dumps(recipient["bundle"], indent=2))
            # Weight files no mark can be put in: not served to recipients, no file of
            # the signed copy.
            withheld = [str(p) for p in recipient.get("withheld") or []]
            result["recipient"] = {"grant": recipient.get("grant"), "signature": str(sig),
                                   "original_digest": doc.get("original_digest"),
                                   "withheld": withheld}  # fmt: skip
        return result

    # -- governance -------------------------------------------------------------
    def _model_path(self, ref: str) -> str:
        org, name, _ = parse_ref(ref)
        return f"/api/v1/models/{org}/{name}"

    def _version_path(self, ref: str) -> str:
        org, name, version = parse_ref(ref)
        if not version:
            raise ClientError(f"{ref!r}: name the version (ORG/NAME:VERSION)")
        return f"/api/v1/models/{org}/{name}/versions/{version}"

    def access(self, ref: str) -> dict[str, Any]:
        """The model's tier and fields; requests and grants the caller may see."""
        result: dict[str, Any] = self._call("GET", self._model_path(ref) + "/access")
        return result

    def set_tier(self, ref: str, tier: str, fields: list[str] | None = None,
                 watermark: str | None = None) -> dict[str, Any]:  # fmt: skip
        body: dict[str, Any] = {"tier": tier, "fields": fields}
        if watermark is not None:
            body["watermark"] = watermark
        result: dict[str, Any] = self._call("PUT", self._model_path(ref) + "/access", json=body)
        return result

    def request_access(self, ref: str, **fields: str | bool) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", self._model_path(ref) + "/access/requests", json={"fields": fields}
        )
        return result

    def grant(self, ref: str, *, request: int | None = None, user: str | None = None,
              organisation: str | None = None, versions: list[str] | None = None,
              expires: str | None = None, reason: str = "") -> dict[str, Any]:  # fmt: skip
        body = {"request": request, "user": user, "organisation": organisation,
                "versions": versions, "expires": expires, "reason": reason}  # fmt: skip
        result: dict[str, Any] = self._call(
            "POST", self._model_path(ref) + "/access/grants", json=body
        )
        return result

    def deny(self, ref: str, request: int, reason: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", self._model_path(ref) + f"/access/requests/{request}/deny",
            json={"reason": reason},
        )  # fmt: skip
        return result

    def revoke(self, ref: str, grant: int, reason: str = "") -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", self._model_path(ref) + f"/access/grants/{grant}/revoke",
            json={"reason": reason},
        )  # fmt: skip
        return result

    def downloads(self, ref: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", self._model_path(ref) + "/downloads")[
            "downloads"
        ]
        return result

    def register(self, ref: str, record: dict[str, Any]) -> dict[str, Any]:
        """Submit the registration record of a version held for registration."""
        result: dict[str, Any] = self._call(
            "POST", self._version_path(ref) + "/registration", json={"record": record}
        )
        return result

    def attach_audit(self, ref: str, bundle: dict[str, Any]) -> dict[str, Any]:
        """Attach a signed audit attestation (``openward audit --sign``) to a version."""
        result: dict[str, Any] = self._call(
            "POST", self._version_path(ref) + "/audits", json={"bundle": bundle}
        )
        return result

    def audits(self, ref: str) -> list[dict[str, Any]]:
        """The audits attached to a version, each with whether it verifies now."""
        result: list[dict[str, Any]] = self._call("GET", self._version_path(ref) + "/audits")[
            "audits"
        ]
        return result

    def registrations(self, status: str | None = "pending") -> list[dict[str, Any]]:
        query = f"?status={status}" if status else ""
        result: list[dict[str, Any]] = self._call("GET", f"/api/v1/registrations{query}")[
            "registrations"
        ]
        return result

    def decide(self, registration: int, accept: bool, reason: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/api/v1/registrations/{registration}/decision",
            json={"accept": accept, "reason": reason},
        )  # fmt: skip
        return result

    def lineage_reviews(self, status: str | None = "pending") -> list[dict[str, Any]]:
        """Versions held for review because of a safety edit found against a base."""
        query = f"?status={status}" if status else ""
        result: list[dict[str, Any]] = self._call("GET", f"/api/v1/lineage/reviews{query}")[
            "reviews"
        ]
        return result

    def decide_lineage_review(self, review: int, release: bool, reason: str) -> dict[str, Any]:
        """Release a version held for a safety edit, or quarantine it."""
        result: dict[str, Any] = self._call(
            "POST", f"/api/v1/lineage/reviews/{review}/decision",
            json={"release": release, "reason": reason},
        )  # fmt: skip
        return result

    def takedown(self, ref: str, reason: str, advisory: dict[str, Any] | None = None,
                 exceptions: list[str] | None = None,
                 dry_run: bool = False) -> dict[str, Any]:  # fmt: skip
        """Take a version down with every copy carrying its weights, except the versions
        named in ``exceptions`` (``ORG/NAME:VERSION``)."""
        result: dict[str, Any] = self._call(
            "POST", self._version_path(ref) + "/takedown",
            json={"reason": reason, "advisory": advisory, "exceptions": exceptions or [],
                  "dry_run": dry_run},
        )  # fmt: skip
        return result

    def except_from_takedown(self, copy: str, of: str, reason: str) -> dict[str, Any]:
        """Keep ``copy`` served although it carries the weights of the taken-down ``of``."""
        result: dict[str, Any] = self._call(
            "POST", self._version_path(of) + "/takedown/exceptions",
            json={"version": copy, "reason": reason},
        )  # fmt: skip
        return result

    def advisories(self) -> list[dict[str, Any]]:
        """Every advisory, as OSV documents."""
        result: list[dict[str, Any]] = self._call("GET", "/api/v1/advisories")["advisories"]
        return result

    def advisory_export(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/api/v1/advisories/export")
        return result

    def check(self, directory: Path) -> list[dict[str, Any]]:
        """Whether a copy on disk is taken down, quarantined or under an advisory."""
        from openward.registry.check import hash_target

        digest, files = hash_target(directory)
        result: list[dict[str, Any]] = self._call(
            "POST", "/api/v1/check", json={"digest": digest, "files": files}
        )["flagged"]
        return result

    def trace(self, model: Path, ref: str, *, timeout: float = 3600.0) -> dict[str, Any]:
        """Ask the registry which grant's per-recipient mark the model on disk carries:
        its markable weight files are streamed (as a tar) to the registry, which holds
        the grant keys and the original (publishers of ``ref`` and admins)."""
        from openward.registry.marks import suspect_files, tar_size, tar_stream

        org, name, _ = parse_ref(ref)
        files = suspect_files(model)
        if not files:
            raise ClientError(f"{model}: no safetensors weights to trace (not a copy of "
                              "this model)")  # fmt: skip
        headers = {"Content-Type": "application/x-tar",
                   "Content-Length": str(tar_size(files))}  # fmt: skip
        try:
            response = self.http.post(
                f"/api/v1/models/{org}/{name}/trace", content=tar_stream(files), headers=headers,
                timeout=httpx.Timeout(timeout, connect=60.0),
            )  # fmt: skip
        except httpx.TransportError as exc:
            raise ClientError(f"cannot reach the registry at {self.url}: {exc}") from None
        result: dict[str, Any] = self._check(response)
        return result

    # -- text watermarks ---------------------------------------------------------------
    def text_watermark_key(self, ref: str) -> dict[str, Any]:
        """Whether ``ref``'s outputs are watermarked: ``{"model", "text_watermark":
        {"key_id", "scheme", "tokenizer"} | None}``."""
        result: dict[str, Any] = self._call("GET", self._model_path(ref) + "/text-watermark-key")
        return result

    def set_text_watermark_key(self, ref: str, key_file: Path) -> dict[str, Any]:
        """Register (or replace) ``ref``'s text watermark key: the key file is sent to the
        registry, which keeps it sealed and answers its public identity only."""
        import json

        try:
            document = json.loads(key_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ClientError(f"{key_file}: no such key file") from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ClientError(f"{key_file}: not a readable JSON key file ({exc})") from None
        result: dict[str, Any] = self._call(
            "PUT", self._model_path(ref) + "/text-watermark-key", json=document
        )
        return result

    def remove_text_watermark_key(self, ref: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", self._model_path(ref) + "/text-watermark-key")
        return result

    def detect_text(self, ref: str, text: str, alpha: float | None = None) -> dict[str, Any]:
        """Test ``text`` for ``ref``'s watermark with the key the registry holds: the JSON
        of ``openward watermark detect --json``, plus ``model`` and ``log_index``."""
        body: dict[str, Any] = {"text": text}
        if alpha is not None:
            body["alpha"] = alpha
        result: dict[str, Any] = self._call(
            "POST", self._model_path(ref) + "/text-watermark/detect", json=body
        )
        return result

    # -- accounts and keys ----------------------------------------------------------
    def whoami(self) -> dict[str, Any]:
        """Who this client's token acts as: roles, and the token's scope if it has one."""
        result: dict[str, Any] = self._call("GET", "/api/v1/whoami")
        return result

    def set_roles(
        self, user: str, *, admin: bool | None = None, reviewer: bool | None = None,
        organisation: str | None = None, role: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Change a user's roles (admins); ``role`` ``none`` ends a membership."""
        body = {"admin": admin, "reviewer": reviewer, "organisation": organisation,
                "role": role}  # fmt: skip
        result: dict[str, Any] = self._call("PUT", f"/api/v1/users/{user}/roles", json=body)
        return result

    def key_challenge(self) -> dict[str, Any]:
        """A challenge to sign with the private key being registered. Its ``message``
        is built here from the challenge (:func:`openward.registry.keyproof.proof_message`),
        never taken from the server: a server whose ``message`` differs is refused, as
        it is asking the key to sign something other than a registration proof (the
        DSSE envelope of a model signature, say)."""
        from openward.registry.keyproof import check_challenge, proof_message

        result: dict[str, Any] = self._call("POST", "/api/v1/keys/challenge")
        try:
            challenge = check_challenge(result.get("challenge"))
        except ValueError as exc:
            raise ClientError(f"{self.url}: {exc}; nothing was signed") from None
        message = proof_message(challenge).decode()
        if result.get("message", message) != message:
            raise ClientError(
                f"{self.url} asked for a signature of something other than a key "
                "registration proof; nothing was signed. Check that this is your registry"
            )  # fmt: skip
        result["message"] = message
        return result

    def add_key(self, private_key: Any) -> str:
        """Register ``private_key``'s public key, proving possession by signing the
        registry's challenge here (the private key is never sent); returns the hint."""
        import base64

        from openward.registry.keyproof import proof_message
        from openward.signing.keys import public_pem, sign_bytes

        challenge = self.key_challenge()
        signature = sign_bytes(private_key, proof_message(challenge["challenge"]))
        pem = public_pem(private_key.public_key()).decode()
        return self.add_public_key(pem, challenge["challenge"],
                                   base64.b64encode(signature).decode())  # fmt: skip

    def add_public_key(self, pem: str, challenge: str, signature: str) -> str:
        """Register a public key with a challenge signed elsewhere (an HSM, a token):
        ``signature`` is the base64 signature of the challenge's ``message``."""
        result: dict[str, Any] = self._call(
            "POST", "/api/v1/keys", json={"pem": pem, "challenge": challenge,
                                          "signature": signature}
        )  # fmt: skip
        return str(result["hint"])

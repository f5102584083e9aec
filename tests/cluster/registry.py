"""A loopback image registry for the cluster tier: Debian's ``docker-registry`` (CNCF distribution) over plain HTTP.

The cluster runs it on the node's address, 198.51.100.254:5000, which pods and containerd both reach under the same
name (not 192.0.2.1, first planned: that is this machine's real gateway); its own tests run it on 127.0.0.1 and a
free port. Storage lives in a folder the caller owns; the process is
started and stopped by PID.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from ..integration.servers import stop_process, tail, wait_for
from .images import Image

REGISTRY_BINARY = "/usr/bin/docker-registry"


class RegistryError(RuntimeError):
    """The registry did not start, or refused a push (the message says what it logged or answered)."""


class Registry:
    """Debian's docker-registry on ``address`` (host:port, plain HTTP), its storage and log in ``folder``."""

    def __init__(self, folder: Path, address: str = "198.51.100.254:5000") -> None:
        self.folder = folder
        self.address = address
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        """The registry's own log (its requests and errors)."""
        return self.folder / "registry.log"

    def start(self) -> None:
        """Start the registry and wait until ``GET /v2/`` answers 200 (raise with its log if it exits first)."""
        if self._process is not None:
            raise RegistryError(f"the registry on {self.address} is already running (pid {self._process.pid})")
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "config.yml"
        # JSON is YAML: the registry's configuration, storage in the folder, deletes allowed so tests can clean up.
        config.write_text(
            json.dumps(
                {
                    "version": 0.1,
                    "log": {"level": "info", "formatter": "text"},
                    "storage": {
                        "filesystem": {"rootdirectory": str(self.folder / "storage")},
                        "delete": {"enabled": True},
                    },
                    "http": {"addr": self.address},
                }
            )
        )
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}  # no proxy or OTEL settings leak in
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [REGISTRY_BINARY, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT, env=env
            )
        try:
            wait_for(self._ready, 30, f"docker-registry on {self.address}", self._process, lambda: tail(self.log))
        except (RuntimeError, TimeoutError) as error:
            self.stop()
            raise RegistryError(str(error)) from error

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        """Stop the registry (SIGTERM, then SIGKILL after 10 s) by its PID; the storage stays in the folder."""
        process, self._process = self._process, None
        stop_process(process, grace=10)

    def push(self, image: Image, reference: str) -> str:
        """Copy ``image``'s archive to ``<address>/<reference>`` (``repository:tag``) and return the pinned
        reference ``<address>/<repository>@sha256:...`` pods can use."""
        digest_file = self.folder / "last-push.digest"
        digest_file.unlink(missing_ok=True)
        result = subprocess.run(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                "--digestfile",
                str(digest_file),
                f"docker-archive:{image.archive}",
                f"docker://{self.address}/{reference}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RegistryError(
                f"pushing {image.name} to {self.address}/{reference} failed: {result.stderr.strip()} "
                f"(the registry's log: {self.log})"
            )
        repository, _, _ = reference.partition("@")
        if ":" in repository.rsplit("/", maxsplit=1)[-1]:
            repository = repository.rsplit(":", maxsplit=1)[0]
        return f"{self.address}/{repository}@{digest_file.read_text().strip()}"

    def tags(self, repository: str) -> list[str]:
        """The tags of ``repository`` (empty when it has none or does not exist)."""
        try:
            with urllib.request.urlopen(f"http://{self.address}/v2/{repository}/tags/list", timeout=10) as response:
                return sorted(json.load(response).get("tags") or [])
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return []
            raise RegistryError(f"listing the tags of {repository} on {self.address}: HTTP {error.code}") from error

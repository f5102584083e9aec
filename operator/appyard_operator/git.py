"""Talking to git: resolving a ref cheaply (ls-remote) and fetching one commit shallowly.

URLs and refs come from Workspace objects: every command passes them after ``--`` so none is read as an
option. Credentials never appear on a command line: an HTTPS token goes in through GIT_CONFIG_* environment
variables (an ``http.extraHeader``), an SSH key through a private file named in GIT_SSH_COMMAND.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

_SHA = re.compile(r"^[0-9a-f]{40}$")


class GitError(Exception):
    """A git command failed; ``temporary`` says whether trying again later may help."""

    def __init__(self, message: str, temporary: bool = True) -> None:
        super().__init__(message)
        self.temporary = temporary


@dataclass(frozen=True)
class Credentials:
    """What a Workspace's secret holds (see GitSource.secret_ref)."""

    username: str | None = None
    password: str | None = None
    identity: bytes | None = None
    known_hosts: bytes | None = None

    @classmethod
    def from_secret(cls, data: Mapping[str, str]) -> Credentials:
        """From a Secret's base64 ``data``."""
        decoded = {key: base64.b64decode(value) for key, value in data.items()}
        return cls(
            username=decoded["username"].decode() if "username" in decoded else None,
            password=decoded["password"].decode() if "password" in decoded else None,
            identity=decoded.get("identity"),
            known_hosts=decoded.get("known_hosts"),
        )


@contextlib.contextmanager
def _environment(credentials: Credentials | None) -> Iterator[dict[str, str]]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}
    folder = Path(tempfile.mkdtemp(prefix="appyard-git-"))
    try:
        if credentials and credentials.password is not None:
            token = base64.b64encode(f"{credentials.username or 'git'}:{credentials.password}".encode()).decode()
            env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader")
            env["GIT_CONFIG_VALUE_0"] = f"Authorization: Basic {token}"
        if credentials and credentials.identity is not None:
            key = folder / "identity"
            key.write_bytes(credentials.identity)
            key.chmod(0o600)
            hosts = folder / "known_hosts"
            hosts.write_bytes(credentials.known_hosts or b"")
            checking = "yes" if credentials.known_hosts else "accept-new"
            env["GIT_SSH_COMMAND"] = (
                f"ssh -i {key} -o IdentitiesOnly=yes -o UserKnownHostsFile={hosts} -o StrictHostKeyChecking={checking}"
            )
        yield env
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _git(arguments: list[str], env: Mapping[str, str], timeout: float, cwd: Path | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        "git",
        *arguments,
        cwd=cwd,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise GitError(f"git {arguments[0]} took longer than {timeout:.0f} s") from None
    if process.returncode != 0:
        text = err.decode(errors="replace").strip().splitlines()
        message = text[-1] if text else f"exit status {process.returncode}"
        permanent = any(word in message for word in ("not found", "does not exist", "Authentication failed"))
        raise GitError(f"git {arguments[0]} failed: {message}", temporary=not permanent)
    return out.decode(errors="replace")


async def resolve(url: str, ref: str, credentials: Credentials | None, timeout: float) -> str:
    """The commit SHA ``ref`` points at, without fetching anything (``git ls-remote``)."""
    if _SHA.match(ref):
        return ref
    with _environment(credentials) as env:
        # "--": a URL or ref starting with "-" is never read as an option (e.g. --upload-pack=<command>).
        listing = await _git(["ls-remote", "--", url, ref, f"refs/tags/{ref}^{{}}"], env, timeout)
    refs: dict[str, str] = {}
    for line in listing.splitlines():
        sha, _, name = line.partition("\t")
        refs[name] = sha
    for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}", ref):
        if candidate in refs:
            return refs[candidate]
    raise GitError(f"{url} has no branch or tag {ref!r}", temporary=True)


async def checkout(url: str, ref: str, sha: str, folder: Path, credentials: Credentials | None, timeout: float) -> str:
    """Fetch one commit (depth 1) into ``folder`` and check it out; returns the SHA checked out."""
    folder.mkdir(parents=True, exist_ok=True)
    with _environment(credentials) as env:
        if not (folder / ".git").is_dir():
            await _git(["init", "-q"], env, timeout, cwd=folder)
        # Fetch the named ref (servers need not allow fetching arbitrary SHAs); a commit SHA is fetched as is.
        target = ref if not _SHA.match(ref) else sha
        await _git(["fetch", "-q", "--depth", "1", "--no-tags", "--", url, target], env, timeout, folder)
        await _git(["checkout", "-q", "--force", "FETCH_HEAD"], env, timeout, cwd=folder)
        await _git(["clean", "-q", "-d", "-x", "--force"], env, timeout, cwd=folder)
        return (await _git(["rev-parse", "HEAD"], env, timeout, cwd=folder)).strip()

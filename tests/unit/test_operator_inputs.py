"""A Workspace's git path and ref cannot reach outside its repository or into git's options."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import nkeys  # type: ignore[import-untyped]
import pytest
from pydantic import ValidationError

from appyard import brokerauth, crds
from appyard.resources import GitSource
from appyard_operator import git, sync
from appyard_operator.settings import OperatorSettings

PATHS = [
    (".", True),
    ("workspace", True),
    ("apps/tools/", True),
    ("./workspace", True),
    ("..config", True),
    ("../x", False),
    ("..", False),
    ("apps/../../other", False),
    ("/etc", False),
    ("", False),
    ("a//b", False),
]
REFS = [
    ("main", True),
    ("v1.2.3", True),
    ("feature/fix-42", True),
    ("refs/heads/main", True),
    ("0123456789abcdef0123456789abcdef01234567", True),
    ("-x", False),
    ("--upload-pack=touch /tmp/owned", False),
    ("a..b", False),
    (".hidden", False),
    ("main.", False),
    ("x@{1}", False),
    ("a b", False),
    ("a:b", False),
]


def _git_schema() -> dict[str, Any]:
    crd = crds.definitions()["workspaces.appyard.dev.yaml"]
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema["properties"]["spec"]["properties"]["git"]["properties"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("field", "value", "valid"), [("path", *case) for case in PATHS] + [("ref", *c) for c in REFS])
def test_path_and_ref_patterns(field: str, value: str, valid: bool) -> None:
    # The CRD's schema (what the API server enforces) and the model (what the operator reads) agree.
    assert bool(re.match(_git_schema()[field]["pattern"], value)) is valid
    if valid:
        GitSource(url="https://git.example.com/tools.git", **{field: value})
    else:
        with pytest.raises(ValidationError):
            GitSource(url="https://git.example.com/tools.git", **{field: value})


@pytest.fixture
def checkouts(tmp_path: Path) -> Path:
    """Two Workspaces' checkouts side by side, as in the operator's cache folder."""
    for name in ("mine", "theirs"):
        (tmp_path / name / "workspace").mkdir(parents=True)
        (tmp_path / name / "workspace" / "properties.json").write_text("{}", encoding="utf-8")
    return tmp_path


def test_the_workspace_folder_stays_in_the_checkout(checkouts: Path) -> None:
    mine = checkouts / "mine"
    assert sync.workspace_folder(mine, "workspace") == (mine / "workspace").resolve()
    for path in ("../theirs/workspace", "/etc", str(checkouts / "theirs")):
        with pytest.raises(sync.OutsideCheckout, match="leads out of the repository"):
            sync.workspace_folder(mine, path)


def test_a_symlink_out_of_the_checkout_is_refused(checkouts: Path) -> None:
    mine = checkouts / "mine"
    (mine / "workspace" / "inside").symlink_to(mine / "workspace" / "properties.json")
    sync.workspace_folder(mine, "workspace")  # a link inside the repository is fine
    (mine / "elsewhere").symlink_to(checkouts / "theirs" / "workspace", target_is_directory=True)
    with pytest.raises(sync.OutsideCheckout, match=r"spec\.git\.path 'elsewhere' leads out"):
        sync.workspace_folder(mine, "elsewhere")
    os.makedirs(mine / "workspace" / "orders")
    (mine / "workspace" / "orders" / "token").symlink_to("/etc/hostname")
    with pytest.raises(sync.OutsideCheckout, match="orders/token is a symlink"):
        sync.workspace_folder(mine, "workspace")


def test_a_symlink_loop_is_refused_not_a_crash(checkouts: Path) -> None:
    mine = checkouts / "mine"
    (mine / "workspace" / "a").symlink_to(mine / "workspace" / "b")
    (mine / "workspace" / "b").symlink_to(mine / "workspace" / "a")
    with pytest.raises(sync.OutsideCheckout, match="symlink loop"):
        sync.workspace_folder(mine, "workspace")


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    for command in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "first"]):
        subprocess.run(["git", *command], cwd=source, env=env, check=True)
    return source


def test_a_ref_is_never_an_option_to_git(repository: Path, tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    evil = f"--upload-pack=touch {marker};"
    sha = asyncio.run(git.resolve(str(repository), "main", None, 30))
    with pytest.raises(git.GitError):
        asyncio.run(git.checkout(str(repository), evil, "0" * 40, tmp_path / "checkout", None, 30))
    with pytest.raises(git.GitError):
        asyncio.run(git.resolve(str(repository), evil, None, 30))
    assert not marker.exists()
    assert asyncio.run(git.checkout(str(repository), "main", sha, tmp_path / "checkout", None, 30)) == sha


def test_the_account_seed_from_a_secret_file_loses_its_newline(monkeypatch: pytest.MonkeyPatch) -> None:
    """`kubectl create secret generic --from-file=keys/` keeps account.seed's newline; the seed must still decode."""
    seed = brokerauth.KeyPair.new(nkeys.PREFIX_BYTE_ACCOUNT).seed
    monkeypatch.setenv("APPYARD_OPERATOR_NATS_ACCOUNT_SEED", seed + "\n")
    read = OperatorSettings().nats_account_seed
    assert read is not None
    assert read.get_secret_value() == seed
    assert brokerauth.KeyPair(read.get_secret_value()).public_key.startswith("A")

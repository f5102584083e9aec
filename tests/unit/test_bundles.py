"""Code bundles: packed by the operator, unpacked by runners and the API in cluster mode."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from appyard import bundles


def test_unpack_replaces_the_folder_with_the_bundles_files(workspace_copy: Path, tmp_path: Path) -> None:
    target = tmp_path / "served" / "orders"
    target.mkdir(parents=True)
    (target / "stale.py").write_text("# from an older revision\n")
    bundles.unpack(bundles.pack(workspace_copy / "orders"), target)
    packed = sorted(str(path.relative_to(workspace_copy / "orders")) for path in (workspace_copy / "orders").rglob("*"))
    assert sorted(str(path.relative_to(target)) for path in target.rglob("*")) == packed
    assert (target / "seed.sql").read_bytes() == (workspace_copy / "orders" / "seed.sql").read_bytes()
    assert sorted(path.name for path in target.parent.iterdir()) == ["orders"]  # no staging or retired folders


def test_unpack_refuses_paths_out_of_the_folder(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escaped.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(tarfile.OutsideDestinationError):
        bundles.unpack(raw.getvalue(), tmp_path / "app")
    assert list(tmp_path.iterdir()) == []  # nothing escaped, no staging folder left


def test_read_one_file() -> None:
    bundle = bundles.archive([("scripts", None), ("requirements.txt", b"six\n")])
    assert bundles.read(bundle, "requirements.txt") == b"six\n"
    assert bundles.read(bundle, "missing.txt") is None

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


def _bundle(info: tarfile.TarInfo, data: bytes = b"x") -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info.size = len(data) if info.isfile() else 0
        tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return raw.getvalue()


def _link(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (tarfile.TarInfo("../escaped.py"), "outside the app's folder"),
        (tarfile.TarInfo("/etc/escaped.py"), "outside the app's folder"),
        (_link("scripts/passwd", "/etc/passwd"), "not a regular file or folder"),
    ],
)
def test_unpack_refuses_what_could_write_out_of_the_folder(tmp_path: Path, entry: tarfile.TarInfo, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        bundles.unpack(_bundle(entry), tmp_path / "app")
    assert list(tmp_path.iterdir()) == []  # nothing escaped, no staging folder left


def test_unpack_works_without_the_data_filter(
    workspace_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debian 12's python3.11 (3.11.2, the cluster tier's image base) has no tarfile.data_filter."""
    monkeypatch.delattr(tarfile, "data_filter")
    target = tmp_path / "orders"
    bundles.unpack(bundles.pack(workspace_copy / "orders"), target)
    assert (target / "seed.sql").read_bytes() == (workspace_copy / "orders" / "seed.sql").read_bytes()
    with pytest.raises(ValueError, match="outside"):
        bundles.unpack(_bundle(tarfile.TarInfo("../escaped.py")), tmp_path / "other")


def test_read_one_file() -> None:
    bundle = bundles.archive([("scripts", None), ("requirements.txt", b"six\n")])
    assert bundles.read(bundle, "requirements.txt") == b"six\n"
    assert bundles.read(bundle, "missing.txt") is None

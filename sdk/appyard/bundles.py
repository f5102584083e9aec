"""Code bundles: an app's folder as one deterministic tar.gz, the way it travels in a cluster.

The operator packs every valid app of a Workspace into a bundle and stores it in a ConfigMap (key
:data:`KEY`); runner pods and the API in cluster mode unpack it. A bundle depends only on the files' names,
modes and contents (sorted, zero timestamps and owners), so a commit that does not touch an app produces
the same bytes — and the same hash — for it.
"""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path

KEY = "code.tar.gz"  # the ConfigMap key, and the file name where pods mount it


def archive(entries: Iterable[tuple[str, bytes | None]]) -> bytes:
    """A deterministic tar.gz of ``(name, contents)`` entries, in the order given; ``None`` is a folder."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def pack(folder: Path) -> bytes:
    """A bundle of ``folder``, without hidden files, ``__pycache__`` and compiled files."""

    def entries() -> Iterable[tuple[str, bytes | None]]:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if any(part.startswith(".") or part == "__pycache__" for part in relative.parts) or path.suffix == ".pyc":
                continue
            if path.is_dir():
                yield str(relative), None
            elif path.is_file():
                yield str(relative), path.read_bytes()

    return archive(entries())


def unpack(bundle: bytes, folder: Path) -> None:
    """Replace ``folder`` with the bundle's files: unpacked beside it, then renamed into place, so a reader
    sees the old files or the new ones, never a mix.

    The ``data`` filter refuses absolute paths, links out of the folder and special files, so a bundle can
    only ever write regular files and folders below ``folder``.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
            tar.extractall(staging, filter="data")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    retired = folder.parent / f".{folder.name}-retired"
    shutil.rmtree(retired, ignore_errors=True)
    if folder.exists():
        folder.rename(retired)
    staging.rename(folder)
    shutil.rmtree(retired, ignore_errors=True)


def read(bundle: bytes, name: str) -> bytes | None:
    """One file of a bundle (``requirements.txt``, say), or ``None`` when it has none."""
    with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
        try:
            extracted = tar.extractfile(name)
        except KeyError:
            return None
        return extracted.read() if extracted else None

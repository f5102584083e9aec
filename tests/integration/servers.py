"""Real servers for integration tests: nats-server, the API and runners, each a separate process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from appyard.brokerauth import Credentials, Permissions, Trust, api_permissions, runner_permissions

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    process: subprocess.Popen[bytes] | None = None,
    explain: Callable[[], str] | None = None,
) -> None:
    """Poll ``check`` until true; fail at once when ``process`` exits, and with ``explain()`` (its log) appended."""

    def said() -> str:
        return f":\n{explain()}" if explain is not None else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}{said()}")
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout} s{said()}")


def tail(log: Path, lines: int = 40) -> str:
    """The last ``lines`` of a process's log file, for failure messages."""
    if not log.exists():
        return f"(no log at {log})"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _tcp(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


def stop_process(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, grace: float = 15) -> None:
    """Signal a child process (SIGTERM by default), wait up to ``grace`` seconds, then kill it."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# Tests that inspect the broker from outside (what is stored, what is left) connect as this.
EVERYTHING = Permissions(publish=(">",), subscribe=(">",), inbox_prefix="_INBOX")


@dataclass
class NatsServer:
    """A real nats-server with JetStream on a loopback port, in operator mode (JWT auth, as `appyard dev` and a
    cluster run it); restartable with the same store and keys."""

    store: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    trust: Trust = field(default_factory=Trust.new)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def credentials(self, permissions: Permissions, name: str = "test", lifetime: float = 3600) -> Credentials:
        """Credentials of a new user allowed ``permissions``, valid for ``lifetime`` seconds."""
        return self.trust.mint(name, permissions, int(time.time() + lifetime))

    def creds(self, permissions: Permissions = EVERYTHING, name: str = "test") -> str:
        """The ``.creds`` text of :meth:`credentials` (by default: a user allowed everything)."""
        return self.credentials(permissions, name).text

    def start(self) -> None:
        config = self.store.parent / f"nats-{self.port}.conf"
        config.write_text(self.trust.server_config() + f'max_payload: 8MB\njetstream {{ store_dir: "{self.store}" }}\n')
        self.process = subprocess.Popen(
            [str(BIN / "nats-server"), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: _tcp(self.port), 10, "nats-server", self.process)

    def stop(self) -> None:
        stop_process(self.process)


@dataclass
class Process:
    """A Python service (API or runner) started with `python -m`; its output goes to a log file."""

    module: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module], env={**os.environ, **self.env}, stdout=handle, stderr=handle
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.process, sig)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Api(Process):
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        super().start()

        def healthy() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200
            return False

        wait_for(healthy, 30, f"the API (log: {self.log})", self.process)


def api(workspace: Path, nats: NatsServer, logs: Path, **settings: str) -> Api:
    port = free_port()
    namespace = settings.get("namespace", "local")
    env = {
        "APPYARD_API_WORKSPACE": str(workspace),
        "APPYARD_API_NATS_URL": nats.url,
        "APPYARD_API_NATS_CREDS": nats.creds(api_permissions(namespace), "api"),
        "APPYARD_API_PORT": str(port),
        **{f"APPYARD_API_{key.upper()}": value for key, value in settings.items()},
    }
    return Api("appyard_api", env, logs / f"api-{port}.log", port=port)


def runner(
    workspace: Path, app: str, nats: NatsServer, logs: Path, env: dict[str, str] | None = None, **settings: str
) -> Process:
    namespace = settings.get("namespace", "local")
    env = {
        "APPYARD_RUNNER_APP": app,
        "APPYARD_RUNNER_WORKSPACE": str(workspace),
        "APPYARD_RUNNER_NATS_URL": nats.url,
        "APPYARD_RUNNER_NATS_CREDS": nats.creds(runner_permissions(namespace, app), f"runner-{app}"),
        "APPYARD_RUNNER_TMP_DIR": str(logs),
        **{f"APPYARD_RUNNER_{key.upper()}": value for key, value in settings.items()},
        **(env or {}),
    }
    count = len(list(logs.glob(f"runner-{app}-*.log")))
    return Process("appyard_runner", env, logs / f"runner-{app}-{count}.log")

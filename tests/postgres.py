"""A real PostgreSQL server for tests and benchmarks (Debian's package), private to one test session.

The server refuses to run as root, and tests run as root: ``initdb`` and ``postgres`` run as the ``postgres``
user (``runuser``) when this process is root, with a throw-away data directory, a private socket directory
and a free loopback port. Nothing of the machine's own PostgreSQL setup is used or changed. The ``postgres`` user
must be able to enter the root folder: pytest's ``tmp_path`` is private to root (0700), so tests use
``tests/integration/databases.py``'s ``start_postgres()`` (a new folder under the system's temporary folder).

    server = Postgres.start(Path(tempfile.mkdtemp(prefix="appyard-pg-")))
    server.url("shop")             # postgresql+psycopg://appyard@127.0.0.1:PORT/shop (created on first use)
    server.psql("shop", "SELECT 1")
    server.stop()
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

USER = "appyard"
PASSWORD = "appyard-test"


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed; `make setup` installs Debian's postgresql package")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user() -> list[str]:
    # The server will not run as root; as another user it runs as that user.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class Postgres:
    """One running PostgreSQL server with a superuser ``appyard`` (password auth over TCP)."""

    root: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None
    databases: set[str] = field(default_factory=set)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sockets(self) -> Path:
        return self.root / "sockets"

    @classmethod
    def start(cls, root: Path) -> Postgres:
        """Create a fresh cluster under ``root`` and start it; waits until it accepts connections."""
        server = cls(root)
        server._start()
        return server

    def _run(self, *args: str, input: str | None = None) -> str:
        done = subprocess.run(
            [*_as_server_user(), *args], input=input, capture_output=True, text=True, check=False, cwd="/"
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def _start(self) -> None:
        bin_dir = _bin_dir()
        for folder in (self.root, self.data, self.sockets):
            folder.mkdir(parents=True, exist_ok=True)
            _chown(folder)
        password_file = self.root / "password"
        password_file.write_text(PASSWORD + "\n")
        _chown(password_file)
        self._run(
            str(bin_dir / "initdb"),
            "-D", str(self.data),
            "-U", USER,
            "--pwfile", str(password_file),
            "-A", "scram-sha-256",
            "--auth-local", "trust",
            "-E", "UTF8",
            "--locale", "C.UTF-8",
            "--no-sync",
        )  # fmt: skip
        log = self.root / "server.log"
        log.touch()
        _chown(log)
        self.process = subprocess.Popen(
            [
                *_as_server_user(),
                str(bin_dir / "postgres"),
                "-D", str(self.data),
                "-p", str(self.port),
                "-k", str(self.sockets),
                "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=off",
                "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off",
                "-c", "max_connections=200",
                "-c", "shared_buffers=256MB",
                "-c", f"log_directory={self.root}",
                "-c", "logging_collector=off",
            ],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            cwd="/",
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.process.returncode}: {log.read_text()[-2000:]}")
            ready = subprocess.run(
                [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"], check=False
            )
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"postgres not ready after 30 s: {log.read_text()[-2000:]}")
            time.sleep(0.05)

    def create_database(self, name: str) -> None:
        """Create database ``name`` (once)."""
        if name not in self.databases:
            self.psql("postgres", f'CREATE DATABASE "{name}"')
            self.databases.add(name)

    def url(self, database: str = "appyard", driver: str = "postgresql+psycopg") -> str:
        """A SQLAlchemy URL of ``database`` over TCP with the password (the database is created on first use)."""
        self.create_database(database)
        return f"{driver}://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def psql(self, database: str, sql: str) -> str:
        """Run SQL with psql over the private socket (stops at the first error); returns its output."""
        return self._run(
            str(shutil.which("psql") or _bin_dir() / "psql"),
            "-h", str(self.sockets),
            "-p", str(self.port),
            "-U", USER,
            "-d", database,
            "-v", "ON_ERROR_STOP=1",
            "-X", "-q", "-A", "-t",
            input=sql,
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its files."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

"""A real git server for tests: `git http-backend` (smart HTTP) behind a small threaded HTTP server."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from .servers import free_port


class _Handler(BaseHTTPRequestHandler):
    root: Path
    private: dict[str, str]  # repository name → the only "user:token" allowed to read or push it

    def _authorized(self, path: str) -> bool:
        name = path.strip("/").split("/", 1)[0].removesuffix(".git")
        allowed = self.private.get(name)
        if allowed is None:
            return True
        given = self.headers.get("Authorization", "")
        return given == "Basic " + base64.b64encode(allowed.encode()).decode()

    def _cgi(self) -> None:
        url = urlsplit(self.path)
        if not self._authorized(url.path):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            **os.environ,
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": url.path,
            "QUERY_STRING": url.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "test",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        if self.headers.get("Content-Encoding") == "gzip":
            env["HTTP_CONTENT_ENCODING"] = "gzip"
        result = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            if not line:
                continue
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            else:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _cgi
    do_POST = _cgi

    def log_message(self, *_: object) -> None:
        return  # quiet


class GitServer:
    """Bare repositories under ``root`` served at http://<host>:<port>/<name>.git (``host``: loopback, or the test
    cluster's node address so pods can clone)."""

    def __init__(self, root: Path, host: str = "127.0.0.1") -> None:
        self.root = root
        self.host = host
        root.mkdir(parents=True, exist_ok=True)
        self.private: dict[str, str] = {}
        handler = type("Handler", (_Handler,), {"root": root, "private": self.private})
        self.port = free_port()
        self.server = ThreadingHTTPServer((host, self.port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.port}/{name}.git"

    def protect(self, name: str, username: str, token: str) -> None:
        """From now on, repository ``name`` answers only requests with this user and token (HTTP basic auth)."""
        self.private[name] = f"{username}:{token}"

    def create(self, name: str) -> Path:
        path = self.root / f"{name}.git"
        subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(path)], check=True)
        subprocess.run(["git", "-C", str(path), "config", "http.receivepack", "true"], check=True)
        return path

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Clone:
    """A working copy a test commits to and pushes from, as a developer would."""

    def __init__(self, folder: Path, url: str) -> None:
        self.folder = folder
        self.url = url
        folder.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "--initial-branch=main")
        self.git("config", "user.email", "dev@example.com")
        self.git("config", "user.name", "Developer")

    def git(self, *arguments: str) -> str:
        result = subprocess.run(["git", "-C", str(self.folder), *arguments], capture_output=True, text=True, check=True)
        return result.stdout.strip()

    def copy(self, source: Path, target: str = "workspace") -> None:
        destination = self.folder / target
        if destination.exists():
            shutil.rmtree(destination)
        shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__"))

    def commit(self, message: str) -> str:
        """Commit everything and push to the server; returns the commit's SHA."""
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        self.git("push", "-q", self.url, "HEAD:refs/heads/main")
        return self.git("rev-parse", "HEAD")

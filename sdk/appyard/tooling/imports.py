"""Importing a workspace's scripts in a child process, so `appyard validate` reports a failing import up front.

Only the CLI does this, on the author's own machine: the API and the operator never import user code
(DESIGN §7). The child sets up ``sys.path`` as a run does (:func:`appyard.execution.ensure_importable`: the
workspace first, pages imported as ``<app>.<page>`` packages), imports every ``scripts/*.py`` module of the
pages it is given, and prints one JSON line per failure: the file and line where the import failed (the deepest
frame inside the workspace) and the exception. Pages whose generated models are missing or stale are left out
by the caller (their ``from ..state import State`` would fail for that reason, which is reported already).

    python -m appyard.tooling.imports WORKSPACE APP/PAGE [APP/PAGE …]
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path

from ..errors import Issue, shown

TIMEOUT_SECONDS = 120.0
"""A workspace whose scripts take longer than this to import is reported as such (something blocks at import)."""


def check(root: Path, pages: Iterable[tuple[str, str, list[str]]]) -> list[Issue]:
    """Issues for every script module that fails to import; ``pages`` are (app, page, python modules)."""
    wanted = [f"{app}/{page}/{module}" for app, page, modules in pages for module in modules]
    if not wanted:
        return []
    command = [sys.executable, "-m", "appyard.tooling.imports", str(root.resolve()), *wanted]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, cwd=root.resolve(), check=False
        )
    except subprocess.TimeoutExpired:
        return [
            Issue(
                shown(root),
                "$",
                f"importing the scripts took longer than {TIMEOUT_SECONDS:.0f} s; does a script wait for something "
                "at import time (a network call, input())? Move that work into a function",
            )
        ]
    issues = []
    for line in done.stdout.splitlines():
        try:
            found = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(found, dict):
            file = shown(Path(str(found.get("file", root))))
            issues.append(Issue(file, str(found.get("where", "$")), str(found.get("message", "import failed"))))
    if done.returncode not in (0, 1) and not issues:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        issues.append(Issue(shown(root), "$", f"importing the scripts crashed ({tail[0]})"))
    return issues


def _where(error: BaseException, root: str, script: Path) -> tuple[Path, str]:
    """The deepest frame of the failure inside the workspace (the user's line), else the script itself."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename.startswith(root)]
    if isinstance(error, SyntaxError) and error.filename and error.filename.startswith(root):
        return Path(error.filename), f"line {error.lineno}"
    if frames:
        return Path(frames[-1].filename), f"line {frames[-1].lineno}"
    return script, "$"


def _import_all(root: Path, wanted: list[str]) -> int:
    from ..execution import ensure_importable

    ensure_importable(root)
    out = sys.stdout
    sys.stdout = sys.stderr  # what scripts print at import is not ours to parse
    failures = 0
    prefix = str(root) + os.sep
    for item in wanted:
        app, page, module = item.split("/")
        script = root / app / page / "scripts" / f"{module}.py"
        try:
            importlib.import_module(f"{app}.{page}.scripts.{module}")
        except BaseException as error:  # any failure at import (even SystemExit) is what we report
            failures += 1
            file, where = _where(error, prefix, script)
            message = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()[-1]
            report = {"file": str(file), "where": where, "message": f"importing failed: {message}"}
            out.write(json.dumps(report) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(_import_all(Path(sys.argv[1]), sys.argv[2:]))

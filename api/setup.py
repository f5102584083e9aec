"""The API's wheel carries the built web client (web/dist of the checkout) as ``appyard_api/web``.

Everything else about the package is in pyproject.toml. The web client is copied into the build at build time and
never committed: an editable install (``pip install -e api``) serves the checkout's web/dist instead (``appyard dev``
finds it), so nothing here runs for it. ``APPYARD_WEB_DIST`` names another built client (the API's Dockerfile).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CHECKOUT_WEB = Path(__file__).resolve().parent.parent / "web" / "dist"


class BuildWithWebClient(build_py):
    """build_py, then the built web client into the build's appyard_api/web."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        source = Path(os.environ.get("APPYARD_WEB_DIST") or CHECKOUT_WEB)
        if not (source / "index.html").is_file():
            # A wheel without the viewer and Studio serves only the API (and a plain page listing the apps).
            print(f"warning: {source}/index.html not found: the wheel carries no web client (build web/dist first)")
            return
        target = Path(self.build_lib) / "appyard_api" / "web"
        shutil.rmtree(target, ignore_errors=True)  # never a stale asset from an earlier build
        shutil.copytree(source, target)


setup(cmdclass={"build_py": BuildWithWebClient})

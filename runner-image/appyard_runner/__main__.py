"""``python -m appyard_runner``: serve one app's runs (settings from APPYARD_RUNNER_* variables)."""

from __future__ import annotations

import logging
import os

import uvloop

from appyard import bundles, logs

from . import environment
from .settings import RunnerSettings
from .worker import Runner


def main() -> None:
    logs.configure()  # JSON lines in a pod (the operator sets APPYARD_LOG_FORMAT=json), text under `appyard dev`
    settings = RunnerSettings()
    # The data sources' URLs (APPYARD_DB_* by default) leave os.environ with every APPYARD_* variable; the parent
    # keeps them for its own pools and hands runs only the app's own (see .datasources).
    started_with = {
        name: value for name, value in os.environ.items() if not name.startswith(("APPYARD_RUNNER_", "NATS_"))
    }
    environment.seal()  # before any run: its credentials leave the environment; /proc/<pid>/environ is closed
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)  # in a pod: a folder of the /tmp emptyDir
    if settings.bundle is not None:
        bundles.unpack(settings.bundle.read_bytes(), settings.workspace / settings.app)
        logging.getLogger("appyard.runner").info("unpacked %s into %s", settings.bundle, settings.workspace)
    uvloop.run(Runner(settings, started_with).run())


if __name__ == "__main__":
    main()

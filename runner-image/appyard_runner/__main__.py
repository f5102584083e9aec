"""``python -m appyard_runner``: serve one app's runs (settings from APPYARD_RUNNER_* variables)."""

from __future__ import annotations

import logging

import uvloop

from appyard import bundles

from . import environment
from .settings import RunnerSettings
from .worker import Runner


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = RunnerSettings()
    environment.seal()  # before any run: its credentials leave the environment; /proc/<pid>/environ is closed
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)  # in a pod: a folder of the /tmp emptyDir
    if settings.bundle is not None:
        bundles.unpack(settings.bundle.read_bytes(), settings.workspace / settings.app)
        logging.getLogger("appyard.runner").info("unpacked %s into %s", settings.bundle, settings.workspace)
    uvloop.run(Runner(settings).run())


if __name__ == "__main__":
    main()

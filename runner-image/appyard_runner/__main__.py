"""``python -m appyard_runner``: serve one app's runs (settings from APPYARD_RUNNER_* variables)."""

from __future__ import annotations

import logging

import uvloop

from .settings import RunnerSettings
from .worker import Runner


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = RunnerSettings()
    uvloop.run(Runner(settings).run())


if __name__ == "__main__":
    main()

"""Developer tooling behind the CLI (``appyard dev``), kept apart from what scripts import as ``appyard``."""

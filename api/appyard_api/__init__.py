"""The Appyard API server. ``create_app()`` builds it; ``python -m appyard_api`` serves it."""

from __future__ import annotations

__version__ = "0.1.0"

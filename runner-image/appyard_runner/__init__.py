"""The Appyard runner: executes one app's runs, each in a fresh forked child (see worker and sandbox)."""

from __future__ import annotations

__version__ = "0.1.0"

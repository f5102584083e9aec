"""The Appyard operator: handlers (thin) → reconcile plans (pure) → the Kubernetes adapter."""

from __future__ import annotations

__version__ = "0.1.0"

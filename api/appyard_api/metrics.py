"""Prometheus metrics of the API process (served at /api/metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RUNS = Counter("appyard_runs_total", "Runs finished, by app and final status.", ["app", "status"])
RUN_SECONDS = Histogram(
    "appyard_run_seconds",
    "Time from accepting a run to returning its result, by app.",
    ["app"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WAITING = Gauge("appyard_runs_waiting", "HTTP requests waiting for a run's result.")
REJECTED = Counter("appyard_runs_rejected_total", "Runs refused before dispatch, by reason.", ["reason"])
AUDIT_FAILED = Counter("appyard_audit_failed_total", "Audit entries that could not be written (see the API's log).")

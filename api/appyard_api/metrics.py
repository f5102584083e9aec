"""Prometheus metrics of the API process: at /api/metrics for workspace admins, and, when
APPYARD_API_METRICS_PORT is set, at GET /metrics on that port for a scraper (see :func:`exposition`)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

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


def exposition() -> Starlette:
    """The metrics port's whole application: GET /metrics, unauthenticated, nothing else (404, 405).

    The metrics name every app, which is why the main port shows them to admins only; this port is for the
    cluster's scraper, and the chart's NetworkPolicy lets only the namespaces and pods given in its values reach it.
    """

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])

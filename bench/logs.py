"""Benchmark: what the runner's line per finished run costs (``appyard_runner.worker._log_finished``).

Times the worker's own code, ``if log.isEnabledFor(INFO): _log_finished(result)``, for a succeeded and a failed
result, with INFO off (the logger at WARNING), and on in each format, the line written to ``/dev/null`` through
the handler :func:`appyard.logs.configure` installs (so the cost of the write system call is in it, not a pipe's
or a terminal's). ``BENCH_LOGS_CALLS`` calls per round, ``BENCH_LOGS_ROUNDS`` rounds; the table shows the median
and the slowest round, in µs per call. A run costs ~2.7 ms (docs/benchmarks.md): a few µs is noise beside it.

Run with ``.venv/bin/python -m bench.logs``. Nothing is asserted.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections.abc import Callable

from appyard import logs
from appyard.runs import RunError, RunResult, RunStatus
from appyard_runner import worker

CALLS = int(os.environ.get("BENCH_LOGS_CALLS", "20000"))
ROUNDS = int(os.environ.get("BENCH_LOGS_ROUNDS", "7"))

SUCCEEDED = RunResult(
    run_id="01JDZQ4S9V6F3T8W2K5M7N1P0R", app="lab", page="main", function="echo", status=RunStatus.succeeded,
    duration_ms=3.1234, attempt=1,
)  # fmt: skip
FAILED = SUCCEEDED.model_copy(
    update={"status": RunStatus.failed, "error": RunError(kind="timeout", message="the run took longer than 5 s")}
)


def _per_call_us(call: Callable[[], None]) -> list[float]:
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(CALLS):
            call()
        rounds.append((time.perf_counter() - started) / CALLS * 1e6)
    return rounds


def _as_worker_does(result: RunResult) -> Callable[[], None]:
    log = worker.log

    def call() -> None:
        if log.isEnabledFor(logging.INFO):
            worker._log_finished(result)

    return call


def main() -> None:
    with open(os.devnull, "w") as sink:  # a text stream, as stderr is
        rows: list[tuple[str, list[float]]] = []
        cases: list[tuple[str, logs.LogFormat, int]] = [
            ("INFO off", "text", logging.WARNING),
            ("INFO on, text", "text", logging.INFO),
            ("INFO on, JSON", "json", logging.INFO),
        ]
        for label, format, level in cases:
            logs.configure(format, level, stream=sink)
            for which, result in (("succeeded", SUCCEEDED), ("failed", FAILED)):
                rows.append((f"{label}, {which} run", _per_call_us(_as_worker_does(result))))
        logs.configure("text", logging.WARNING, stream=sink)
        rows.append(("baseline: an empty call", _per_call_us(lambda: None)))
    print(f"runner's per-run log line: µs per call ({ROUNDS} rounds of {CALLS:,} calls)")
    print(f"{'case':<36} {'median':>8} {'slowest':>8}")
    for label, rounds in rows:
        print(f"{label:<36} {statistics.median(rounds):>8.2f} {max(rounds):>8.2f}")


if __name__ == "__main__":
    main()

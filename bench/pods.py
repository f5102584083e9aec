"""Benchmark: Appyard on a real single-node cluster (the cluster tier's harness, tests/cluster).

1. **Bring-up**: the cluster (control plane, node Ready), the images (built here, or from the cache), `helm
   install` until the API, the operator and NATS are ready, and the first push until the app serves a run.
2. **push → a new pod serving** a code-only change (the runner Deployment rolls; no build), BENCH_POD_PUSHES
   times, and once a requirements change (kaniko builds the app's image in a Job, then the pods roll).
3. **Pod cold start**: a runner pod deleted → a run answered by its replacement.
4. **A run's latency** through a real pod (the API's Service, kube-proxy, NATS and the runner in pods), beside
   the same app under `appyard dev` on this machine: BENCH_POD_RUNS sequential runs each.
5. **Runner pod memory**: the kubelet's working-set figure for the runner pod, idle and after the runs.

Nothing is asserted; the numbers go into docs/benchmarks.md. Needs root (it starts a kubelet) and `make tools`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.chart.support import HelmError
from tests.cluster.configs import REGISTRY
from tests.cluster.images import all_images
from tests.cluster.node import Cluster
from tests.cluster.registry import Registry
from tests.cluster.release import APP, FIXTURE, RUNS, USER, Appyard, Wheelhouse, install, serving
from tests.integration.servers import free_port, wait_for
from tests.waiting import eventually

PUSHES = int(os.environ.get("BENCH_POD_PUSHES", "3"))
RUN_COUNT = int(os.environ.get("BENCH_POD_RUNS", "300"))
APPYARD = Path(sys.executable).parent / "appyard"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(what: str, action: Callable[[], Any], until: Callable[[], Any], timeout: float = 600) -> float:
    """Seconds from ``action`` until ``until`` holds (polled every 50 ms)."""
    start = time.perf_counter()
    action()
    deadline = start + timeout
    while True:
        try:
            if until():
                break
        except (httpx.HTTPError, HelmError, RuntimeError):  # an object not made yet, a server still starting: not yet
            pass
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    log(f"{what}: {seconds:.2f} s")
    return seconds


def answer(release: Appyard) -> str:
    with release.api() as api:
        response = api.post(RUNS, json={"function": "whoami", "state": {}})
    if response.status_code != 200 or response.json().get("status") != "succeeded":
        return ""
    return str(response.json()["context"]["pod"]["components"]["answer"]["text"])


def bump(release: Appyard, version: str) -> None:
    script = release.clone.folder / "workspace" / APP / "home" / "scripts" / "whoami.py"
    text = script.read_text()
    start = text.index('VERSION = "') + len('VERSION = "')
    script.write_text(text[:start] + version + text[text.index('"', start) :])


def latencies(url: str, headers: dict[str, str]) -> list[float]:
    """Milliseconds of RUN_COUNT sequential runs (one kept-alive connection), after 20 warm-up runs."""
    samples = []
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for index in range(RUN_COUNT + 20):
            start = time.perf_counter()
            response = client.post(RUNS, json={"function": "whoami", "state": {}})
            elapsed = (time.perf_counter() - start) * 1000
            if response.status_code != 200 or response.json()["status"] != "succeeded":
                raise RuntimeError(f"run {index} failed: {response.status_code} {response.text}")
            if index >= 20:
                samples.append(elapsed)
    return samples


def quantiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100)
    return f"p50 {cuts[49]:.2f} ms, p99 {cuts[98]:.2f} ms"


def dev_latencies(folder: Path) -> list[float]:
    """The same app and function under `appyard dev` (local auth, one runner process, no pods)."""
    port = free_port()
    env = {**os.environ, "APPYARD_DATA_DIR": str(folder / "data")}
    log_file = (folder / "dev.log").open("wb")
    process = subprocess.Popen(
        [str(APPYARD), "dev", str(FIXTURE), "--port", str(port)], stdout=log_file, stderr=log_file, env=env
    )
    try:
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                response = httpx.post(f"{url}{RUNS}", json={"function": "whoami", "state": {}}, timeout=5)
            except httpx.HTTPError:
                return False
            return response.status_code == 200 and response.json().get("status") == "succeeded"

        wait_for(ready, 120, "appyard dev serving podinfo", process)
        return latencies(url, {})
    finally:
        process.terminate()
        process.wait(30)


def pod_memory(release: Appyard, pod: str) -> float:
    """MiB of the pod's working set (usage less inactive file pages, as the kubelet counts it), read from the
    pod's memory cgroup on this host (the kubelet's summary API reports no pod memory on this cgroup v1 node)."""
    uid = release.kube_pod(pod)["metadata"]["uid"]
    (folder,) = Path("/sys/fs/cgroup/memory").glob(f"**/pod{uid}")
    usage = int((folder / "memory.usage_in_bytes").read_text())
    stat = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
    return (usage - int(stat.get("total_inactive_file", 0))) / 1_048_576


def settled(release: Appyard) -> str:
    """The app's runner pod once a rollout is over."""
    pods: list[str] = eventually(lambda: serving(release), "the runner pods settled", 180)
    return pods[0]


def measure(release: Appyard, wheels: Wheelhouse, results: dict[str, str]) -> None:
    """Phases 2-5 against an installed release whose Workspace was just applied."""
    first = timed("Workspace applied → app serving", lambda: None, lambda: serving(release) and answer(release))
    results["Workspace applied (first push) → app serving"] = f"{first:.1f} s"
    code = []
    for index in range(PUSHES):
        version = f"v{index}"

        def push(version: str = version) -> None:
            bump(release, version)
            release.push(f"Say {version}")

        def shows(version: str = version) -> bool:
            return f"({version})" in answer(release)

        code.append(timed(f"code-only push {index}", push, shows))
    results["code-only push → new pod serving (median)"] = f"{statistics.median(code):.1f} s"

    def requirements() -> None:
        release.write(f"{APP}/requirements.txt", wheels.requirements())
        bump(release, "built")
        release.push("Requirements")

    built = timed("requirements push", requirements, lambda: "(built)" in answer(release), 900)
    results["requirements push → build Job → new pod serving"] = f"{built:.1f} s"

    pod = settled(release)
    time.sleep(5)  # let the new pod's memory settle after its first runs
    idle = pod_memory(release, pod)
    cold = timed(
        "pod cold start",
        lambda: release.kubectl("-n", "tools", "delete", "pod", pod, "--wait=false"),
        lambda: (names := serving(release)) and pod not in names and answer(release),
    )
    results["runner pod deleted → replacement answers a run"] = f"{cold:.1f} s"
    samples = latencies(release.url, USER)
    results[f"run latency through a real pod ({RUN_COUNT} sequential)"] = quantiles(samples)
    after = pod_memory(release, settled(release))
    results["runner pod memory (working set, idle → after the runs)"] = f"{idle:.0f} → {after:.0f} MiB"


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="appyard-bench-pods-"))
    results: dict[str, str] = {}
    cluster = Cluster(folder / "cluster")
    start = time.perf_counter()
    cluster.start()
    results["cluster start (control plane + node Ready)"] = f"{time.perf_counter() - start:.1f} s"
    try:
        start = time.perf_counter()
        images = all_images(log)
        results["images (from the cache when unchanged)"] = f"{time.perf_counter() - start:.1f} s"
        registry = Registry(folder / "registry", REGISTRY)
        registry.start()
        wheels = Wheelhouse(folder / "wheels")
        try:
            start = time.perf_counter()
            with install(cluster, images, registry, folder / "release", ingress_url=None) as release:
                results["helm install → API, operator and NATS ready"] = f"{time.perf_counter() - start:.1f} s"
                measure(release, wheels, results)
        finally:
            wheels.stop()
            registry.stop()
        dev = dev_latencies(folder)
        results[f"run latency under appyard dev ({RUN_COUNT} sequential)"] = quantiles(dev)
    finally:
        cluster.stop()
    print("| what | measured |\n|---|---|")
    for what, value in results.items():
        print(f"| {what} | {value} |")


if __name__ == "__main__":
    main()

"""Benchmark: the operator against the real control plane (``make tools``), git over HTTP and nats-server.

1. **push → App Ready** for a code-only change: commit and push a script change to the orders app, then
   time until its App reports Ready *at that revision* (the runner Deployment rolled out the new code) —
   once with the push webhook, once with polling (interval 5 s). No kubelet runs here: a stand-in thread
   marks every new runner Pod running within ~50 ms of its creation, as a fast kubelet would.
2. **500 Apps**: a Workspace of 500 small apps; time from creating it until every App has its runner
   objects and a status for its generation, and the operator's peak and settled memory (RSS).

Goals (issue 5): ≤ 5 s push → Ready with the webhook; ≤ 300 MB operator memory for 500 Apps. Nothing is
asserted; the numbers go into docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.types import PatchType

from appyard import scaffold
from tests.integration.cluster import (
    REPO,
    App,
    Operator,
    Workspace,
    as_dict,
    create,
    create_secret,
    install_crds,
    namespace,
    pods,
    run_pod,
    sign,
    workspace_object,
)
from tests.integration.controlplane import ControlPlane
from tests.integration.gitserver import Clone, GitServer
from tests.integration.servers import NatsServer

PUSHES = int(os.environ.get("BENCH_PUSHES", "10"))
POLLS = int(os.environ.get("BENCH_POLLS", "5"))
APPS = int(os.environ.get("BENCH_APPS", "500"))
SECRET = b"bench-hook"
BUILD = {"baseImage": "registry.test/appyard/runner:bench"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Kubelet:
    """Marks runner Pods of a namespace running as soon as the ReplicaSet controller creates them."""

    def __init__(self, kube: Client, ns: str) -> None:
        self.kube, self.ns = kube, ns
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        while not self.stopping.wait(0.05):
            for pod in pods(self.kube, self.ns, {"app.kubernetes.io/name": "appyard-runner"}):
                if pod.status is None or pod.status.phase != "Running":
                    with contextlib.suppress(ApiError):  # deleted meanwhile (an old ReplicaSet scaled down)
                        run_pod(self.kube, pod)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()


def serving(kube: Client, ns: str, app: str, revision: str) -> bool:
    try:
        status = as_dict(kube.get(App, app, namespace=ns)).get("status") or {}
    except ApiError:
        return False  # not created yet
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
    return ready and status.get("servingRevision") == revision


def wait(check: Any, timeout: float = 120, every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark waited too long")
        time.sleep(every)


def stage(kube: Client, git: GitServer, folder: Path, name: str) -> tuple[str, Clone]:
    """A restricted namespace ``bench-<name>`` with the webhook Secret, and an empty repository's clone."""
    ns = namespace(kube, f"bench-{name}")
    create_secret(kube, ns, "hook", {"secret": SECRET.decode()})
    git.create(name)
    return ns, Clone(folder / f"{name}-clone", git.url(name))


def push_to_ready(
    plane: ControlPlane, kube: Client, git: GitServer, nats: NatsServer, folder: Path
) -> dict[str, list[float]]:
    ns, clone = stage(kube, git, folder, "push")
    clone.copy(REPO / "workspace")
    (clone.folder / "workspace" / "properties.json").write_text(json.dumps({"apps": [{"name": "orders"}]}))
    shutil.rmtree(clone.folder / "workspace" / "ops")
    clone.commit("orders")
    operator = Operator(plane, [ns], nats, folder / "push-operator")
    operator.start()
    kubelet = Kubelet(kube, ns)
    results: dict[str, list[float]] = {"webhook": [], "polling (interval 5s)": []}
    try:
        create(kube, workspace_object("bench", clone.url, nats.url, "hook", build=BUILD), ns)
        wait(lambda: serving(kube, ns, "orders", clone.git("rev-parse", "HEAD")))
        script = clone.folder / "workspace" / "orders" / "orders" / "scripts" / "orders.py"
        original = script.read_text()
        for index in range(PUSHES):
            script.write_text(original + f"\n# change {index}\n")
            start = time.perf_counter()
            sha = clone.commit(f"change {index}")
            body = json.dumps({"after": sha}).encode()
            headers = {"X-Hub-Signature-256": sign(SECRET, body)}
            httpx.post(f"{operator.webhook}/hooks/{ns}/bench", content=body, headers=headers)
            wait(lambda sha=sha: serving(kube, ns, "orders", sha))
            results["webhook"].append(time.perf_counter() - start)
            log(f"  push → Ready with the webhook: {results['webhook'][-1]:.2f} s")
        kube.patch(Workspace, "bench", {"spec": {"git": {"interval": "5s"}}}, namespace=ns, patch_type=PatchType.MERGE)
        time.sleep(2)
        for index in range(POLLS):
            script.write_text(original + f"\n# polled change {index}\n")
            start = time.perf_counter()
            sha = clone.commit(f"polled change {index}")
            wait(lambda sha=sha: serving(kube, ns, "orders", sha))
            results["polling (interval 5s)"].append(time.perf_counter() - start)
            log(f"  push → Ready by polling: {results['polling (interval 5s)'][-1]:.2f} s")
    finally:
        kubelet.stop()
        operator.stop()
    return results


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process, in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def many_apps(plane: ControlPlane, kube: Client, git: GitServer, nats: NatsServer, folder: Path) -> dict[str, float]:
    ns, clone = stage(kube, git, folder, "scale")
    root = clone.folder / "workspace"
    scaffold.new_app(root, "app_000", "App 0")
    for index in range(1, APPS):
        shutil.copytree(root / "app_000", root / f"app_{index:03d}")
    (root / "properties.json").write_text(json.dumps({"apps": [{"name": f"app_{index:03d}"} for index in range(APPS)]}))
    clone.commit(f"{APPS} apps")
    operator = Operator(plane, [ns], nats, folder / "scale-operator")
    operator.start()
    assert operator.process is not None
    assert operator.process.process is not None
    pid = operator.process.process.pid
    idle, _ = rss_mb(pid)
    start = time.perf_counter()
    create(kube, workspace_object("bench", clone.url, nats.url, "hook", build=BUILD), ns)

    def reconciled() -> bool:
        done = 0
        for item in kube.list(App, namespace=ns):
            app = as_dict(item)
            if (app.get("status") or {}).get("observedGeneration") == app["metadata"].get("generation"):
                done += 1
        return done == APPS

    wait(reconciled, 900, every=1.0)  # listing 500 Apps is work too: not more often
    elapsed = time.perf_counter() - start
    log(f"  {APPS} Apps reconciled in {elapsed:.1f} s")
    time.sleep(20)  # settle: the per-App timers keep checking Apps that are not Ready (no kubelet here)
    settled, peak = rss_mb(pid)
    operator.stop()
    return {"seconds": elapsed, "idle": idle, "peak": peak, "settled": settled}


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="appyard-bench-operator-"))
    plane = ControlPlane(folder / "controlplane")
    nats = NatsServer(store=folder / "nats")
    git = GitServer(folder / "git")
    try:
        plane.start()
        nats.start()
        kube = Client(KubeConfig.from_file(plane.kubeconfig), field_manager="bench")
        install_crds(kube)
        log(f"measuring push → Ready ({PUSHES} pushes with the webhook, {POLLS} by polling)…")
        pushes = push_to_ready(plane, kube, git, nats, folder)
        log(f"measuring {APPS} Apps…")
        scale = many_apps(plane, kube, git, nats, folder)
    finally:
        git.stop()
        nats.stop()
        plane.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print()
    print(f"{'push → App Ready (code-only change)':<44}{'median s':>10}{'max s':>8}")
    for name, samples in pushes.items():
        print(f"{name:<44}{statistics.median(samples):>10.2f}{max(samples):>8.2f}")
    print()
    print(
        f"{APPS} Apps: reconciled in {scale['seconds']:.1f} s; operator RSS idle {scale['idle']:.0f} MB, "
        f"peak {scale['peak']:.0f} MB, settled {scale['settled']:.0f} MB"
    )


if __name__ == "__main__":
    main()

"""Appyard for real, on one machine: `helm install`, an app shipped by `git push`, a click served by a sandboxed pod.

Read this file top to bottom: it is what a platform team and a developer do, and what the cluster then does on its
own. Nothing is faked. The cluster (tests/cluster/node.py) is a real control plane, containerd, runc, a CNI bridge,
kubelet, kube-scheduler, kube-proxy and CoreDNS; the images (tests/cluster/images.py) are built here from our
Dockerfile on a Python base made from Debian packages; the per-app image is built in the cluster by kaniko (built
from its Go module) and pushed to a registry on the node's address; the browser is Chromium.

Who signs in: the API runs in proxy mode (docs/install.md, "An authenticating proxy"), and the browser sends the
X-Forwarded-* headers that oauth2-proxy would add — this machine has no identity provider to put in front of it.

Tests run in order and share one release (module scope): each leaves the app serving for the next.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.waiting import eventually

from .configs import NODE_IP
from .images import Image
from .netpol import PolicyController
from .node import Cluster
from .registry import Registry
from .release import (
    APP,
    HOST,
    NAMESPACE,
    RUNS,
    USER,
    Appyard,
    Wheelhouse,
    answer_text,
    install,
    run,
    serving,
)

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def release(
    cluster: Cluster,
    images: dict[str, Image],
    registry: Registry,
    ingress_url: str | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Appyard]:
    with install(cluster, images, registry, tmp_path_factory.mktemp("release"), ingress_url=ingress_url) as appyard:
        yield appyard


@pytest.fixture(scope="module")
def browser(release: Appyard) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # The ingress controller answers for the host name the chart's Ingress claims.
        rules = [f"--host-resolver-rules=MAP {HOST} {NODE_IP}"] if release.ingress_url else []
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *rules])
        yield launched
        launched.close()


# Run in the runner container by `kubectl exec`: its seccomp mode, effective capabilities, uid, and what writing to
# the root filesystem says.
INSIDE = """
import os, pathlib
status = dict(line.split(":\\t", 1) for line in pathlib.Path("/proc/self/status").read_text().splitlines())
try:
    open("/usr/x", "w")
    root = "writable"
except OSError as error:
    root = error.strerror
print(status["Seccomp"].strip(), status["CapEff"].strip(), os.getuid(), root)
"""


def settled(release: Appyard) -> str:
    """The name of the app's runner pod once the last push's rollout is over."""
    pods: list[str] = eventually(lambda: serving(release), "the runner pods settled", 180, explain=release.explain)
    return pods[0]


# ---- 1. helm install, git push, a click


def test_a_click_is_served_by_a_sandboxed_runner_pod(release: Appyard, browser: Browser) -> None:
    pods = eventually(lambda: serving(release), "podinfo's runner pod serving", 300, explain=release.explain)
    pod = release.kube_pod(pods[0])

    # The runner pod is what DESIGN §4 promises, and the namespace enforces Pod Security restricted.
    spec = pod["spec"]
    container = spec["containers"][0]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert spec["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["image"] == release.base_image  # no requirements: the base image, pulled from the registry
    namespace = json.loads(release.kubectl("get", "namespace", NAMESPACE, "-o", "json"))
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # ... and the kernel holds it: seccomp filtering, a read-only root, no capabilities, not root.
    inside = release.exec(pods[0], "python", "-c", INSIDE).strip().split(maxsplit=3)
    assert inside == ["2", "0000000000000000", "10001", "Read-only file system"], inside

    # A person opens the app and clicks: the function ran in that pod (its host name is the pod's name).
    context = browser.new_context(extra_http_headers=USER)
    try:
        page = context.new_page()
        page.goto(f"{release.url}/apps/{APP}/home")
        page.get_by_role("button", name="Who served me?").click()
        expect(page.get_by_text(f"served by {pods[0]} (first)")).to_be_visible(timeout=30_000)
    finally:
        context.close()


# ---- 2. pushes


def test_a_code_only_push_rolls_the_pods_without_a_build(release: Appyard) -> None:
    before = set(serving(release))
    script = release.clone.folder / "workspace" / APP / "home" / "scripts" / "whoami.py"
    script.write_text(script.read_text().replace('VERSION = "first"', 'VERSION = "second"'))
    release.push("Say second")

    def rolled() -> str | None:
        now = set(serving(release))
        if not now or now & before:
            return None
        text = answer_text(run(release, "whoami"))
        return text if text.endswith("(second)") else None

    text = eventually(rolled, "new runner pods serving the pushed code", 180, explain=release.explain)
    assert text.split()[2] not in before
    assert release.jobs() == [], "a code-only push built an image"


def test_a_requirements_change_builds_the_image_once(release: Appyard, wheelhouse: Wheelhouse) -> None:
    release.write(f"{APP}/requirements.txt", wheelhouse.requirements())
    script = release.clone.folder / "workspace" / APP / "home" / "scripts" / "whoami.py"
    script.write_text(
        script.read_text()
        .replace("import socket\n", "import socket\n\nimport pods_greeting\n")
        .replace('({VERSION})"', '({VERSION}, {pods_greeting.GREETING})"')
    )
    release.push("Greet from a wheel")

    def built() -> str | None:
        text = answer_text(run(release, "whoami"))
        return text if "hello from a wheel" in text else None

    eventually(built, "runner pods on the app's own image (kaniko in a build Job)", 600, explain=release.explain)
    jobs = release.jobs()
    assert len(jobs) == 1 and jobs[0]["status"].get("succeeded") == 1, jobs
    image = release.kube_pod(settled(release))["spec"]["containers"][0]["image"]
    assert image.startswith(f"{NODE_IP}:5000/appyard/runner@sha256:"), image

    # A later code-only push reuses that image: still one build.
    script.write_text(script.read_text().replace('VERSION = "second"', 'VERSION = "third"'))
    release.push("Say third")
    eventually(
        lambda: "(third," in answer_text(run(release, "whoami")), "the third version", 180, explain=release.explain
    )
    assert len(release.jobs()) == 1


# ---- 3. what the sandbox holds


def test_killing_a_runner_pod_mid_run_loses_no_run(release: Appyard) -> None:
    victim = settled(release)
    with release.api() as api:
        started = api.post(f"{RUNS}?wait=false", json={"function": "slow", "state": {}})
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        eventually(lambda: api.get(f"/api/runs/{run_id}").json()["status"] == "running", "the slow run started", 30)
        release.kubectl("-n", NAMESPACE, "delete", "pod", victim, "--grace-period=0", "--force", "--wait=false")

        def finished() -> dict[str, Any] | None:
            result: dict[str, Any] = api.get(f"/api/runs/{run_id}").json()
            return result if result["status"] not in ("queued", "running") else None

        result = eventually(finished, "the killed run redelivered and finished", 120, explain=release.explain)
    text = answer_text(result)
    assert text.startswith("slow run finished by ") and victim not in text, text


def test_a_run_past_its_memory_limit_is_stopped_and_the_pod_serves_on(release: Appyard) -> None:
    pod = settled(release)
    restarts = release.kube_pod(pod)["status"]["containerStatuses"][0]["restartCount"]
    result = run(release, "hog")
    assert result["status"] == "failed", result
    assert result["error"]["kind"] == "memory", result["error"]
    assert "96 MiB" in result["error"]["message"]
    assert pod in answer_text(run(release, "whoami"))
    assert release.kube_pod(pod)["status"]["containerStatuses"][0]["restartCount"] == restarts


def test_a_runner_reaches_nats_and_nothing_else(release: Appyard, policy_controller: PolicyController) -> None:
    """The operator's NetworkPolicy, enforced by kube-router: NATS is open, the API, the Kubernetes API, the registry
    and the git server are not (test_edge.py shows this cluster lets such traffic through where no policy says no)."""
    listed = release.kubectl("-n", NAMESPACE, "get", "networkpolicy", "-l", f"appyard.dev/app={APP}", "-o", "json")
    (policy,) = json.loads(listed)["items"]
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]

    def address(service: str, namespace: str = NAMESPACE) -> str:
        return release.service_url(service, namespace).removeprefix("http://").rsplit(":", 1)[0]

    nats = address("appyard-nats")
    targets = [
        [nats, 4222],
        [address("appyard-api"), 80],
        [address("kubernetes", "default"), 443],
        [NODE_IP, 5000],
        [NODE_IP, release.git.port],
    ]
    result = run(release, "reach", {"pod": {"targets": json.dumps(targets)}})
    outcome = json.loads(answer_text(result))
    assert outcome.pop(f"{nats}:4222") == "open", outcome
    assert all(value != "open" for value in outcome.values()), outcome


def test_kubectl_logs_of_a_runner_are_structured(release: Appyard) -> None:
    pod = settled(release)
    run(release, "whoami")

    def lines() -> list[dict[str, Any]]:
        text = release.kubectl("-n", NAMESPACE, "logs", pod)
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    records = eventually(lambda: [r for r in lines() if r.get("function") == "whoami"] and lines(), "a run's log line")
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
    done = [r for r in records if r.get("function") == "whoami"][-1]
    assert done["status"] == "succeeded" and done["app"] == APP and done["duration_ms"] > 0, done

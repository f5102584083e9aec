"""The node runs real pods: logs and exec, PSS restricted with seccomp and a read-only root, the kernel's OOM
killer, cluster DNS and Services. The workloads use Debian's static busybox packed into a local image; the
session fixture (conftest.py) fails the run when the stopped cluster leaves anything behind on the host."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import eventually

from .host import Snapshot
from .node import NODE_IP, REGISTRY, SERVICE_CIDR, Cluster
from .static_image import BUSYBOX_IMAGE, busybox_archive

pytestmark = pytest.mark.cluster

_names = itertools.count()

RESTRICTED: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@pytest.fixture(scope="module")
def node(cluster: Cluster) -> Cluster:
    """The session's cluster with the busybox test image imported."""
    cluster.import_image(busybox_archive(), BUSYBOX_IMAGE)
    return cluster


def _namespace(node: Cluster, labels: dict[str, str] | None = None) -> str:
    name = f"t{next(_names)}-{int(time.time() * 1000) % 100000}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}
    node.kubectl("apply", "-f", "-", input=json.dumps(body))
    # Pods need the namespace's `default` ServiceAccount, which the controller manager creates.
    eventually(lambda: bool(node.kubectl("get", "serviceaccount", "default", "-n", name, "-o", "name")), "default SA")
    return name


def _pod(
    name: str, command: str, *, security: dict[str, Any] | None = None, memory: str | None = None
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": BUSYBOX_IMAGE,
        "imagePullPolicy": "Never",
        "command": ["/bin/sh", "-c", command],
    }
    if security is not None:
        container["securityContext"] = security
    if memory is not None:
        container["resources"] = {"limits": {"memory": memory, "cpu": "200m"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"restartPolicy": "Never", "containers": [container], "terminationGracePeriodSeconds": 1},
    }


def _apply(node: Cluster, namespace: str, body: dict[str, Any]) -> None:
    node.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))


def _get(node: Cluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(node.kubectl("get", kind, name, "-n", namespace, "-o", "json"))
    return result


def _phase(node: Cluster, namespace: str, name: str, phases: set[str], timeout: float = 60) -> dict[str, Any]:
    """Wait until the pod reaches one of ``phases``; the failure message carries its status and the node's logs."""
    deadline = time.monotonic() + timeout
    pod: dict[str, Any] = {}
    while time.monotonic() < deadline:
        pod = _get(node, namespace, "pod", name)
        phase = pod.get("status", {}).get("phase")
        if phase in phases:
            return pod
        if phase in {"Succeeded", "Failed"}:
            logs = node.kubectl("logs", "-n", namespace, name)
            raise AssertionError(f"pod {name} ended {phase}, not {phases}: {json.dumps(pod['status'])}\n{logs}")
        time.sleep(0.2)
    raise AssertionError(f"pod {name} not in {phases}: {json.dumps(pod.get('status'))}\n{node.logs()}")


def test_a_pod_runs_to_completion_and_kubectl_logs_shows_its_output(node: Cluster) -> None:
    namespace = _namespace(node)
    _apply(node, namespace, _pod("hello", "echo hello from a real pod; cat /proc/1/cmdline"))
    pod = _phase(node, namespace, "hello", {"Succeeded", "Failed"})
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["status"]["podIP"].startswith("198.51.100.")
    assert "hello from a real pod" in node.kubectl("logs", "-n", namespace, "hello")


def test_kubectl_exec_runs_in_the_container(node: Cluster) -> None:
    namespace = _namespace(node)
    _apply(node, namespace, _pod("sleeper", "exec sleep 300"))
    _phase(node, namespace, "sleeper", {"Running"})
    output = node.kubectl("exec", "-n", namespace, "sleeper", "--", "sh", "-c", "hostname; cat /proc/1/comm")
    assert output.split() == ["sleeper", "sleep"]


def test_a_restricted_pod_runs_with_seccomp_and_a_read_only_root(node: Cluster) -> None:
    namespace = _namespace(node, {"pod-security.kubernetes.io/enforce": "restricted"})
    # touch's complaint goes nowhere: the log interleaves stderr and stdout in no fixed order.
    script = "grep Seccomp: /proc/self/status; id -u; touch /x 2>/dev/null && echo root-writable || echo root-read-only"
    _apply(node, namespace, _pod("locked", script, security=RESTRICTED))
    pod = _phase(node, namespace, "locked", {"Succeeded", "Failed"})
    assert pod["status"]["phase"] == "Succeeded"
    lines = node.kubectl("logs", "-n", namespace, "locked").split("\n")
    assert lines[0].split() == ["Seccomp:", "2"]
    assert lines[1] == "1000"
    assert "root-read-only" in lines
    assert "root-writable" not in lines


@pytest.mark.parametrize(
    ("security", "refusal"),
    [
        ({"privileged": True}, "privileged"),
        # Allowed by the API server's own checks; only PodSecurity admission refuses it.
        ({"runAsUser": 0}, "violates PodSecurity"),
    ],
    ids=["privileged", "root-without-seccomp"],
)
def test_admission_refuses_pods_that_break_restricted(node: Cluster, security: dict[str, Any], refusal: str) -> None:
    namespace = _namespace(node, {"pod-security.kubernetes.io/enforce": "restricted"})
    with pytest.raises(RuntimeError, match=refusal):
        _apply(node, namespace, _pod("refused", "true", security=security))
    assert "refused" not in node.kubectl("get", "pods", "-n", namespace, "-o", "name")


def test_a_pod_allocating_past_its_memory_limit_is_oom_killed(node: Cluster) -> None:
    namespace = _namespace(node)
    # /dev/zero has no newline: tail keeps all 64 MiB in memory, past the 32 MiB limit.
    _apply(node, namespace, _pod("hungry", "head -c 64m /dev/zero | tail", memory="32Mi"))
    pod = _phase(node, namespace, "hungry", {"Succeeded", "Failed"})
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137)


def test_pods_resolve_cluster_names_through_coredns(node: Cluster) -> None:
    namespace = _namespace(node)
    _apply(node, namespace, _pod("resolver", "cat /etc/resolv.conf; nslookup kubernetes.default.svc.cluster.local"))
    pod = _phase(node, namespace, "resolver", {"Succeeded", "Failed"})
    logs = node.kubectl("logs", "-n", namespace, "resolver")
    assert f"nameserver {NODE_IP}" in logs
    assert pod["status"]["phase"] == "Succeeded", logs
    assert "198.51.100.129" in logs.split("kubernetes.default.svc.cluster.local")[-1]


def test_a_service_is_reachable_by_cluster_ip_and_by_name(node: Cluster) -> None:
    namespace = _namespace(node)
    serve = "mkdir /tmp/www && echo served-by-$(hostname) > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"
    web = _pod("web", serve, security=RESTRICTED)
    # The root file system is read-only: the served folder lives in an emptyDir.
    web["spec"]["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    web["spec"]["containers"][0]["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]
    _apply(node, namespace, web)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    _apply(node, namespace, service)
    _phase(node, namespace, "web", {"Running"})
    cluster_ip = _get(node, namespace, "service", "web")["spec"]["clusterIP"]
    assert cluster_ip.startswith(SERVICE_CIDR.rsplit(".", 1)[0] + ".")

    def from_host() -> bool:
        with urllib.request.urlopen(f"http://{cluster_ip}/", timeout=2) as response:
            return bool(response.read().decode().strip() == "served-by-web")

    eventually(from_host, f"the Service's ClusterIP {cluster_ip} from the host")
    # Debian's static busybox crashes in glibc's resolver (static NSS; its wget too, even for an address), so names
    # are resolved by its nslookup and fetched with nc. nslookup applies resolv.conf's search list to dotless names
    # only (a glibc resolver applies it by ndots), hence `web` and the full name but not `web.<namespace>`.
    resolve = "$(nslookup {} | awk '/^Address: / {{ address = $2 }} END {{ print address }}')"
    get = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {} 80 | tail -n 1"
    fetch = "; ".join(
        get.format(target)
        for target in (cluster_ip, resolve.format("web"), resolve.format(f"web.{namespace}.svc.cluster.local"))
    )
    _apply(node, namespace, _pod("client", fetch, security=RESTRICTED))
    pod = _phase(node, namespace, "client", {"Succeeded", "Failed"})
    logs = node.kubectl("logs", "-n", namespace, "client")
    assert pod["status"]["phase"] == "Succeeded", logs
    assert logs.split() == ["served-by-web"] * 3
    # Hairpin: the serving pod reaches itself through its own Service.
    hairpin = node.kubectl("exec", "-n", namespace, "web", "--", "sh", "-c", get.format(cluster_ip))
    assert hairpin.strip() == "served-by-web"


def test_the_leftover_check_sees_a_link_and_a_file_a_node_would_leave(tmp_path: Path) -> None:
    """``leftovers()`` (asserted empty after the session's cluster stops) is only as good as this detection; what
    others put into a shared folder (/var/lib/cni) is not ours and must be neither reported nor removed."""
    snapshot = Snapshot.take(tmp_path, ["appyardprobe0"])
    root = Path("/var/lib/cni")
    existed = root.exists()
    ours, theirs = root / "appyard-probe", root / "someone-elses-probe"
    ours.mkdir(parents=True)
    theirs.mkdir()
    subprocess.run(["ip", "link", "add", "appyardprobe0", "type", "ifb"], check=True)
    try:
        changes = snapshot.changes()
        assert "link appyardprobe0" in changes
        assert f"path {ours}" in changes
        assert not [change for change in changes if str(theirs) in change]
    finally:
        subprocess.run(["ip", "link", "delete", "appyardprobe0"], check=True)
        shutil.rmtree(ours)
        shutil.rmtree(theirs)
        if not existed:
            root.rmdir()
    assert not [change for change in snapshot.changes() if "appyardprobe0" in change or "-probe" in change]


def _registry_answers() -> bool:
    with urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=2) as response:
        return bool(response.status == 200)


def test_a_pod_pulls_its_image_from_the_loopback_registry_over_plain_http(node: Cluster, tmp_path: Path) -> None:
    """The registry contract of the node: ``REGISTRY`` is pulled from over plain HTTP. Debian's docker-registry is
    started here unless one already serves there (the image tests' registry); skopeo pushes the busybox archive."""
    registry = None
    try:
        _registry_answers()
    except OSError:
        config = tmp_path / "registry.yml"
        config.write_text(
            f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'blobs'}\n"
            f"http:\n  addr: {REGISTRY}\nlog:\n  level: warn\n"
        )
        with (tmp_path / "registry.log").open("wb") as log:
            registry = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log)
    try:
        eventually(_registry_answers, "the registry")
        image = f"{REGISTRY}/appyard-node-test/busybox:{time.time_ns()}"
        push = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci-archive:{busybox_archive()}"]
        subprocess.run([*push, f"docker://{image}"], check=True)
        namespace = _namespace(node)
        pod = _pod("pulled", "echo pulled over http")
        pod["spec"]["containers"][0] |= {"image": image, "imagePullPolicy": "Always"}
        _apply(node, namespace, pod)
        _phase(node, namespace, "pulled", {"Succeeded"})
        assert node.kubectl("logs", "-n", namespace, "pulled").strip() == "pulled over http"
    finally:
        if registry is not None:
            registry.terminate()
            registry.wait(10)

"""The cluster's edge: NetworkPolicy enforced by kube-router's firewall, and Ingress served by Traefik.

Both run as host processes beside the node (tests/cluster/netpol.py, tests/cluster/ingress.py). The policy test
first shows that the client reaches everything without a policy, so it fails if enforcement is missing; the
fixtures fail the run when a stopped controller leaves rules, ipsets, a sysctl or a process behind.
"""

from __future__ import annotations

import http.server
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.waiting import eventually

from ..integration.servers import free_port
from .configs import NODE_IP
from .ingress import IngressController
from .netpol import PolicyController
from .node import Cluster
from .static_image import BUSYBOX_IMAGE, busybox_archive

pytestmark = pytest.mark.cluster

_names = itertools.count()


@pytest.fixture(scope="module")
def node(cluster: Cluster) -> Cluster:
    """The session's cluster with the busybox test image imported."""
    cluster.import_image(busybox_archive(), BUSYBOX_IMAGE)
    return cluster


def _namespace(node: Cluster) -> str:
    name = f"edge{next(_names)}-{int(time.time() * 1000) % 100000}"
    node.kubectl("create", "namespace", name)
    # Pods need the namespace's `default` ServiceAccount, which the controller manager creates.
    eventually(lambda: bool(node.kubectl("get", "serviceaccount", "default", "-n", name, "-o", "name")), "default SA")
    return name


def _apply(node: Cluster, namespace: str, body: dict[str, Any]) -> None:
    node.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))


def _pod(name: str, command: str) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": BUSYBOX_IMAGE,
        "imagePullPolicy": "Never",
        "command": ["/bin/sh", "-c", command],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"restartPolicy": "Never", "containers": [container], "terminationGracePeriodSeconds": 1},
    }


def _web(name: str, path: str, text: str) -> dict[str, Any]:
    """A busybox httpd on port 8080 serving ``text`` at ``path``."""
    return _pod(name, f"mkdir -p /tmp/www && echo {text} > /tmp/www/{path} && exec httpd -f -p 8080 -h /tmp/www")


def _running(node: Cluster, namespace: str, *names: str) -> dict[str, str]:
    """Wait until the pods run; returns their IPs by name."""
    ips: dict[str, str] = {}

    def ready() -> bool:
        for name in names:
            pod = json.loads(node.kubectl("get", "pod", name, "-n", namespace, "-o", "json"))
            if pod["status"].get("phase") != "Running" or not pod["status"].get("podIP"):
                return False
            ips[name] = pod["status"]["podIP"]
        return True

    eventually(ready, f"pods {names} Running")
    return ips


class _HostPage:
    """An HTTP server on the node IP (a host port outside the NodePort range, which kube-router always lets in)."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b"host\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((NODE_IP, free_port()), Handler)
        self.address = f"{NODE_IP}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _fetch(node: Cluster, namespace: str, client: str, address: str) -> str | None:
    """What the client pod gets from http://address/ (None when it gets nothing within 3 s).

    busybox's own ``wget -T`` crashes (exit 139) in Debian's static build, so the applet ``timeout`` bounds it."""
    try:
        out = node.kubectl(
            "exec", "-n", namespace, client, "--", "timeout", "3", "wget", "-q", "-O", "-", f"http://{address}/"
        )
    except RuntimeError:
        return None
    return out.strip()


def test_network_policy_lets_the_client_reach_only_what_it_allows(
    node: Cluster, policy_controller: PolicyController
) -> None:
    namespace = _namespace(node)
    _apply(node, namespace, _web("server-a", "index.html", "a"))
    _apply(node, namespace, _web("server-b", "index.html", "b"))
    _apply(node, namespace, _pod("client", "exec sleep 3600"))
    ips = _running(node, namespace, "server-a", "server-b", "client")
    host = _HostPage()
    try:
        targets = {"a": f"{ips['server-a']}:8080", "b": f"{ips['server-b']}:8080", "host": host.address}

        def reached() -> dict[str, bool]:
            return {name: _fetch(node, namespace, "client", address) == name for name, address in targets.items()}

        # Without a policy everything answers: what follows can only pass if the policy is enforced.
        eventually(lambda: all(reached().values()), f"the client reaching {targets} before any policy")

        deny = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "client-default-deny-egress"},
            "spec": {"podSelector": {"matchLabels": {"app": "client"}}, "policyTypes": ["Egress"], "egress": []},
        }
        allow = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "client-to-server-a"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "client"}},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"podSelector": {"matchLabels": {"app": "server-a"}}}],
                        "ports": [{"protocol": "TCP", "port": 8080}],
                    }
                ],
            },
        }
        _apply(node, namespace, deny)
        _apply(node, namespace, allow)
        # kube-router applies policies asynchronously: wait for B to go dark, then check the rest.
        eventually(lambda: not reached()["b"], "server B unreachable under the policy", timeout=60)
        assert reached() == {"a": True, "b": False, "host": False}, policy_controller.logs()
    finally:
        host.close()


def test_an_ingress_policy_shuts_out_pods_but_not_the_node(node: Cluster, policy_controller: PolicyController) -> None:
    """kube-router admits whatever comes from a local address (kubelet probes, host processes such as Traefik):
    an ingress policy can keep pods out of a pod, never the node itself."""
    namespace = _namespace(node)
    _apply(node, namespace, _web("guarded", "index.html", "guarded"))
    _apply(node, namespace, _pod("other", "exec sleep 3600"))
    ips = _running(node, namespace, "guarded", "other")
    target = f"{ips['guarded']}:8080"

    def from_host() -> bool:
        with urllib.request.urlopen(f"http://{target}/", timeout=2) as response:
            return bool(response.read().decode().strip() == "guarded")

    eventually(lambda: _fetch(node, namespace, "other", target) == "guarded", "the other pod reaching the guarded one")
    eventually(from_host, "the host reaching the guarded pod")
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "guarded-default-deny-ingress"},
        "spec": {"podSelector": {"matchLabels": {"app": "guarded"}}, "policyTypes": ["Ingress"], "ingress": []},
    }
    _apply(node, namespace, deny)
    eventually(lambda: _fetch(node, namespace, "other", target) is None, "the other pod shut out", timeout=60)
    assert from_host(), policy_controller.logs()


def test_an_ingress_routes_a_path_to_a_service(node: Cluster, ingress: IngressController) -> None:
    namespace = _namespace(node)
    _apply(node, namespace, _web("web", "hello", "hello-through-traefik"))
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    route = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web"},
        "spec": {
            "ingressClassName": ingress.ingress_class,
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/hello",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ],
        },
    }
    _apply(node, namespace, service)
    _apply(node, namespace, route)
    _running(node, namespace, "web")

    def served() -> bool:
        with urllib.request.urlopen(f"{ingress.url}/hello", timeout=2) as response:
            return bool(response.read().decode().strip() == "hello-through-traefik")

    eventually(served, f"GET {ingress.url}/hello through Traefik")
    # A path the Ingress does not route is Traefik's 404, not the pod's page.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{ingress.url}/elsewhere", timeout=2)
    assert refused.value.code == 404

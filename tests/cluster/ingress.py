"""An ingress controller for the cluster tier: Traefik with its kubernetesIngress provider as a host process.

Traefik (built by `make tools` from tests/traefik) watches the Ingress objects of one IngressClass and proxies
each rule to the endpoints of its Service, that is to pod IPs, which the host reaches over the CNI bridge. It
talks to the API server as a ServiceAccount with the RBAC that Traefik documents for the Ingress provider
(``start`` creates them, and the IngressClass, and ``stop`` deletes them). The account's token and Traefik's
static configuration stay in the private ``folder``.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from ..integration.controlplane import TOOLS
from ..integration.servers import free_port, stop_process, tail, wait_for
from .configs import NODE_IP

NAMESPACE = "kube-system"
ACCOUNT = "appyard-traefik"
# The controller name Traefik claims IngressClasses by.
CONTROLLER = "traefik.io/ingress-controller"


def _rbac(ingress_class: str) -> list[dict[str, Any]]:
    """The ServiceAccount, the ClusterRole Traefik documents for its kubernetesIngress provider, its binding, and
    the IngressClass that Ingress objects name in ``spec.ingressClassName``.

    The documented role (docs/content/reference/routing-configuration/kubernetes/ingress.md, v3.6) lacks nodes,
    which the provider watches too unless ``disableClusterScopeResources`` is set; without them its caches never
    sync."""
    read = ["get", "list", "watch"]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACCOUNT, "namespace": NAMESPACE}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": ACCOUNT},
            "rules": [
                {"apiGroups": [""], "resources": ["services", "secrets", "nodes"], "verbs": read},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
                {
                    "apiGroups": ["extensions", "networking.k8s.io"],
                    "resources": ["ingresses", "ingressclasses"],
                    "verbs": read,
                },
                {
                    "apiGroups": ["extensions", "networking.k8s.io"],
                    "resources": ["ingresses/status"],
                    "verbs": ["update"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": ACCOUNT},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ACCOUNT},
            "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NAMESPACE}],
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": ingress_class},
            "spec": {"controller": CONTROLLER},
        },
    ]


class IngressController:
    """Traefik serving the Ingress objects of ``ingress_class`` on ``address``:``port``; files in ``folder``."""

    def __init__(
        self,
        folder: Path,
        kubeconfig: Path,
        address: str = NODE_IP,
        port: int = 80,
        ingress_class: str = "appyard-test",
    ) -> None:
        self.folder = folder.resolve()
        self.kubeconfig = kubeconfig
        self.address = address
        self.port = port
        self.ingress_class = ingress_class
        self.url = f"http://{address}:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._ping = 0
        self._created = False

    @property
    def log(self) -> Path:
        return self.folder / "traefik.log"

    def kubectl(self, *args: str, input: str | None = None) -> str:
        """Run kubectl with ``kubeconfig``; raises with stderr on failure."""
        command = [str(TOOLS / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args]
        done = subprocess.run(command, capture_output=True, text=True, input=input, check=False)
        if done.returncode:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self) -> None:
        """Create the account, its RBAC and the IngressClass, start Traefik; returns when it answers its ping."""
        binary = TOOLS / "traefik"
        if not binary.is_file():
            raise RuntimeError(f"{binary} is missing: run `make tools`")
        self.folder.mkdir(parents=True, exist_ok=True)
        objects = {"apiVersion": "v1", "kind": "List", "items": _rbac(self.ingress_class)}
        self.kubectl("apply", "-f", "-", input=json.dumps(objects))
        self._created = True
        token = self.folder / "token"
        token.touch(mode=0o600)
        token.write_text(self.kubectl("create", "token", ACCOUNT, "-n", NAMESPACE, "--duration=24h").strip())
        cluster = json.loads(self.kubectl("config", "view", "--minify", "--raw", "-o", "json"))["clusters"][0]
        server = cluster["cluster"]["server"]
        authority = cluster["cluster"].get("certificate-authority")
        if authority is None:
            raise RuntimeError(f"{self.kubeconfig} names no certificate-authority file, which Traefik needs")
        self._ping = free_port()
        config = {
            "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
            "entryPoints": {
                "web": {"address": f"{self.address}:{self.port}"},
                # Traefik's own entry point, which serves /ping: loopback only.
                "traefik": {"address": f"127.0.0.1:{self._ping}"},
            },
            "ping": {},
            "log": {"level": "INFO", "noColor": True},
            "accessLog": {},
            "providers": {
                "kubernetesIngress": {
                    "endpoint": server,
                    # A path: Traefik reads the token from it (it takes a value or a file).
                    "token": str(token),
                    "certAuthFilePath": authority,
                    "ingressClass": self.ingress_class,
                },
            },
        }
        # JSON is YAML; Traefik tells the format by the extension.
        path = self.folder / "traefik.yaml"
        path.write_text(json.dumps(config, indent=2))
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(binary), f"--configFile={path}"],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        wait_for(self._answers, 60, "traefik (its /ping)", self.process, explain=self.logs)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self._ping}/ping", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def logs(self, lines: int = 40) -> str:
        """The last ``lines`` of Traefik's log (with its access log), for failure messages."""
        return tail(self.log, lines)

    def stop(self) -> None:
        """Stop Traefik by PID, then delete what ``start`` created in the cluster. Idempotent."""
        stop_process(self.process)
        if self._created:
            objects = {"apiVersion": "v1", "kind": "List", "items": _rbac(self.ingress_class)}
            self.kubectl("delete", "--ignore-not-found", "--wait=false", "-f", "-", input=json.dumps(objects))
            self._created = False

    def leftovers(self) -> list[str]:
        """What of the controller remains: its process, and the cluster objects while they were not deleted."""
        found = []
        if self.process is not None and self.process.poll() is None:
            found.append(f"process traefik ({self.process.pid})")
        if self._created:
            found.append(f"ServiceAccount, RBAC and IngressClass {self.ingress_class} in the cluster")
        return found

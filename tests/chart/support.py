"""Running helm and kubectl against the chart: rendering value sets, staging modified copies of the chart."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.integration.controlplane import TOOLS

REPO = Path(__file__).resolve().parent.parent.parent
CHART = REPO / "charts" / "appyard"
EXAMPLES = CHART / "examples"

Obj = dict[str, Any]


def _control_plane_version() -> str:
    """The Kubernetes version the test control plane is built from (tests/controlplane/go.mod)."""
    found = re.search(
        r"^\s*k8s\.io/kubernetes v(\d+\.\d+\.\d+)", (REPO / "tests/controlplane/go.mod").read_text(), re.M
    )
    assert found, "tests/controlplane/go.mod pins no k8s.io/kubernetes version"
    return found.group(1)


KUBE_VERSION = _control_plane_version()

# Values every install needs: the NATS keys' Secret and an OIDC issuer (the default auth mode).
NATS_SECRET = "appyard-nats"
OIDC: Obj = {
    "api": {
        "auth": {
            "publicUrl": "https://appyard.example.com",
            "oidc": {"issuer": "https://login.example.com/realms/main", "clientId": "appyard"},
        }
    },
    "nats": {"auth": {"existingSecret": NATS_SECRET}},
}
PROXY: Obj = {
    "api": {"auth": {"mode": "proxy", "proxy": {"trustedProxies": ["10.0.0.0/8"]}}},
    "nats": {"auth": {"existingSecret": NATS_SECRET}},
}
# Every optional part switched on, with a value for every kind of knob.
EVERYTHING: Obj = {
    "imageRegistry": "registry.example.com/mirror",
    "imagePullSecrets": [{"name": "regcred"}],
    "operator": {
        "watchNamespaces": ["appyard", "team-builds"],
        "image": {"digest": "sha256:" + "a" * 64},
        "extraEnv": [{"name": "APPYARD_OPERATOR_TICK_SECONDS", "value": "5"}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "tools", "effect": "NoSchedule"}],
        "podAnnotations": {"example.com/owner": "platform"},
        "podLabels": {"team": "platform"},
    },
    "api": {
        "service": {"name": "tools-api"},
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
            "hosts": [{"host": "appyard.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
            "tls": [{"secretName": "appyard-tls", "hosts": ["appyard.example.com"]}],
        },
        "httpRoute": {
            "enabled": True,
            "parentRefs": [{"name": "public", "namespace": "gateways"}],
            "hostnames": ["appyard.example.com"],
        },
        "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 5},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
        "auth": {
            "adminGroups": ["platform"],
            "oidc": {"clientSecret": {"existingSecret": "appyard-oidc"}},
            "sessionSecret": {"existingSecret": "appyard-session"},
        },
        "extraEnv": [{"name": "APPYARD_API_TOKEN_MAX_DAYS", "value": "30"}],
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
        "podLabels": {"team": "platform"},
    },
    "nats": {"bundled": {"storage": {"storageClassName": "fast"}, "podAnnotations": {"example.com/backup": "yes"}}},
}
# Everything optional switched off, NATS elsewhere.
MINIMAL: Obj = {
    "crds": {"install": False},
    "rbac": {"create": False},
    "operator": {"webhook": {"enabled": False}},
    "api": {"pdb": {"enabled": False}},
    "nats": {"mode": "external", "url": "nats://nats.messaging.svc:4222"},
    "networkPolicy": {"enabled": False},
}


def merge(*layers: Mapping[str, Any]) -> Obj:
    """Values layered like several ``-f`` files (later wins; lists are replaced)."""
    result: Obj = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(result.get(key), dict):
                result[key] = merge(result[key], value)
            else:
                result[key] = json.loads(json.dumps(value)) if isinstance(value, Mapping | list) else value
    return result


def moved(values: Obj, namespace: str) -> Obj:
    """Value sets are written for the namespace `appyard`; the same values for a release in ``namespace``."""
    result = merge(values)
    watched = result.get("operator", {}).get("watchNamespaces")
    if watched:
        result["operator"]["watchNamespaces"] = [namespace if ns == "appyard" else ns for ns in watched]
    return result


def example(name: str) -> Obj:
    loaded = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


VALUE_SETS: dict[str, Obj] = {
    "oidc": OIDC,
    "proxy": PROXY,
    "everything": merge(OIDC, EVERYTHING),
    "minimal": merge(PROXY, MINIMAL),
    "example-kind": example("kind"),
    "example-production": example("production"),
}


class HelmError(Exception):
    """helm or kubectl exited with an error; the message is its stderr."""


@dataclass
class Tools:
    """helm and kubectl with their own config and cache folders, talking to one kubeconfig."""

    kubeconfig: Path
    home: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }

    def _run(self, tool: str, args: list[str], stdin: str | None) -> str:
        done = subprocess.run(
            [str(TOOLS / tool), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise HelmError(done.stderr.strip() or done.stdout.strip())
        return done.stdout

    def helm(self, *args: str, values: Obj | None = None) -> str:
        """``helm ARGS`` (with ``-f values`` when given)."""
        extra: list[str] = []
        if values is not None:
            path = self.home / "values.yaml"
            path.write_text(yaml.safe_dump(values))
            extra = ["-f", str(path)]
        return self._run("helm", [*args, *extra], None)

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return self._run("kubectl", list(args), stdin)

    def template(self, values: Obj, *, namespace: str = "appyard", chart: Path = CHART) -> list[Obj]:
        """The chart rendered for KUBE_VERSION, as objects."""
        out = self.helm(
            "template", "appyard", str(chart), "-n", namespace, "--kube-version", KUBE_VERSION, values=values
        )
        return [obj for obj in yaml.safe_load_all(out) if obj]


def find(objects: list[Obj], kind: str, name: str | None = None) -> list[Obj]:
    """The objects of one kind (and name)."""
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def pod_templates(objects: list[Obj]) -> Iterator[tuple[str, Obj]]:
    """(workload name, pod spec) of every Deployment and StatefulSet."""
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def env_of(pod: Obj) -> dict[str, Obj]:
    """Name → env entry of the pod's first container."""
    return {entry["name"]: entry for entry in pod["containers"][0].get("env", [])}


def stage(target: Path, server_version: str, *, extra_column: bool = False) -> Path:
    """A copy of the chart to install. The control plane's binaries are built from source without version
    stamps (`kubectl version` says v0.0.0-master), which no kubeVersion range accepts, so the copy drops the
    range then; test_kube_version checks the range against the version the binaries are built from.
    ``extra_column``: the App CRD gains a printer column, as a chart upgrade that changes a CRD would."""
    shutil.copytree(CHART, target)
    if server_version.startswith("v0.0.0"):
        chart_yaml = target / "Chart.yaml"
        chart_yaml.write_text(
            "".join(line for line in chart_yaml.read_text().splitlines(True) if not line.startswith("kubeVersion:"))
        )
    if extra_column:
        path = target / "files" / "crds" / "apps.appyard.dev.yaml"
        crd = yaml.safe_load(path.read_text())
        crd["spec"]["versions"][0]["additionalPrinterColumns"].append(
            {"name": "Code", "type": "string", "jsonPath": ".spec.code", "priority": 1}
        )
        path.write_text(yaml.safe_dump(crd, sort_keys=False))
    return target

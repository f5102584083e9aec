"""The helm chart charts/appyard: what it renders, what its values schema refuses, and installs, upgrades and
uninstalls against the tier's real kube-apiserver (+ kube-controller-manager, no kubelet: pods stay Pending).

Rendered output is always parsed (yaml.safe_load_all) and asserted on as objects, never as text.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.apps_v1 import Deployment, ReplicaSet, StatefulSet
from lightkube.resources.core_v1 import Event, Pod, Secret

from appyard import crds as generated_crds
from appyard.tooling import brokerkeys
from tests.integration.cluster import App, eventually

from .conftest import NamespaceMaker
from .support import (
    CHART,
    KUBE_VERSION,
    NATS_SECRET,
    OIDC,
    PROXY,
    REPO,
    VALUE_SETS,
    HelmError,
    Obj,
    Tools,
    env_of,
    find,
    merge,
    one,
    pod_templates,
    stage,
)

SETS = sorted(VALUE_SETS)
NATS_SERVER = Path(sys.executable).parent / "nats-server"


@pytest.fixture(scope="session")
def renderer(tmp_path_factory: pytest.TempPathFactory) -> Tools:
    """helm for `template` and `lint`, which need no cluster."""
    home = tmp_path_factory.mktemp("render")
    return Tools(home / "no-kubeconfig", home)


@pytest.fixture(scope="session")
def rendered(renderer: Tools) -> dict[str, list[Obj]]:
    return {name: renderer.template(values) for name, values in VALUE_SETS.items()}


# -- lint and kubeVersion ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SETS)
def test_lint_strict(renderer: Tools, name: str) -> None:
    out = renderer.helm("lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION, values=VALUE_SETS[name])
    assert "0 chart(s) failed" in out


def test_kube_version_range_accepts_the_control_plane_and_refuses_older(renderer: Tools) -> None:
    assert renderer.template(OIDC)  # rendered for KUBE_VERSION, the control plane's
    with pytest.raises(HelmError, match=r"requires kubeVersion: >=1\.27"):
        renderer.helm("template", "appyard", str(CHART), "--kube-version", "1.26.9", values=OIDC)


# -- CRDs ---------------------------------------------------------------------------------------------------------


def test_chart_crds_are_the_generated_ones() -> None:
    # `make verify` runs the same check; here it fails the chart tier on its own.
    assert generated_crds.main(["--check", str(CHART / "files" / "crds")]) == 0
    assert generated_crds.main(["--check", str(REPO / "crds")]) == 0


def test_crds_render_as_generated_with_keep(rendered: dict[str, list[Obj]]) -> None:
    expected = {}
    for path in sorted((REPO / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        expected[crd["metadata"]["name"]] = crd
    templates = {crd["metadata"]["name"]: crd for crd in find(rendered["oidc"], "CustomResourceDefinition")}
    assert templates.keys() == expected.keys()
    for name, crd in templates.items():
        assert crd["spec"] == expected[name]["spec"]
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert expected[name]["metadata"]["labels"].items() <= crd["metadata"]["labels"].items()
        assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"


def test_crds_off_or_not_kept(renderer: Tools, rendered: dict[str, list[Obj]]) -> None:
    assert not find(rendered["minimal"], "CustomResourceDefinition")
    unkept = renderer.template(merge(OIDC, {"crds": {"keep": False}}))
    crds = find(unkept, "CustomResourceDefinition")
    assert len(crds) == 2
    assert all("helm.sh/resource-policy" not in crd["metadata"].get("annotations", {}) for crd in crds)


def test_no_custom_resource_in_the_release(rendered: dict[str, list[Obj]]) -> None:
    # A release never holds an App or Workspace: they would go with the release (or block its CRD's upgrade).
    for objects in rendered.values():
        assert not [o for o in objects if o["apiVersion"].startswith("appyard.dev/")]


# -- the operator ----------------------------------------------------------------------------------------------


def test_operator_is_one_replica_replaced_with_recreate(rendered: dict[str, list[Obj]]) -> None:
    operator = one(rendered["oidc"], "Deployment", "appyard-operator")
    assert operator["spec"]["replicas"] == 1
    assert operator["spec"]["strategy"] == {"type": "Recreate"}
    container = operator["spec"]["template"]["spec"]["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"webhook": 8080, "health": 8081}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    env = env_of(operator["spec"]["template"]["spec"])
    assert json.loads(env["APPYARD_OPERATOR_NAMESPACES"]["value"]) == []
    assert env["APPYARD_OPERATOR_NATS_URL"]["value"] == "nats://appyard-nats.appyard.svc:4222"
    webhook = one(rendered["oidc"], "Service", "appyard-operator-webhook")
    assert webhook["spec"]["ports"] == [{"name": "webhook", "port": 80, "targetPort": "webhook", "protocol": "TCP"}]
    assert webhook["spec"]["selector"] == operator["spec"]["selector"]["matchLabels"]


def test_operator_watch_namespaces_and_webhook_off(rendered: dict[str, list[Obj]]) -> None:
    env = env_of(one(rendered["everything"], "Deployment", "appyard-operator")["spec"]["template"]["spec"])
    assert json.loads(env["APPYARD_OPERATOR_NAMESPACES"]["value"]) == ["team-a", "team-b"]
    minimal = rendered["minimal"]
    operator = one(minimal, "Deployment", "appyard-operator")["spec"]["template"]["spec"]
    assert env_of(operator)["APPYARD_OPERATOR_WEBHOOK_PORT"]["value"] == "0"
    assert [port["name"] for port in operator["containers"][0]["ports"]] == ["health"]
    assert not find(minimal, "Service", "appyard-operator-webhook")


# -- the API -----------------------------------------------------------------------------------------------------


def test_api_serves_the_release_namespace_behind_the_named_service(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["oidc"]
    api = one(objects, "Deployment", "appyard-api")
    pod = api["spec"]["template"]["spec"]
    env = env_of(pod)
    assert env["APPYARD_API_MODE"]["value"] == "cluster"
    assert env["APPYARD_API_NAMESPACE"]["value"] == "appyard"
    assert env["APPYARD_API_HOST"]["value"] == "0.0.0.0"
    assert env["APPYARD_API_NATS_CREDS"]["valueFrom"]["secretKeyRef"] == {
        "name": NATS_SECRET,
        "key": "api-appyard.creds",
    }
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/api/health", "port": "http"}
    assert container["livenessProbe"]["tcpSocket"] == {"port": "http"}
    # resources.py IngressSettings: serviceName appyard-api, servicePort 80 by default
    service = one(objects, "Service", "appyard-api")
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert service["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]
    assert one(objects, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    for kind in ("Ingress", "HTTPRoute", "ServiceMonitor", "HorizontalPodAutoscaler"):
        assert not find(objects, kind)
    assert "APPYARD_API_METRICS_PORT" not in env


def test_renamed_service_is_what_ingress_and_route_point_at(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["everything"]
    assert not find(objects, "Service", "appyard-api")
    service = one(objects, "Service", "tools-api")
    ingress = one(objects, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "appyard-tls", "hosts": ["appyard.example.com"]}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "tools-api", "port": {"name": "http"}}
    route = one(objects, "HTTPRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [{"name": "public", "namespace": "gateways"}]
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "tools-api", "port": 80}]
    assert {port["name"] for port in service["spec"]["ports"]} == {"http", "metrics"}


def test_metrics_autoscaling_and_service_monitor(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["everything"]
    api = one(objects, "Deployment", "appyard-api")
    assert "replicas" not in api["spec"]  # the HPA owns it
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    assert env_of(api["spec"]["template"]["spec"])["APPYARD_API_METRICS_PORT"]["value"] == "9090"
    hpa = one(objects, "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    assert hpa["spec"]["scaleTargetRef"]["name"] == "appyard-api"
    monitor = one(objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["selector"]["matchLabels"] == api["spec"]["selector"]["matchLabels"]
    # /metrics is unauthenticated: only the peers in api.metrics.allowFrom may reach it
    policy = one(objects, "NetworkPolicy", "appyard-api")
    metrics_rule = next(rule for rule in policy["spec"]["ingress"] if rule["ports"][0]["port"] == "metrics")
    assert metrics_rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]


def test_images_by_tag_digest_and_registry(rendered: dict[str, list[Obj]]) -> None:
    def image(objects: list[Obj], name: str) -> str:
        workload = next(o for o in objects if o["metadata"]["name"] == name and "template" in o.get("spec", {}))
        return str(workload["spec"]["template"]["spec"]["containers"][0]["image"])

    assert image(rendered["oidc"], "appyard-api") == "ghcr.io/appyard/api:0.1.0"
    assert image(rendered["everything"], "appyard-api") == "registry.example.com/mirror/appyard/api:0.1.0"
    assert image(rendered["everything"], "appyard-operator") == (
        "registry.example.com/mirror/appyard/operator@sha256:" + "a" * 64
    )
    assert image(rendered["everything"], "appyard-nats").startswith("registry.example.com/mirror/library/nats:")
    production = rendered["example-production"]
    assert re.fullmatch(r"registry\.example\.com/appyard/api@sha256:[0-9a-f]{64}", image(production, "appyard-api"))


def test_workload_knobs_reach_every_pod(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["everything"]
    operator = one(objects, "Deployment", "appyard-operator")["spec"]["template"]
    assert operator["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert operator["spec"]["tolerations"][0]["key"] == "dedicated"
    assert operator["metadata"]["annotations"] == {"example.com/owner": "platform"}
    assert operator["metadata"]["labels"]["team"] == "platform"
    assert env_of(operator["spec"])["APPYARD_OPERATOR_TICK_SECONDS"]["value"] == "5"
    api = one(objects, "Deployment", "appyard-api")["spec"]["template"]
    assert "podAntiAffinity" in api["spec"]["affinity"]
    assert env_of(api["spec"])["APPYARD_API_TOKEN_MAX_DAYS"]["value"] == "30"
    nats = one(objects, "StatefulSet")["spec"]["template"]
    assert nats["metadata"]["annotations"] == {"example.com/backup": "yes"}
    for name, pod in pod_templates(objects):
        assert pod["imagePullSecrets"] == [{"name": "regcred"}], name


# -- NATS -------------------------------------------------------------------------------------------------------


def test_bundled_nats(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["oidc"]
    nats = one(objects, "StatefulSet", "appyard-nats")
    template = nats["spec"]["template"]
    # runners' NetworkPolicy (resources.py nats_labels) allows egress only to this label
    assert template["metadata"]["labels"]["app.kubernetes.io/name"] == "nats"
    assert nats["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "nats"
    claim = nats["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    headless = one(objects, "Service", nats["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    client = one(objects, "Service", "appyard-nats")
    assert client["spec"]["ports"][0]["port"] == 4222
    auth = next(volume for volume in template["spec"]["volumes"] if volume["name"] == "auth")
    assert auth["secret"] == {"secretName": NATS_SECRET, "items": [{"key": "nats-auth.conf", "path": "nats-auth.conf"}]}
    mounts = {mount["mountPath"]: mount["name"] for mount in template["spec"]["containers"][0]["volumeMounts"]}
    assert mounts["/data"] == "data"


def test_bundled_nats_config_is_valid_with_the_broker_keys(rendered: dict[str, list[Obj]], tmp_path: Path) -> None:
    # The real nats-server checks the rendered config with the nats-auth.conf `appyard broker-keys` writes,
    # laid out as the pod mounts them (/etc/nats/config and /etc/nats/auth).
    config = one(rendered["oidc"], "ConfigMap", "appyard-nats")["data"]["nats.conf"]
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "nats.conf").write_text(config.replace("store_dir: /data", f'store_dir: "{tmp_path}"'))
    keys = tmp_path / "keys"
    brokerkeys.write(keys, ["appyard"], 1)
    (tmp_path / "auth").mkdir()
    (tmp_path / "auth" / "nats-auth.conf").write_text((keys / "nats-auth.conf").read_text())
    checked = subprocess.run(
        [str(NATS_SERVER), "-c", str(tmp_path / "config" / "nats.conf"), "-t"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    (tmp_path / "auth" / "nats-auth.conf").unlink()
    missing = subprocess.run(
        [str(NATS_SERVER), "-c", str(tmp_path / "config" / "nats.conf"), "-t"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode != 0  # the check would notice a config without the keys


def test_external_nats(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["minimal"]
    assert not find(objects, "StatefulSet")
    assert not find(objects, "ConfigMap")
    for name in ("appyard-api", "appyard-operator"):
        env = env_of(one(objects, "Deployment", name)["spec"]["template"]["spec"])
        url = next(entry["value"] for key, entry in env.items() if key.endswith("_NATS_URL"))
        assert url == "nats://nats.messaging.svc:4222"


def test_network_policies(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["oidc"]
    policies = {policy["metadata"]["name"]: policy["spec"] for policy in find(objects, "NetworkPolicy")}
    assert policies.keys() == {"appyard-api", "appyard-operator", "appyard-nats"}
    for name, spec in policies.items():
        workload = next(
            o for o in objects if o["kind"] in ("Deployment", "StatefulSet") and o["metadata"]["name"] == name
        )
        assert spec["podSelector"]["matchLabels"] == workload["spec"]["selector"]["matchLabels"]
    nats = policies["appyard-nats"]
    assert nats["policyTypes"] == ["Ingress", "Egress"] and nats["egress"] == []
    peers = nats["ingress"][0]["from"]
    assert peers[0]["podSelector"]["matchExpressions"] == [
        {"key": "app.kubernetes.io/component", "operator": "In", "values": ["api", "operator"]}
    ]
    # runners: labels app_objects.py gives them, in any namespace
    assert peers[1] == {
        "namespaceSelector": {},
        "podSelector": {
            "matchLabels": {"app.kubernetes.io/managed-by": "appyard-operator", "app.kubernetes.io/component": "runner"}
        },
    }
    assert [rule["ports"] for rule in policies["appyard-api"]["ingress"]] == [[{"port": "http", "protocol": "TCP"}]]
    assert not find(rendered["minimal"], "NetworkPolicy")


# -- security of every value set --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SETS)
def test_every_pod_is_pss_restricted(rendered: dict[str, list[Obj]], name: str) -> None:
    pods = dict(pod_templates(rendered[name]))
    assert pods
    for workload, pod in pods.items():
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, workload
        assert isinstance(context["runAsUser"], int) and context["runAsUser"] > 0, workload
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, workload
        is_nats = workload.endswith("-nats")
        if not is_nats:
            assert context["runAsUser"] == 10001, workload
        # NATS never calls the Kubernetes API; the operator and the API do
        assert pod["automountServiceAccountToken"] is (not is_nats), workload
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, workload
            assert security["readOnlyRootFilesystem"] is True, workload
            assert security["capabilities"] == {"drop": ["ALL"]}, workload
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}, workload
            mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
            volumes = {volume["name"]: volume for volume in pod["volumes"]}
            assert volumes[mounts["/tmp"]]["emptyDir"] == {}, workload


SECRET_NAME = re.compile(r"SECRET|CREDS|SEED|PASSWORD|TOKEN|KEY", re.I)


@pytest.mark.parametrize("name", SETS)
def test_credentials_only_through_secret_refs(rendered: dict[str, list[Obj]], name: str) -> None:
    for workload, pod in pod_templates(rendered[name]):
        for container in pod["containers"]:
            for entry in container.get("env", []):
                if SECRET_NAME.search(entry["name"]) and not entry["name"].endswith("_MAX_DAYS"):
                    assert "value" not in entry, f"{workload}: {entry['name']} is a plain value"
                    assert entry["valueFrom"]["secretKeyRef"]["name"], f"{workload}: {entry['name']}"
    secrets = find(rendered[name], "Secret")
    # the only Secret a release may hold: the generated session key (oidc mode without an existingSecret)
    assert [secret["metadata"]["name"] for secret in secrets] in ([], ["appyard-session"])


def test_operator_and_api_keys_come_from_the_nats_secret(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["oidc"]
    operator = env_of(one(objects, "Deployment", "appyard-operator")["spec"]["template"]["spec"])
    refs = {key: entry["valueFrom"]["secretKeyRef"] for key, entry in operator.items() if "valueFrom" in entry}
    assert refs == {
        "APPYARD_OPERATOR_NATS_ACCOUNT_SEED": {"name": NATS_SECRET, "key": "account.seed"},
        "APPYARD_OPERATOR_NATS_CREDS": {"name": NATS_SECRET, "key": "operator.creds"},
    }
    api = env_of(one(objects, "Deployment", "appyard-api")["spec"]["template"]["spec"])
    assert api["APPYARD_API_SESSION_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "appyard-session",
        "key": "session-secret",
    }
    session = one(objects, "Secret", "appyard-session")
    assert session["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    everything = env_of(one(rendered["everything"], "Deployment", "appyard-api")["spec"]["template"]["spec"])
    assert everything["APPYARD_API_OIDC_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "appyard-oidc",
        "key": "client-secret",
    }
    assert everything["APPYARD_API_SESSION_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "appyard-session"
    assert not find(rendered["everything"], "Secret")


# -- wrong values -------------------------------------------------------------------------------------------------

SCHEMA_REFUSES = [
    ("misspelled key", merge(OIDC, {"api": {"replicaCont": 3}}), "replicaCont"),
    ("misspelled nested key", merge(OIDC, {"nats": {"bundled": {"storage": {"sise": "1Gi"}}}}), "sise"),
    ("misspelled top-level key", merge(OIDC, {"networkPolicies": {"enabled": False}}), "networkPolicies"),
    ("wrong type", merge(OIDC, {"api": {"replicaCount": "two"}}), "/api/replicaCount"),
    ("wrong type of a flag", merge(OIDC, {"crds": {"keep": "yes"}}), "/crds/keep"),
    ("unknown auth mode", merge(OIDC, {"api": {"auth": {"mode": "local"}}}), "/api/auth/mode"),
    ("unknown NATS mode", merge(OIDC, {"nats": {"mode": "cluster"}}), "/nats/mode"),
    ("external NATS without a URL", merge(OIDC, {"nats": {"mode": "external"}}), "/nats/url"),
    (
        "proxy mode without proxies",
        merge(PROXY, {"api": {"auth": {"proxy": {"trustedProxies": []}}}}),
        "trustedProxies",
    ),
    ("root NATS", merge(OIDC, {"nats": {"bundled": {"runAsUser": 0}}}), "/nats/bundled/runAsUser"),
]


@pytest.mark.parametrize(("case", "values", "names"), SCHEMA_REFUSES, ids=[case[0] for case in SCHEMA_REFUSES])
def test_schema_refuses(renderer: Tools, case: str, values: Obj, names: str) -> None:
    with pytest.raises(HelmError) as refused:
        renderer.template(values)
    message = str(refused.value)
    assert "don't meet the specifications of the schema" in message, case
    assert names in message, message


def _without_nats_secret() -> Obj:
    values = merge(OIDC)
    del values["nats"]
    return values


TEMPLATES_REFUSE = [
    (
        "no NATS keys",
        _without_nats_secret(),
        "nats.auth.existingSecret is required: make the NATS keys with `appyard broker-keys keys --namespace "
        "appyard`, then `kubectl -n appyard create secret generic appyard-nats --from-file=keys/`",
    ),
    (
        "oidc without issuer",
        merge(OIDC, {"api": {"auth": {"oidc": {"issuer": ""}}}}),
        "api.auth.oidc.issuer is required",
    ),
    (
        "oidc without client",
        merge(OIDC, {"api": {"auth": {"oidc": {"clientId": ""}}}}),
        "api.auth.oidc.clientId is required",
    ),
    ("oidc without public URL", merge(OIDC, {"api": {"auth": {"publicUrl": ""}}}), "api.auth.publicUrl is required"),
    (
        "route without gateway",
        merge(OIDC, {"api": {"httpRoute": {"enabled": True}}}),
        "api.httpRoute.parentRefs is required",
    ),
]


@pytest.mark.parametrize(("case", "values", "message"), TEMPLATES_REFUSE, ids=[case[0] for case in TEMPLATES_REFUSE])
def test_templates_refuse_with_the_fix(renderer: Tools, case: str, values: Obj, message: str) -> None:
    with pytest.raises(HelmError) as refused:
        renderer.template(values)
    assert message in str(refused.value), case


# -- the real API server ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def third_party_crds(tools: Tools, kube: Client) -> None:
    """HTTPRoute and ServiceMonitor, which the control plane lacks (small stand-ins, see the YAML)."""
    tools.kubectl("apply", "--server-side", "-f", str(Path(__file__).parent / "third_party_crds.yaml"))
    for name in ("httproutes.gateway.networking.k8s.io", "servicemonitors.monitoring.coreos.com"):
        eventually(partial(_established, kube, name), 30, f"{name} to be established")


def _established(kube: Client, name: str) -> bool:
    status = kube.get(CustomResourceDefinition, name).status
    return any(c.type == "Established" and c.status == "True" for c in (status.conditions if status else None) or [])


def _dry_run(tools: Tools, objects: list[Obj]) -> str:
    manifest = yaml.safe_dump_all(objects)
    return tools.kubectl(
        "apply", "--server-side", "--dry-run=server", "--validate=strict", "--force-conflicts",
        "--field-manager=chart-tests", "-f", "-", stdin=manifest,
    )  # fmt: skip


@pytest.mark.parametrize("name", SETS)
@pytest.mark.usefixtures("third_party_crds")
def test_api_server_accepts_every_object(tools: Tools, namespace: NamespaceMaker, name: str) -> None:
    target = namespace(f"dry-{name}")
    objects = tools.template(VALUE_SETS[name], namespace=target)
    out = _dry_run(tools, objects)
    applied = [line for line in out.splitlines() if "serverside-applied (server dry run)" in line]
    assert len(applied) == len(objects), out


CORRUPTIONS = [
    (
        "unknown field",
        ("containers", 0, "securityContext"),
        "runAsNonroot",
        True,
        "runAsNonroot: field not declared in schema",
    ),
    ("wrong type", ("containers", 0, "securityContext"), "runAsUser", "ten thousand", "runAsUser"),
    ("bad value", ("containers", 0), "imagePullPolicy", "Sometimes", "imagePullPolicy"),
]


@pytest.mark.parametrize(("case", "where", "field", "value", "says"), CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_api_server_refuses_a_corrupted_field(
    tools: Tools, namespace: NamespaceMaker, case: str, where: tuple[Any, ...], field: str, value: Any, says: str
) -> None:
    # Proves the dry-run above checks something: one field broken, and the server says which.
    target = namespace(f"corrupt-{case.replace(' ', '-')}")
    objects = tools.template(OIDC, namespace=target)
    operator = one(objects, "Deployment", "appyard-operator")
    node: Any = operator["spec"]["template"]["spec"]
    for step in where:
        node = node[step]
    node[field] = value
    with pytest.raises(HelmError) as refused:
        _dry_run(tools, objects)
    assert says in str(refused.value), str(refused.value)
    assert "appyard-operator" in str(refused.value)


# -- install, upgrade, uninstall ----------------------------------------------------------------------------------


@dataclass
class Lifecycle:
    """What the cluster held after each step of install → App created → upgrade → uninstall."""

    app_uid: str
    session_installed: str
    session_upgraded: str
    columns_installed: list[str]
    columns_upgraded: list[str]
    app_uid_after_upgrade: str
    api_replicas_upgraded: int | None
    api_annotations_upgraded: dict[str, str]
    left_after_uninstall: dict[str, bool]
    app_uid_after_uninstall: str


def _columns(kube: Client) -> list[str]:
    crd = kube.get(CustomResourceDefinition, "apps.appyard.dev")
    return [column.name for column in crd.spec.versions[0].additionalPrinterColumns or []]


def _session(kube: Client, ns: str) -> str:
    data = kube.get(Secret, "appyard-session", namespace=ns).data or {}
    return str(data["session-secret"])


def _uid(kube: Client, ns: str) -> str:
    app = kube.get(App, "orders", namespace=ns)
    assert app.metadata and app.metadata.uid
    return app.metadata.uid


def _exists(kube: Client, resource: Any, name: str, ns: str | None = None) -> bool:
    try:
        kube.get(resource, name, namespace=ns) if ns else kube.get(resource, name)
    except ApiError as error:
        if error.status.code == 404:
            return False
        raise
    return True


APP = {
    "workspace": "apps",
    "app": "orders",
    "revision": "0123456789abcdef",
    "path": "orders",
    "code": "orders-code",
    "codeHash": "sha256:" + "0" * 64,
}


@pytest.fixture(scope="module")
def lifecycle(
    tools: Tools, kube: Client, namespace: NamespaceMaker, server_version: str, tmp_path_factory: pytest.TempPathFactory
) -> Lifecycle:
    ns = namespace("appyard", restricted=True)
    folder = tmp_path_factory.mktemp("charts")
    first = stage(folder / "v1", server_version)
    second = stage(folder / "v2", server_version, extra_column=True)
    tools.helm("install", "appyard", str(first), "-n", ns, values=OIDC)
    eventually(lambda: list(kube.list(App, namespace=ns)) == [], 30, "the App CRD to be served")
    kube.create(App(metadata=ObjectMeta(name="orders", namespace=ns), spec=APP))
    app_uid = _uid(kube, ns)
    session_installed = _session(kube, ns)
    columns_installed = _columns(kube)

    changed = merge(OIDC, {"api": {"replicaCount": 3, "podAnnotations": {"example.com/upgraded": "yes"}}})
    tools.helm("upgrade", "appyard", str(second), "-n", ns, values=changed)
    api = kube.get(Deployment, "appyard-api", namespace=ns)
    assert api.spec and api.spec.template.metadata
    session_upgraded = _session(kube, ns)
    columns_upgraded = _columns(kube)
    uid_upgraded = _uid(kube, ns)

    tools.helm("uninstall", "appyard", "-n", ns, "--wait")
    left = {
        "Deployment appyard-api": _exists(kube, Deployment, "appyard-api", ns),
        "StatefulSet appyard-nats": _exists(kube, StatefulSet, "appyard-nats", ns),
        "CRD apps": _exists(kube, CustomResourceDefinition, "apps.appyard.dev"),
        "CRD workspaces": _exists(kube, CustomResourceDefinition, "workspaces.appyard.dev"),
        "Secret appyard-session": _exists(kube, Secret, "appyard-session", ns),
    }
    return Lifecycle(
        app_uid=app_uid,
        session_installed=session_installed,
        session_upgraded=session_upgraded,
        columns_installed=columns_installed,
        columns_upgraded=columns_upgraded,
        app_uid_after_upgrade=uid_upgraded,
        api_replicas_upgraded=api.spec.replicas,
        api_annotations_upgraded=dict(api.spec.template.metadata.annotations or {}),
        left_after_uninstall=left,
        app_uid_after_uninstall=_uid(kube, ns),
    )


def test_upgrade_updates_the_crd(lifecycle: Lifecycle) -> None:
    assert "Code" not in lifecycle.columns_installed
    assert lifecycle.columns_upgraded == [*lifecycle.columns_installed, "Code"]


def test_app_survives_upgrade_and_uninstall(lifecycle: Lifecycle) -> None:
    assert lifecycle.app_uid_after_upgrade == lifecycle.app_uid
    assert lifecycle.app_uid_after_uninstall == lifecycle.app_uid


def test_upgrade_applies_changed_values(lifecycle: Lifecycle) -> None:
    assert lifecycle.api_replicas_upgraded == 3
    assert lifecycle.api_annotations_upgraded == {"example.com/upgraded": "yes"}


def test_session_secret_is_kept_across_upgrade(lifecycle: Lifecycle) -> None:
    assert len(lifecycle.session_installed) >= 64
    assert lifecycle.session_upgraded == lifecycle.session_installed


def test_uninstall_keeps_crds_and_session_but_removes_workloads(lifecycle: Lifecycle) -> None:
    assert lifecycle.left_after_uninstall == {
        "Deployment appyard-api": False,
        "StatefulSet appyard-nats": False,
        "CRD apps": True,
        "CRD workspaces": True,
        "Secret appyard-session": True,
    }


# -- Pod Security admission ---------------------------------------------------------------------------------------

# The pods use the namespace's default ServiceAccount here: the chart's ServiceAccounts and RBAC (templates/rbac.yaml)
# are another test's subject, and a missing ServiceAccount would refuse the pods for a reason unrelated to PSS.
PSA_VALUES = merge(
    OIDC,
    {
        "crds": {"install": False},
        "rbac": {"create": False},
        "operator": {"serviceAccount": {"create": False}},
        "api": {"serviceAccount": {"create": False}},
    },
)


@pytest.fixture(scope="module")
def restricted(
    tools: Tools, kube: Client, namespace: NamespaceMaker, server_version: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    ns = namespace("restricted", restricted=True)
    chart = stage(tmp_path_factory.mktemp("psa") / "appyard", server_version)
    tools.helm("install", "appyard", str(chart), "-n", ns, values=PSA_VALUES)
    yield ns
    tools.helm("uninstall", "appyard", "-n", ns)


def test_restricted_namespace_admits_every_pod(kube: Client, restricted: str) -> None:
    def created() -> bool:
        wanted_and_made = [
            (r.spec.replicas if r.spec else None, r.status.replicas if r.status else None)
            for r in kube.list(ReplicaSet, namespace=restricted)
        ] + [
            (s.spec.replicas if s.spec else None, s.status.replicas if s.status else None)
            for s in kube.list(StatefulSet, namespace=restricted)
        ]
        return len(wanted_and_made) == 3 and all(wanted == made for wanted, made in wanted_and_made)

    eventually(created, 60, "every ReplicaSet and the StatefulSet to create their pods")
    components = sorted(
        (pod.metadata.labels or {}).get("app.kubernetes.io/component", "")
        for pod in kube.list(Pod, namespace=restricted)
        if pod.metadata
    )
    assert components == ["api", "api", "nats", "operator"]
    refused = [event.message for event in kube.list(Event, namespace=restricted) if event.reason == "FailedCreate"]
    assert refused == []


def _pod(name: str, spec: Obj) -> Pod:
    return cast(Pod, Pod.from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}))


def test_restricted_namespace_refuses_a_weakened_pod(kube: Client, restricted: str) -> None:
    # The label is enforced: a copy of a chart pod is admitted, the same pod with one field removed is not.
    eventually(lambda: list(kube.list(Pod, namespace=restricted, labels={"app.kubernetes.io/component": "api"})))
    source = next(iter(kube.list(Pod, namespace=restricted, labels={"app.kubernetes.io/component": "api"})))
    spec = source.to_dict()["spec"]
    spec.pop("nodeName", None)
    kube.create(_pod("copy", spec), namespace=restricted, dry_run=True)
    del spec["containers"][0]["securityContext"]["allowPrivilegeEscalation"]
    weakened = _pod("weakened", spec)
    with pytest.raises(ApiError) as refused:
        kube.create(weakened, namespace=restricted, dry_run=True)
    assert refused.value.status.code == 403
    assert 'violates PodSecurity "restricted' in str(refused.value.status.message)
    assert "allowPrivilegeEscalation" in str(refused.value.status.message)

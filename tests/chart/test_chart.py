"""The helm chart charts/appyard as rendered by `helm template` for several value sets, its values file and schema,
and the values it refuses (test_cluster.py puts it in front of a real API server).

Rendered output is always parsed (yaml.safe_load_all) and asserted on as objects, never as text.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from appyard import crds as generated_crds
from appyard.tooling import brokerkeys

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
)

SETS = sorted(VALUE_SETS)
NATS_SERVER = Path(sys.executable).parent / "nats-server"


# -- lint and kubeVersion ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SETS)
def test_lint_strict(renderer: Tools, name: str) -> None:
    out = renderer.helm("lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION, values=VALUE_SETS[name])
    assert "0 chart(s) failed" in out


def test_the_control_plane_reports_the_version_it_is_built_from(server_version: str) -> None:
    # `make tools` stamps it; unstamped binaries say v0.0.0-master, which no chart's kubeVersion accepts.
    assert server_version == f"v{KUBE_VERSION}"


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
    assert json.loads(env["APPYARD_OPERATOR_NAMESPACES"]["value"]) == ["appyard", "team-builds"]
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


def test_api_and_operator_log_json_unless_told_text(renderer: Tools, rendered: dict[str, list[Obj]]) -> None:
    from appyard import logs

    for values, expected in ((None, "json"), (merge(OIDC, {"logFormat": "text"}), "text")):
        objects = rendered["oidc"] if values is None else renderer.template(values)
        for workload in ("appyard-api", "appyard-operator"):
            env = env_of(one(objects, "Deployment", workload)["spec"]["template"]["spec"])
            value = env["APPYARD_LOG_FORMAT"]["value"]
            assert logs.chosen_format({"APPYARD_LOG_FORMAT": value}) == expected, workload


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


def test_the_push_webhook_gets_an_ingress_for_its_path_only(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["example-production"]
    assert not find(rendered["oidc"], "Ingress", "appyard-operator-webhook"), "off by default"
    ingress = one(objects, "Ingress", "appyard-operator-webhook")
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == "appyard.example.com"
    assert rule["http"]["paths"] == [
        {
            "path": "/hooks/",
            "pathType": "Prefix",
            "backend": {"service": {"name": "appyard-operator-webhook", "port": {"name": "webhook"}}},
        }
    ]
    service = one(objects, "Service", "appyard-operator-webhook")
    assert [port["name"] for port in service["spec"]["ports"]] == ["webhook"]
    assert ingress["spec"]["tls"] == [{"secretName": "appyard-tls", "hosts": ["appyard.example.com"]}]


def test_a_webhook_ingress_needs_a_host(renderer: Tools) -> None:
    with pytest.raises(HelmError, match=r"/operator/webhook/ingress/host"):
        renderer.template(merge(OIDC, {"operator": {"webhook": {"ingress": {"enabled": True}}}}))


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
    assert nats["metadata"]["annotations"]["example.com/backup"] == "yes"
    assert len(nats["metadata"]["annotations"]["checksum/config"]) == 64  # a config change rolls the pod
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
    ("unknown log format", merge(OIDC, {"logFormat": "logfmt"}), "/logFormat"),
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
        "operator not watching the release namespace",
        merge(OIDC, {"operator": {"watchNamespaces": ["team-a"]}}),
        "operator.watchNamespaces must include the release namespace appyard",
    ),
    (
        "a PDB no drain can satisfy",
        merge(PROXY, {"api": {"replicaCount": 1}}),
        "api.pdb.minAvailable (1) must be less than the API's replicas (1)",
    ),
    (
        "a PDB above the autoscaler's floor",
        merge(PROXY, {"api": {"autoscaling": {"enabled": True, "minReplicas": 2}, "pdb": {"minAvailable": 2}}}),
        "api.pdb.minAvailable (2) must be less than the API's replicas (2)",
    ),
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


# -- values.yaml and its schema ------------------------------------------------------------------------------------

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
# Kubernetes's own types, passed through as they are (the API server checks them): affinity's parts and
# NetworkPolicy peers; Helm's `global`.
PASS_THROUGH = {"global", "nodeAffinity", "podAffinity", "podAntiAffinity", "allowFrom[]", "apiFrom[]", "webhookFrom[]"}


def _schema_objects(schema: Obj, path: str) -> Iterator[tuple[str, Obj]]:
    if schema.get("type") == "object" or "properties" in schema:
        yield path, schema
    for name, child in (schema.get("properties") or {}).items():
        yield from _schema_objects(child, f"{path}.{name}" if path else name)
    if isinstance(schema.get("items"), dict):
        yield from _schema_objects(schema["items"], f"{path}[]")


def test_schema_closes_every_object() -> None:
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    for path, schema in _schema_objects(SCHEMA, ""):
        if path.rsplit(".", 1)[-1] in PASS_THROUGH:
            continue
        closed = schema.get("additionalProperties")
        # closed (False), or a map whose values are typed (labels, annotations, nodeSelector)
        assert closed is False or (isinstance(closed, dict) and "type" in closed), f"{path or '(root)'} is open"


def _leaves(values: Obj, path: str = "") -> Iterator[str]:
    for key, value in values.items():
        here = f"{path}.{key}" if path else key
        if isinstance(value, dict) and value and not here.endswith(("resources", "allowFrom")):
            yield from _leaves(value, here)
        else:
            yield here


def _schema_leaves(schema: Obj, path: str = "") -> Iterator[str]:
    for key, child in (schema.get("properties") or {}).items():
        here = f"{path}.{key}" if path else key
        if "properties" in child and not here.endswith(("resources", "affinity")):
            yield from _schema_leaves(child, here)
        else:
            yield here


def test_values_and_schema_name_the_same_keys() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(_leaves(values)) == set(_schema_leaves(SCHEMA)) - {"global"}


def test_every_value_is_documented() -> None:
    # helm-docs reads a `# --` comment above a key; every leaf key (and every map like resources) has one.
    text = (CHART / "values.yaml").read_text()
    lines = text.splitlines()
    undocumented = []

    def walk(node: yaml.Node, path: str) -> None:
        assert isinstance(node, yaml.MappingNode)
        for key, value in node.value:
            here = f"{path}.{key.value}" if path else str(key.value)
            if isinstance(value, yaml.MappingNode) and value.value and not here.endswith("resources"):
                walk(value, here)
                continue
            above = key.start_mark.line - 1
            while above >= 0 and lines[above].strip().startswith("#") and not lines[above].strip().startswith("# --"):
                above -= 1
            if above < 0 or not lines[above].strip().startswith("# --"):
                undocumented.append(here)

    root = yaml.compose(text)
    assert root is not None
    walk(root, "")
    assert undocumented == []


# -- the processes read what the chart sets ------------------------------------------------------------------------

# Set by the chart for a setting another change of issue 10 adds to ApiSettings (the /metrics port).
NOT_YET_SETTINGS = {"APPYARD_API_METRICS_PORT"}


def _settings_env(pod: Obj, prefix: str) -> dict[str, str]:
    """The container's APPYARD_* environment as the process would see it (a stand-in text for each Secret key)."""
    env = {}
    for name, entry in env_of(pod).items():
        if name.startswith(prefix):
            env[name] = (
                entry["value"] if "value" in entry else f"from-secret-{entry['valueFrom']['secretKeyRef']['key']}"
            )
    return env


@pytest.mark.parametrize("name", SETS)
def test_processes_accept_the_rendered_settings(
    rendered: dict[str, list[Obj]], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real settings classes parse the rendered environment: names, JSON lists and the oidc/proxy rules.
    from appyard_api.settings import ApiSettings
    from appyard_operator.settings import OperatorSettings

    for settings, workload, prefix in (
        (ApiSettings, "appyard-api", "APPYARD_API_"),
        (OperatorSettings, "appyard-operator", "APPYARD_OPERATOR_"),
    ):
        env = _settings_env(one(rendered[name], "Deployment", workload)["spec"]["template"]["spec"], prefix)
        unknown = {key for key in env if key[len(prefix) :].lower() not in settings.model_fields} - NOT_YET_SETTINGS
        assert unknown == set(), f"{workload} is given settings it does not have"
        with monkeypatch.context() as patched:
            for key, value in env.items():
                patched.setenv(key, value)
            parsed = settings()
        if isinstance(parsed, ApiSettings):
            assert parsed.mode == "cluster"
            assert parsed.namespace == "appyard"
            assert parsed.session_secret is not None or parsed.auth == "proxy"
        else:
            assert isinstance(parsed, OperatorSettings)
            assert parsed.nats_account_seed is not None and parsed.nats_creds is not None
            assert parsed.webhook_port in (0, 8080)

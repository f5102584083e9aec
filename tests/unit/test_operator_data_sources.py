"""Data sources in a cluster, the operator's pure parts: which variables and egress rules an App's runners get
from its declared sources and the Workspace's Secret, and what stalls it (messages never hold a URL)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from appyard import bundles, database
from appyard.properties import DataSource
from appyard.resources import AppResource, Condition, WorkspaceResource
from appyard_operator import app_objects, data_sources, sync
from appyard_operator.data_sources import Endpoint, RunnerAccess

PASSWORD = "s3cr3t-pa55"
SHOP_URL = f"postgresql+psycopg://shop:{PASSWORD}@db.example.com:6543/shop"
CRM_URL = f"mysql+pymysql://crm:{PASSWORD}@10.9.8.7/crm"
DECLARED = {
    "shop": {"kind": "postgres"},
    "crm": {"kind": "mysql", "secret": "crm-url"},
    "local": {"kind": "sqlite", "default_url": "sqlite:///local.sqlite3"},
    "other": {"kind": "postgres"},  # declared by the workspace, used by no app here
}


def _declare(workspace: Path, app: str, names: list[str]) -> None:
    path = workspace / "properties.json"
    properties = json.loads(path.read_text(encoding="utf-8"))
    properties["data_sources"] = {**properties.get("data_sources", {}), **DECLARED}  # beside the samples' own
    path.write_text(json.dumps(properties), encoding="utf-8")
    path = workspace / app / "properties.json"
    properties = json.loads(path.read_text(encoding="utf-8"))
    properties["data_sources"] = names
    path.write_text(json.dumps(properties), encoding="utf-8")


def _resources(sources: list[str], settings: dict[str, Any] | None = None) -> tuple[AppResource, WorkspaceResource]:
    app = AppResource.model_validate(
        {
            "metadata": {"name": "ops", "namespace": "tools", "uid": "u-1", "generation": 1},
            "spec": {
                "workspace": "apps",
                "app": "ops",
                "revision": "0123456789abcdef",
                "path": "ops",
                "code": "appyard-code-ops-0123",
                "codeHash": "0" * 64,
                "dataSources": {name: DECLARED[name] for name in sources},
            },
        }
    )
    workspace = WorkspaceResource.model_validate(
        {
            "metadata": {"name": "apps", "namespace": "tools", "uid": "u-0"},
            "spec": {
                "git": {"url": "https://g/x.git"},
                "dataSources": {"secretName": "db-urls"} if settings is None else settings,
            },
        }
    )
    return app, workspace


def _secret(**values: str) -> dict[str, str]:
    return {key.replace("_dash_", "-"): base64.b64encode(value.encode()).decode() for key, value in values.items()}


async def _addresses(host: str, port: int) -> list[str]:  # a resolver with fixed answers (any port)
    return {"db.example.com": ["192.0.2.10", "2001:db8::10"], "10.9.8.7": ["10.9.8.7"]}.get(host, [])


def _evaluate(app: AppResource, workspace: WorkspaceResource, data: dict[str, str] | None) -> RunnerAccess:
    return asyncio.run(data_sources.evaluate(app, workspace, data, _addresses))


# -- from the checkout --------------------------------------------------------------------------------------


def test_an_app_spec_carries_its_declared_sources_and_its_pages_database_facts(workspace_copy: Path) -> None:
    _declare(workspace_copy, "ops", ["shop", "local"])
    facts = database.PageDatabase(
        tables={
            "items": database.TableFacts(
                source="shop",
                base_table="items",
                primary_key=["id"],
                columns={"id": database.ColumnFacts(data_type="integer", db_type="INTEGER", primary_key=True)},
            )
        }
    )
    (workspace_copy / "ops" / "clock" / database.DATABASE_FILE).write_text(database.dumps(facts), encoding="utf-8")
    result = sync.workspace_apps(workspace_copy, "apps", "0123456789abcdef")
    assert not result.invalid, result.invalid
    specs = {app.name: app.spec for app in result.apps}
    assert specs["ops"].data_sources == {
        "shop": DataSource(kind="postgres"),
        "local": DataSource(kind="sqlite", default_url="sqlite:///local.sqlite3"),
    }
    assert list(specs["orders"].data_sources) == ["orders"]  # the sample's own SQLite source, nothing else
    pages = {page.name: page for page in specs["ops"].pages}
    assert pages["clock"].database == facts.model_dump(mode="json")
    assert pages["hashing"].database is None
    # The bundle the runners unpack carries the facts and .sql functions too.
    (workspace_copy / "ops" / "clock" / "scripts" / "counts.sql").write_text("SELECT 1 AS one\n", encoding="utf-8")
    with tarfile.open(fileobj=io.BytesIO(bundles.pack(workspace_copy / "ops")), mode="r:gz") as archive:
        names = archive.getnames()
    assert "clock/database.json" in names and "clock/scripts/counts.sql" in names


def test_a_malformed_database_file_makes_the_app_invalid(workspace_copy: Path) -> None:
    (workspace_copy / "ops" / "clock" / database.DATABASE_FILE).write_text('{"tables": 5}', encoding="utf-8")
    result = sync.workspace_apps(workspace_copy, "apps", "0123456789abcdef")
    assert "database.json" in result.invalid["ops"] and "appyard gen" in result.invalid["ops"]


# -- URLs to hosts and ports ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "url", "expected"),
    [
        ("postgres", "postgresql+psycopg://u:p%40ss@db.example.com/shop", [("db.example.com", 5432)]),
        ("postgres", "postgresql://u:p@db.example.com:6543/shop?sslmode=require", [("db.example.com", 6543)]),
        ("postgres", "postgresql://u:p@[2001:db8::1]:6432/x", [("2001:db8::1", 6432)]),
        ("postgres", "postgresql://u:p@h1:5432,h2:5433/x", [("h1", 5432), ("h2", 5433)]),
        ("postgres", "postgresql://db.internal", [("db.internal", 5432)]),
        ("postgres", "postgresql://u:p@x@db/x", [("db", 5432)]),  # an unescaped @ in the password
        ("mysql", "mysql+pymysql://u:p@10.0.0.5/x", [("10.0.0.5", 3306)]),
        ("sqlite", "sqlite:////data/x.sqlite3", []),
    ],
)
def test_endpoints_of_urls(kind: str, url: str, expected: list[tuple[str, int]]) -> None:
    found = data_sources.endpoints("db", DataSource.model_validate({"kind": kind}), url)
    assert found == [Endpoint("db", host, port) for host, port in expected]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"{PASSWORD}", "is not a URL"),
        (f"postgresql://u:{PASSWORD}@/db?host=/var/run/postgresql", "names no host"),
        (f"postgresql://u:{PASSWORD}@db:99999/x", "port"),
        (f"postgresql://u:{PASSWORD}@db:54x/x", "port"),
        (f"postgresql://u:{PASSWORD}@[2001:db8::1/x", "IPv6"),
        (f"postgresql://u:{PASSWORD}@[2001:db8::1]x/x", "IPv6"),
        (f"postgresql://u:{PASSWORD}@db:5432,:5433/x", "names no host"),
        (f"postgresql://u:{PASSWORD}@" + ",".join(f"h{i}" for i in range(17)) + "/x", "more than 16 hosts"),
        (f"postgresql://u:{PASSWORD}@db/" + "x" * 5000, "longer than 4096 characters"),
    ],
)
def test_bad_urls_are_refused_without_showing_them(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        data_sources.endpoints("db", DataSource(kind="postgres"), url)
    assert PASSWORD not in str(refused.value)


def test_a_host_name_resolves_now_and_an_address_is_itself() -> None:
    assert "127.0.0.1" in asyncio.run(data_sources.resolve("localhost", 5432))
    assert asyncio.run(data_sources.resolve("2001:db8:0::1", 5432)) == ["2001:db8::1"]


# -- what the runners get --------------------------------------------------------------------------------------


def _env(access: RunnerAccess) -> dict[str, Any]:
    return {item.name: item.value or item.valueFrom.to_dict() for item in access.env}  # type: ignore[union-attr]


def test_runners_get_exactly_their_sources_variables_and_hosts() -> None:
    app, workspace = _resources(["shop", "crm", "local"])
    access = _evaluate(app, workspace, _secret(APPYARD_DB_SHOP=SHOP_URL, crm_dash_url=CRM_URL, APPYARD_DB_OTHER="x"))
    assert access.problem is None
    env = _env(access)
    assert set(env) == {data_sources.DECLARATIONS_ENV, "APPYARD_DB_SHOP", "APPYARD_DB_CRM", "APPYARD_DB_LOCAL"}
    assert json.loads(env[data_sources.DECLARATIONS_ENV]) == {
        "crm": {"kind": "mysql", "secret": "crm-url", "options": DataSource(kind="mysql").options.model_dump()},
        "local": {
            "kind": "sqlite",
            "default_url": "sqlite:///local.sqlite3",
            "options": DataSource(kind="sqlite").options.model_dump(),
        },
        "shop": {"kind": "postgres", "options": DataSource(kind="postgres").options.model_dump()},
    }
    assert env["APPYARD_DB_SHOP"] == {"secretKeyRef": {"name": "db-urls", "key": "APPYARD_DB_SHOP", "optional": False}}
    assert env["APPYARD_DB_CRM"] == {"secretKeyRef": {"name": "db-urls", "key": "crm-url", "optional": False}}
    # SQLite with a default file: the Secret may override it, need not.
    assert env["APPYARD_DB_LOCAL"] == {"secretKeyRef": {"name": "db-urls", "key": "APPYARD_DB_LOCAL", "optional": True}}
    assert PASSWORD not in json.dumps(env)
    rules = [rule.to_dict() for rule in access.egress]
    assert rules == [
        {"to": [{"ipBlock": {"cidr": "10.9.8.7/32"}}], "ports": [{"protocol": "TCP", "port": 3306}]},
        {
            "to": [{"ipBlock": {"cidr": "192.0.2.10/32"}}, {"ipBlock": {"cidr": "2001:db8::10/128"}}],
            "ports": [{"protocol": "TCP", "port": 6543}],
        },
    ]
    assert access.urls_hash and access.egress_hash


def test_an_app_without_sources_gets_nothing() -> None:
    app, workspace = _resources([], settings={})
    assert _evaluate(app, workspace, None) == RunnerAccess()


def test_declared_egress_replaces_the_urls_host() -> None:
    settings = {
        "secretName": "db-urls",
        "egress": {
            "shop": [
                {"cidr": "10.20.0.0/16", "ports": [5432]},
                {"podLabels": {"app": "postgres"}, "namespaceLabels": {"team": "data"}, "ports": [5432, 5433]},
            ],
        },
    }
    app, workspace = _resources(["shop"], settings)
    # The URL's host does not resolve here, and need not: the Workspace says where the database is.
    access = _evaluate(app, workspace, _secret(APPYARD_DB_SHOP="postgresql://u:p@unknown.invalid/x"))
    assert access.problem is None
    assert [rule.to_dict() for rule in access.egress] == [
        {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 5432}]},
        {
            "to": [
                {
                    "podSelector": {"matchLabels": {"app": "postgres"}},
                    "namespaceSelector": {"matchLabels": {"team": "data"}},
                }
            ],
            "ports": [{"protocol": "TCP", "port": 5432}, {"protocol": "TCP", "port": 5433}],
        },
    ]


def test_sqlite_on_its_default_file_needs_no_secret() -> None:
    app, workspace = _resources(["local"], settings={})
    access = _evaluate(app, workspace, None)
    assert access.problem is None and access.egress == [] and access.urls_hash is None
    assert set(_env(access)) == {data_sources.DECLARATIONS_ENV}


@pytest.mark.parametrize(
    ("sources", "settings", "data", "expected"),
    [
        (
            ["shop"],
            {},
            None,
            "set spec.dataSources.secretName on Workspace 'apps' to a Secret with the key(s) APPYARD_DB_SHOP",
        ),
        (
            ["shop"],
            None,
            None,
            "the data-source Secret 'db-urls' (spec.dataSources.secretName of Workspace 'apps') does not exist",
        ),
        (
            ["shop", "crm"],
            None,
            {"APPYARD_DB_SHOP": SHOP_URL},
            "data source 'crm': the Secret 'db-urls' has no key 'crm-url'",
        ),
        (["shop"], None, {"APPYARD_DB_SHOP": f"postgresql://u:{PASSWORD}@/x"}, "key 'APPYARD_DB_SHOP', names no host"),
        (["shop"], None, {"APPYARD_DB_SHOP": f"postgresql://u:{PASSWORD}@nowhere.invalid/x"}, "does not resolve"),
        (["shop"], None, {"APPYARD_DB_SHOP": "%%%"}, "is not a URL"),
        (
            ["shop"],
            {"secretName": "db-urls", "egress": {"shop": [{"ports": [5432]}]}},
            {"APPYARD_DB_SHOP": SHOP_URL},
            "spec.dataSources.egress.shop[0]: give either cidr or podLabels",
        ),
        (
            ["shop"],
            {"secretName": "db-urls", "egress": {"shop": [{"cidr": "10.0.0.300/8", "ports": [5432]}]}},
            {"APPYARD_DB_SHOP": SHOP_URL},
            "spec.dataSources.egress.shop[0].cidr is not an address block",
        ),
    ],
    ids=["no-secret-name", "no-secret", "no-key", "no-host", "unresolvable", "not-a-url", "egress-empty", "bad-cidr"],
)
def test_what_stalls_an_app(
    sources: list[str], settings: dict[str, Any] | None, data: dict[str, str] | None, expected: str
) -> None:
    app, workspace = _resources(sources, settings)
    encoded = None if data is None else _secret(**data)
    access = _evaluate(app, workspace, encoded)
    assert access.problem is not None and expected in access.problem, access.problem
    assert PASSWORD not in access.problem and access.env == [] and access.egress == []


@pytest.mark.parametrize(
    ("declaration", "expected"),
    [
        ({"kind": "postgres", "url_env": "APPYARD_RUNNER_NATS_URL"}, "its variable APPYARD_RUNNER_NATS_URL is one"),
        ({"kind": "postgres", "url_env": "PATH"}, "its variable PATH is one the runner uses"),
        ({"kind": "postgres", "url_env": "PYTHONPATH"}, "its variable PYTHONPATH is one"),
        ({"kind": "postgres", "url_env": "APPYARD_DB_SHOP"}, "both use the variable APPYARD_DB_SHOP"),
    ],
)
def test_a_sources_variable_must_not_replace_the_runners(declaration: dict[str, Any], expected: str) -> None:
    app, workspace = _resources(["shop"])
    app.spec.data_sources["second"] = DataSource.model_validate(declaration)
    access = _evaluate(app, workspace, _secret(APPYARD_DB_SHOP=SHOP_URL, APPYARD_DB_SECOND=SHOP_URL))
    assert access.problem is not None and expected in access.problem, access.problem


# -- the objects and the status ---------------------------------------------------------------------------------


def test_the_deployment_and_network_policy_carry_the_access() -> None:
    app, workspace = _resources(["shop"])
    access = _evaluate(app, workspace, _secret(APPYARD_DB_SHOP=SHOP_URL))
    deployment = app_objects.deployment(app, workspace, "runner@sha256:abc", access=access).to_dict()
    env = [item["name"] for item in deployment["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert env[-2:] == [data_sources.DECLARATIONS_ENV, "APPYARD_DB_SHOP"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations[data_sources.URLS_HASH] == access.urls_hash
    assert deployment["metadata"]["annotations"] == {data_sources.EGRESS_HASH: access.egress_hash}
    policy = app_objects.network_policy(app, workspace, access.egress).to_dict()
    egress = policy["spec"]["egress"]
    assert [rule["ports"][0]["port"] for rule in egress] == [4222, 53, 6543]
    # Another URL (a new password) rolls the runners; the same one does not.
    again = _evaluate(app, workspace, _secret(APPYARD_DB_SHOP=SHOP_URL))
    rotated = _evaluate(app, workspace, _secret(APPYARD_DB_SHOP=SHOP_URL.replace(PASSWORD, "rotated")))
    assert again.urls_hash == access.urls_hash and rotated.urls_hash != access.urls_hash
    assert rotated.egress_hash == access.egress_hash
    # The hash is keyed by the Secret's uid: it cannot be checked against guessed passwords without the Secret.
    keyed = asyncio.run(
        data_sources.evaluate(app, workspace, _secret(APPYARD_DB_SHOP=SHOP_URL), _addresses, key="secret-uid")
    )
    assert keyed.urls_hash != access.urls_hash


def test_the_periodic_check_notices_changes_and_problems() -> None:
    app, workspace = _resources(["shop"])
    access = _evaluate(app, workspace, _secret(APPYARD_DB_SHOP=SHOP_URL))
    pod = {data_sources.URLS_HASH: access.urls_hash or ""}
    deployment = {data_sources.EGRESS_HASH: access.egress_hash or ""}
    assert not data_sources.due(app, access, deployment, pod)
    assert data_sources.due(app, access, deployment, {})  # a new URL
    assert data_sources.due(app, access, {}, pod)  # a host moved
    broken = _evaluate(app, workspace, {})
    assert data_sources.due(app, broken, deployment, pod)  # a key removed
    app.status.conditions = [
        Condition(
            type="Stalled",
            status="True",
            reason=data_sources.REASON,
            message=broken.problem or "",
            last_transition_time="2026-01-01T00:00:00Z",
        )
    ]
    assert not data_sources.due(app, broken, deployment, pod)  # already reported
    assert data_sources.due(app, access, deployment, pod)  # fixed: the condition must go


def test_a_data_source_problem_stalls_the_app_while_the_last_revision_serves() -> None:
    app, workspace = _resources(["shop"])
    problem = "data source 'shop': the Secret 'db-urls' has no key 'APPYARD_DB_SHOP': add the source's URL under it"
    serving = app_objects.Rollout(exists=True, desired=1, ready=1, updated=1, code_hash="old", image="runner")
    status = app_objects.status(
        app,
        workspace,
        image="runner",
        build=app_objects.Build("none"),
        rollout=serving,
        invalid=None,
        build_job=None,
        data_source=problem,
    )
    conditions = {item.type: item for item in status.conditions}
    assert conditions["Stalled"].reason == data_sources.REASON and conditions["Stalled"].message == problem
    assert conditions["Ready"].status == "False" and conditions["Ready"].reason == data_sources.REASON
    assert "Reconciling" not in conditions

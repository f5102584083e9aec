"""Which data sources a runner serves, what its runs get of them, and what is redacted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appyard.properties import DataSource
from appyard.runs import RunRequest, RunResult, RunStatus
from appyard.sql.sources import Sources
from appyard_runner import datasources
from appyard_runner.environment import for_runs
from appyard_runner.redaction import Redactor

URL = "postgresql+psycopg://shop:pa55-w0rd@db.internal:5432/shop"
SOURCES = {
    "shop": DataSource(kind="postgres"),
    "ledger": DataSource(kind="mysql", url_env="LEDGER_URL"),
    "notes": DataSource(kind="sqlite", default_url="sqlite:///notes.sqlite3"),
}


def test_the_workspace_properties_declare_the_sources(tmp_path: Path) -> None:
    (tmp_path / "properties.json").write_text(json.dumps({"data_sources": {"shop": {"kind": "postgres"}}}))
    configured = json.dumps({"other": {"kind": "sqlite"}})
    assert datasources.declared(tmp_path, configured) == {"shop": DataSource(kind="postgres")}


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        (None, {}),
        ("", {}),
        ('{"shop": {"kind": "postgres"}}', {"shop": DataSource(kind="postgres")}),
        ('{"shop": {"kind": "oracle"}}', {}),  # not a kind we serve: nothing, and a log line says why
        ("not json", {}),
        ('{"Bad Name": {"kind": "postgres"}}', {}),
    ],
)
def test_without_properties_the_operator_declares_them(
    tmp_path: Path, configured: str | None, expected: dict[str, DataSource]
) -> None:
    assert datasources.declared(tmp_path, configured) == expected


def test_an_app_gets_only_the_sources_it_lists_in_its_order() -> None:
    assert list(datasources.for_app(SOURCES, ["notes", "shop", "missing"])) == ["notes", "shop"]


def test_runs_get_declarations_without_urls_and_each_url_in_its_variable(tmp_path: Path) -> None:
    environ = {"APPYARD_DB_SHOP": URL, "LEDGER_URL": "mysql+pymysql://x:y@h/l", "APPYARD_DB_OTHER": "nope"}
    sources = Sources(SOURCES, app="shop", environ=environ, data_dir=tmp_path)
    found = for_runs([], sources.child_environment())
    assert found["APPYARD_DB_SHOP"] == URL
    assert found["APPYARD_DB_NOTES"] == f"sqlite:///{tmp_path}/notes.sqlite3"
    assert "APPYARD_DB_OTHER" not in found
    declarations = json.loads(found["APPYARD_DATA_SOURCES"])
    assert {name: DataSource.model_validate(value) for name, value in declarations.items()} == SOURCES
    assert "pa55" not in found["APPYARD_DATA_SOURCES"]


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (URL, {"APPYARD_DB_SHOP": URL, "APPYARD_DB_SHOP password": "pa55-w0rd"}),
        ("", {}),
        ("postgresql://db.internal/shop", {"APPYARD_DB_SHOP": "postgresql://db.internal/shop"}),
        ("postgresql://[broken", {"APPYARD_DB_SHOP": "postgresql://[broken"}),
    ],
)
def test_urls_and_their_passwords_are_secrets(url: str, redacted: dict[str, str]) -> None:
    environ = {"APPYARD_DB_SHOP": url, "APPYARD_DB_NOTES": "sqlite:////data/notes.sqlite3"}  # a path: no secret
    assert datasources.secrets(SOURCES, environ) == redacted


def test_a_password_quoted_in_an_error_is_redacted_from_the_result() -> None:
    redactor = Redactor(datasources.secrets(SOURCES, {"APPYARD_DB_SHOP": URL}))
    request = RunRequest(run_id="r", namespace="local", app="shop", page="p", function="f", submitted_at=0)
    result = RunResult.of(request, RunStatus.succeeded, context={"t": {"message": "auth failed for pa55-w0rd"}})
    payload = json.loads(redactor.payload(result, 1 << 20))
    assert payload["context"]["t"]["message"] == "auth failed for [secret APPYARD_DB_SHOP password]"


def test_a_result_over_the_limit_becomes_a_failure_that_says_so() -> None:
    request = RunRequest(run_id="r", namespace="local", app="shop", page="p", function="f", submitted_at=0)
    result = RunResult.of(request, RunStatus.succeeded, context={"t": {"data": [{"x": "y" * 2000}]}}, stdout="end")
    payload = json.loads(Redactor({}).payload(result, 1000))
    assert payload["status"] == "failed"
    assert payload["context"] == {}
    assert payload["error"]["kind"] == "invalid_context"
    assert "limit" in payload["error"]["message"]
    assert payload["stdout"] == "end"

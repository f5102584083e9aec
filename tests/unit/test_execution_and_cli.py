"""Running page functions in-process, and the CLI commands a developer types."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from appyard import datadir, execution, workspace
from appyard.cli import app
from appyard.errors import ContextInvalid, FunctionFailed, ModelsStale, NotFound, StateInvalid
from appyard.sql import sources

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture(autouse=True)
def _forget_apps() -> Iterator[None]:
    yield
    for name in ("orders", "ops", "lab", "demo"):
        execution.unload(name)


def run(root: Path, app_name: str, page: str, function: str, state: dict[str, Any]) -> execution.Outcome:
    found = workspace.load(root)
    loaded = execution.load(found.page(app_name, page), root)
    # appyard.db() in this process: the app's declared sources, as a runner gives them to its children.
    used = found.app(app_name).properties.data_sources
    declared = {name: found.properties.data_sources[name] for name in used}
    app_sources = sources.Sources(declared, data_dir=datadir.data_dir(app_name), workspace=root)
    sources.use(app_sources)
    try:
        return execution.execute(loaded, function, state, root)
    finally:
        sources.use(None)
        app_sources.close()


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "lab"
    shutil.copytree(FIXTURES / "lab", target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_the_orders_sql_fetcher_answers_its_first_page(
    workspace_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # `appyard run` keeps app data in ./.appyard, like `appyard dev`
    result = CliRunner().invoke(app, ["run", "orders", "orders", "list_orders", "--workspace", str(workspace_copy)])
    assert result.exit_code == 0, result.output
    orders = json.loads(result.stdout)["orders"]
    assert len(orders["data"]) == 15, "the table's page_size"
    assert orders["total"] == 40 and orders["more"] is True, "the seed has 40 orders"
    first = orders["data"][0]
    assert (first["id"], first["customer"], first["total"]) == (1031, "Donald Knuth", 49.0), "newest first"


def test_the_edit_dialog_opens_filled(workspace_copy: Path) -> None:
    outcome = run(workspace_copy, "orders", "orders", "open_editor", {"orders": {"id": 1005}})
    editor = outcome.changes["editor"]
    assert editor["visible"] is True
    assert editor["components"]["quantity"]["value"] == 1
    assert editor["components"]["status"]["value"] == "pending"


def test_a_script_clears_a_value_by_setting_none(workspace_copy: Path) -> None:
    outcome = run(workspace_copy, "orders", "orders", "open_editor", {"orders": {"id": 1005}})
    assert outcome.changes["editor"]["components"]["ship_by"] == {"value": None}  # no ship-by date: cleared


def test_time_defaults_and_time_zones(workspace_copy: Path) -> None:
    runs = run(workspace_copy, "ops", "clock", "preview_runs", {"schedule": {"start": "2026-11-27", "count": 2}})
    assert [row["run_at"] for row in runs.changes["runs"]["data"]] == ["2026-11-27T09:00:00", "2026-11-30T09:00:00"]
    zones = run(workspace_copy, "ops", "clock", "convert_time", {"when": {"moment": "2026-07-01T12:00:00"}})
    offsets = {row["zone"]: row["offset"] for row in zones.changes["times"]["data"]}
    assert offsets == {
        "UTC": "UTC+00:00",
        "Europe/London": "UTC+01:00",
        "America/New_York": "UTC-04:00",
        "Asia/Tokyo": "UTC+09:00",
    }


@pytest.mark.parametrize(
    ("state", "path"),
    [
        ({"new_order": {"quantity": "lots"}}, "new_order.quantity"),
        ({"new_order": {"colour": "red"}}, "new_order.colour"),
    ],
)
def test_wrong_state_names_the_field(workspace_copy: Path, state: dict[str, Any], path: str) -> None:
    with pytest.raises(StateInvalid) as raised:
        run(workspace_copy, "orders", "orders", "show_order", state)
    assert [issue.path for issue in raised.value.issues] == [path]


def test_a_raising_function_shows_only_user_frames(lab: Path) -> None:
    with pytest.raises(FunctionFailed) as raised:
        run(lab, "lab", "main", "boom", {"form": {"text": "sideways"}})
    trace = raised.value.traceback
    assert "misbehave.py" in trace and "in boom" in trace and "in _explode" in trace
    assert "ValueError: it went sideways" in trace
    assert "execution.py" not in trace and "appyard" not in trace.replace(str(lab), "")


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic warns while dumping the bad value it then rejects
def test_a_function_returning_something_else(lab: Path) -> None:
    with pytest.raises(ContextInvalid, match="expected the context, got str"):
        run(lab, "lab", "main", "bad_context", {})
    with pytest.raises(ContextInvalid, match=r"rows\.data"):
        run(lab, "lab", "main", "wrong_type", {})


def test_unknown_function(lab: Path) -> None:
    with pytest.raises(NotFound, match="functions: bad_context, boom"):
        run(lab, "lab", "main", "nothing", {})


def test_models_that_do_not_match_properties_are_stale(lab: Path) -> None:
    properties = lab / "lab" / "main" / "properties.json"
    data = json.loads(properties.read_text())
    data["blocks"][0]["components"].append({"component_type": "input", "name": "added"})
    properties.write_text(json.dumps(data))
    with pytest.raises(ModelsStale, match="run `appyard gen`"):
        run(lab, "lab", "main", "echo", {})


def test_two_copies_of_an_app_do_not_share_modules(lab: Path, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "other"
    shutil.copytree(lab, other)
    script = other / "lab" / "main" / "scripts" / "behave.py"
    script.write_text(script.read_text().replace('set_message(state.form.text or "", "info")', 'set_message("other")'))
    assert run(lab, "lab", "main", "echo", {"form": {"text": "first"}}).changes["form"]["message"] == "first"
    execution.unload("lab")
    assert run(other, "lab", "main", "echo", {"form": {"text": "first"}}).changes["form"]["message"] == "other"


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_new_app_new_page_validate_gen_and_run(in_tmp: Path) -> None:
    cli = CliRunner()
    created = cli.invoke(app, ["new", "app", "demo", "--label", "Demo"])
    assert created.exit_code == 0, created.output
    assert (in_tmp / "demo" / "home" / "scripts" / "greet.py").is_file()
    assert cli.invoke(app, ["new", "page", "demo", "reports"]).exit_code == 0
    assert json.loads((in_tmp / "demo" / "properties.json").read_text())["pages"] == [
        {"name": "home"},
        {"name": "reports"},
    ]
    assert cli.invoke(app, ["validate"]).exit_code == 0
    assert cli.invoke(app, ["gen", "--check"]).exit_code == 0

    result = cli.invoke(app, ["run", "demo", "reports", "greet", "--state", '{"form": {"name": "Ada"}}'])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"form": {"message": "Hello, Ada!", "message_type": "success"}}
    full = json.loads(cli.invoke(app, ["run", "demo", "home", "greet", "--full"]).stdout)
    assert full["form"]["components"]["name"] == {
        "message": None,
        "message_type": None,
        "visible": None,
        "label": None,
        "disabled": None,
        "value": None,
    }


def test_names_are_checked_and_existing_apps_kept(in_tmp: Path) -> None:
    cli = CliRunner()
    assert cli.invoke(app, ["new", "app", "demo"]).exit_code == 0
    again = cli.invoke(app, ["new", "app", "demo"])
    assert again.exit_code == 1 and "already has an app 'demo'" in again.output
    bad = cli.invoke(app, ["new", "app", "Bad-Name"])
    assert bad.exit_code == 1 and "not a valid Python identifier" in bad.output
    assert not (in_tmp / "Bad-Name").exists()


def test_prints_go_to_stderr_so_stdout_stays_json(in_tmp: Path) -> None:
    cli = CliRunner()
    cli.invoke(app, ["new", "app", "demo"])
    script = in_tmp / "demo" / "home" / "scripts" / "greet.py"
    script.write_text(
        script.read_text().replace('    name = state.form.name or "world"', '    print("debug line")\n    name = "x"')
    )
    result = cli.invoke(app, ["run", "demo", "home", "greet"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["form"]["message"] == "Hello, x!"
    assert "debug line" in result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["run", "demo", "home", "greet", "--state", "{oops"], "--state is not valid JSON"),
        (["run", "demo", "home", "greet", "--state", "[1]"], "--state must be a JSON object"),
        (["run", "nope", "home", "greet"], "workspace has no app 'nope' (apps: demo)"),
        (["run", "demo", "away", "greet"], "app 'demo' has no page 'away' (pages: home)"),
        (["run", "demo", "home", "wave"], "has no function 'wave' (functions: greet)"),
        (["run", "demo", "home", "greet", "--state", '{"form": {"name": 3}}'], "form.name"),
    ],
)
def test_run_errors_say_what_exists(in_tmp: Path, arguments: list[str], message: str) -> None:
    cli = CliRunner()
    cli.invoke(app, ["new", "app", "demo"])
    result = cli.invoke(app, arguments)
    assert result.exit_code == 1
    assert message in result.stderr


def test_a_folder_without_a_workspace(in_tmp: Path) -> None:
    result = CliRunner().invoke(app, ["validate"])
    assert result.exit_code == 1
    assert "no workspace at" in result.stderr and "appyard new app" in result.stderr

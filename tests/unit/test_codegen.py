"""State/Context generation: the type of every component, importable output, determinism, atomic writes."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import appyard
from appyard import codegen, generated
from appyard.database import PageDatabase
from appyard.errors import GenerationFailed, PropertiesInvalid
from appyard.properties import PageProperties
from appyard.validation import validate_page

INPUTS = [
    ("text", "hello", "hello"),
    ("integer", 42, 42),
    ("float", "2.5", 2.5),
    ("date", "2026-11-24", dt.date(2026, 11, 24)),
    ("datetime", "2026-11-24T09:30:00", dt.datetime(2026, 11, 24, 9, 30)),
    ("time", "09:30:00", dt.time(9, 30)),
]

PAGE: dict[str, Any] = {
    "blocks": [
        {
            "block_type": "widget",
            "name": "form",
            "components": [
                *[{"component_type": "input", "name": f"in_{kind}", "data_type": kind} for kind, _, _ in INPUTS],
                {"component_type": "input", "name": "at", "data_type": "time", "default": "09:00:00"},
                {"component_type": "input", "name": "count", "data_type": "integer", "default": 5},
                {"component_type": "select", "name": "one", "options": [{"label": "A", "value": "a"}]},
                {"component_type": "select", "name": "many", "multiple": True, "data_type": "integer"},
                {"component_type": "select", "name": "fraction", "data_type": "float"},
                {"component_type": "boolean", "name": "flag", "default": True},
                {"component_type": "button", "name": "go"},
                {"component_type": "text", "name": "note", "text": "hi"},
            ],
        },
        {
            "block_type": "table",
            "name": "rows",
            "columns": [
                {"name": "id", "data_type": "integer"},
                {"name": "when", "data_type": "datetime"},
                {"name": "ok", "data_type": "boolean"},
                {"name": "blob", "data_type": "json"},
                {"column_type": "button", "name": "open", "on_click": "f"},
            ],
        },
    ]
}


def page(data: dict[str, Any] | None = None) -> PageProperties:
    return validate_page(data or PAGE, file="page.json", functions={"f"})


def import_models(tmp_path: Path, models: codegen.GeneratedModels, name: str = "pkg") -> tuple[ModuleType, ModuleType]:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    codegen.write(folder, models)
    loaded = []
    for file in ("state", "context"):
        module_name = f"_test_{name}_{file}"
        spec = importlib.util.spec_from_file_location(module_name, folder / f"{file}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        loaded.append(module)
    return loaded[0], loaded[1]


@pytest.fixture
def modules(tmp_path: Path) -> tuple[type[BaseModel], type[BaseModel]]:
    state, context = import_models(tmp_path, codegen.generate(page()))
    return state.State, context.Context


@pytest.mark.parametrize(("kind", "raw", "expected"), INPUTS, ids=[kind for kind, _, _ in INPUTS])
def test_each_input_type_has_its_python_type_in_state(
    modules: tuple[type[BaseModel], type[BaseModel]], kind: str, raw: Any, expected: Any
) -> None:
    state_class, context_class = modules
    state: Any = state_class.model_validate({"form": {f"in_{kind}": raw}})
    assert getattr(state.form, f"in_{kind}") == expected
    assert type(getattr(state.form, f"in_{kind}")) is type(expected)
    context: Any = context_class()
    getattr(context.form.components, f"in_{kind}").value = raw
    assert getattr(context.form.components, f"in_{kind}").value == expected


def test_selects_booleans_and_defaults(modules: tuple[type[BaseModel], type[BaseModel]]) -> None:
    state_class, _ = modules
    state: Any = state_class.model_validate({"form": {"one": "a", "many": [1, "2"], "fraction": 1}})
    assert state.form.one == "a"
    assert state.form.many == [1, 2]
    assert state.form.fraction == 1.0
    empty: Any = state_class()
    assert empty.form.at == dt.time(9, 0)  # a default written as JSON becomes the field's type
    assert empty.form.count == 5
    assert empty.form.flag is True
    assert empty.rows.id is None


def test_buttons_and_text_have_context_but_no_state(modules: tuple[type[BaseModel], type[BaseModel]]) -> None:
    state_class, context_class = modules
    state_fields = state_class.model_fields["form"].annotation.model_fields  # type: ignore[union-attr]
    assert "go" not in state_fields
    assert "note" not in state_fields
    context: Any = context_class()
    context.form.components.note.text = "**new**"
    context.form.components.go.disabled = True
    assert context.form.components.note.text == "**new**"


def test_table_state_is_the_selected_row_typed_by_column(modules: tuple[type[BaseModel], type[BaseModel]]) -> None:
    state_class, context_class = modules
    state: Any = state_class.model_validate({"rows": {"id": "7", "when": "2026-01-02T03:04:05", "ok": True}})
    assert state.rows.id == 7
    assert state.rows.when == dt.datetime(2026, 1, 2, 3, 4, 5)
    assert "open" not in type(state.rows).model_fields  # button columns hold no value
    context: Any = context_class()
    context.rows.columns.open.visible = False
    context.rows.columns.blob.label = "Payload"
    assert context.rows.columns.open.visible is False


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ({"form": {"in_integer": "abc"}}, "in_integer"),
        ({"form": {"unknown": 1}}, "unknown"),
        ({"nowhere": {}}, "nowhere"),
        ({"form": {"many": "x"}}, "many"),
        ({"rows": {"id": 1.5}}, "id"),
    ],
)
def test_wrong_state_is_rejected(modules: tuple[type[BaseModel], type[BaseModel]], state: Any, problem: str) -> None:
    state_class, _ = modules
    with pytest.raises(ValidationError) as raised:
        state_class.model_validate(state)
    assert problem in str(raised.value)


def test_context_assignments_are_validated(modules: tuple[type[BaseModel], type[BaseModel]]) -> None:
    _, context_class = modules
    context: Any = context_class()
    with pytest.raises(ValidationError):
        context.form.components.in_integer.value = "not a number"
    with pytest.raises(ValidationError):
        context.form.visibel = True  # a typo is an error, not a silently ignored attribute
    context.rows.data = [{"id": 1, "when": dt.datetime(2026, 1, 1)}]
    assert context.rows.data == [{"id": 1, "when": "2026-01-01T00:00:00"}]
    assert isinstance(context, appyard.ContextBase)


def test_output_is_deterministic_and_marked_generated(tmp_path: Path) -> None:
    first = codegen.generate(page())
    codegen.clear_cache()
    second = codegen.generate(page())
    assert first == second
    for source in (first.state, first.context):
        assert source.startswith("# generated by appyard from properties.json — do not edit.")
        assert f"# source: {first.digest}" in source
    folder = tmp_path / "page"
    assert len(codegen.write(folder, first)) == 2
    assert codegen.write(folder, second) == []  # nothing changed, nothing written


def test_labels_and_layout_do_not_change_generated_code() -> None:
    relabelled: dict[str, Any] = {
        "blocks": [{**PAGE["blocks"][0], "label": "A new title", "layout": {"x": 0, "w": 6}}, PAGE["blocks"][1]]
    }
    assert codegen.generate(page(relabelled)) == codegen.generate(page())


def test_a_new_component_changes_the_models() -> None:
    grown: dict[str, Any] = {"blocks": [dict(PAGE["blocks"][0]), PAGE["blocks"][1]]}
    grown["blocks"][0]["components"] = [*PAGE["blocks"][0]["components"], {"component_type": "input", "name": "extra"}]
    before, after = codegen.generate(page()), codegen.generate(page(grown))
    assert before.digest != after.digest
    assert "extra: str | None = None" in after.state
    assert "extra: TextInputContext = {}" in after.context


def test_class_names_that_clash_still_import(tmp_path: Path) -> None:
    clashing = {
        "blocks": [
            {"block_type": "widget", "name": "text", "components": [{"component_type": "text", "name": "text"}]},
            {"block_type": "widget", "name": "text_input", "components": [{"component_type": "input", "name": "date"}]},
            {"block_type": "widget", "name": "state", "components": [{"component_type": "input", "name": "time"}]},
            {"block_type": "table", "name": "context", "columns": [{"name": "date", "data_type": "date"}]},
        ]
    }
    state, context = import_models(tmp_path, codegen.generate(page(clashing)), "clash")
    value: Any = state.State.model_validate(
        {"text_input": {"date": "x"}, "context": {"date": "2026-01-01"}, "state": {"time": "t"}}
    )
    assert value.context.date == dt.date(2026, 1, 1)
    assert value.text_input.date == "x"
    assert context.Context().text.components.text.text is None


def test_a_failed_rename_leaves_the_old_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "page"
    old = codegen.generate(page())
    codegen.write(folder, old)
    grown: dict[str, Any] = {"blocks": [PAGE["blocks"][1]]}
    new = codegen.generate(page(grown))
    real_replace = os.replace
    calls = {"count": 0}

    def failing_replace(source: Any, target: Any) -> None:
        calls["count"] += 1
        if calls["count"] == 2:
            raise OSError("disk full")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        codegen.write(folder, new)
    monkeypatch.setattr(os, "replace", real_replace)
    assert (folder / "state.py").read_text() == old.state
    assert (folder / "context.py").read_text() == old.context
    assert sorted(path.name for path in folder.iterdir()) == ["context.py", "state.py"], "temporary files left"


def test_a_generation_failure_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "page"
    folder.mkdir()

    def broken(schema_json: str) -> str:
        raise GenerationFailed("the generator broke")

    codegen.clear_cache()
    monkeypatch.setattr(codegen, "_datamodel_codegen", broken)
    with pytest.raises(GenerationFailed):
        codegen.write(folder, codegen.generate(page()))
    assert list(folder.iterdir()) == []


SQL_PAGE: dict[str, Any] = {
    "blocks": [
        {
            "block_type": "table",
            "name": "items",
            "fetcher": "f",
            "columns": [{"name": "id"}, {"name": "price"}, {"name": "label", "data_type": "text"}, {"name": "note"}],
        }
    ]
}


def facts(price: str = "float") -> PageDatabase:
    return PageDatabase.model_validate(
        {
            "tables": {
                "items": {
                    "source": "shop",
                    "base_table": "items",
                    "primary_key": ["id"],
                    "columns": {
                        "id": {"data_type": "integer", "db_type": "INTEGER", "primary_key": True, "base_column": "id"},
                        "price": {"data_type": price, "db_type": "NUMERIC", "base_column": "price"},
                        "label": {"data_type": "text", "db_type": "TEXT", "base_column": "label"},
                    },
                }
            }
        }
    )


def test_table_state_derives_from_table_state_base(modules: tuple[type[BaseModel], type[BaseModel]]) -> None:
    state_class, _ = modules
    state: Any = state_class.model_validate(
        {"rows": {"id": 3, "edited_cell": {"column": "ok", "old": False, "new": True}}}
    )
    assert isinstance(state.rows, appyard.TableStateBase)
    assert state.rows.edited_cell == appyard.EditedCell(column="ok", old=False, new=True)
    assert not isinstance(state.form, appyard.TableStateBase)


def test_a_column_without_a_data_type_takes_the_database_type(tmp_path: Path) -> None:
    properties = page(SQL_PAGE)
    state, _ = import_models(tmp_path, codegen.generate(properties, facts()), "typed")
    row: Any = state.State.model_validate({"items": {"id": "7", "price": "2.5", "label": "x", "note": "n"}})
    assert (row.items.id, row.items.price, row.items.label, row.items.note) == (7, 2.5, "x", "n")
    with pytest.raises(ValidationError):
        state.State.model_validate({"items": {"id": "seven"}})

    untyped, _ = import_models(tmp_path, codegen.generate(properties), "untyped")
    assert untyped.State.model_validate({"items": {"id": "7"}}).items.id == "7"  # no facts: text


def test_database_facts_change_the_digest_and_only_then(tmp_path: Path) -> None:
    properties = page(SQL_PAGE)
    assert codegen.generate(properties, facts()) == codegen.generate(properties, facts())
    assert codegen.source_digest(properties, facts()) != codegen.source_digest(properties)
    assert codegen.source_digest(properties, facts("integer")) != codegen.source_digest(properties, facts())
    relabelled = facts()
    relabelled.tables["items"].columns["price"].db_type = "NUMERIC(12, 2)"  # same data type: same code
    assert codegen.generate(properties, relabelled) == codegen.generate(properties, facts())
    assert generated.source(properties, facts()) is generated.source(properties, facts())
    assert generated.source(properties, facts()) is not generated.source(properties)


def test_edited_cell_is_a_reserved_column_name() -> None:
    data = {"blocks": [{"block_type": "table", "name": "t", "columns": [{"name": "edited_cell"}]}]}
    with pytest.raises(PropertiesInvalid) as raised:
        page(data)
    assert "'edited_cell' is reserved by the table's State" in str(raised.value)

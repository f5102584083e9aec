"""Committed state.py/context.py never run outside the sandbox (DESIGN §7).

Each test commits a ``context.py`` that keeps its valid header (so a header check passes) but runs extra code
at import: it writes a marker file. The API's store (local and read-only, as in cluster mode), the runner's
parent and the operator's sync must refuse or ignore it, and the marker must never appear.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from appyard import codegen, execution, generated, workspace
from appyard.errors import ModelsStale, PropertiesInvalid
from appyard_api.adapters.store import FileStore
from appyard_operator import sync
from appyard_runner.appcode import AppCode

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _tamper(page_dir: Path, marker: Path) -> str:
    """Append code to the page's committed context.py; returns the original text."""
    context = page_dir / codegen.CONTEXT_FILE
    original = context.read_text(encoding="utf-8")
    context.write_text(original + f"\nopen({str(marker)!r}, 'w').write('imported')\n", encoding="utf-8")
    return original


def test_the_generated_text_is_what_is_committed(lab: Path) -> None:
    page = workspace.load(lab).page("lab", "main")
    assert generated.differences(page.dir, generated.source(page.properties)) == []
    models = generated.page_models(page.properties)
    assert models.state.__module__.startswith("_appyard_generated_")
    assert generated.page_models(page.properties) is models  # one generation per digest


def test_local_store_regenerates_a_tampered_file_and_never_imports_it(lab: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    original = _tamper(lab / "lab" / "main", marker)
    store = FileStore(lab)
    models = store.models(store.page("lab", "main"))
    assert "form" in models.state.model_fields
    assert not marker.exists()
    assert (lab / "lab" / "main" / codegen.CONTEXT_FILE).read_text(encoding="utf-8") == original


def test_read_only_store_refuses_a_tampered_file(lab: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    _tamper(lab / "lab" / "main", marker)
    store = FileStore(lab, read_only="in a cluster, apps change by git push")
    with pytest.raises(PropertiesInvalid) as refused:
        store.models(store.page("lab", "main"))
    assert [(issue.file, issue.message) for issue in refused.value.issues] == [
        ("lab-workspace/lab/main/context.py", generated.DIFFERS)
    ]
    assert any(issue.file.endswith("context.py") for issue in store.issues())
    assert not marker.exists()


def test_runner_parent_does_not_load_a_tampered_page(lab: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    _tamper(lab / "lab" / "main", marker)
    parent = AppCode(lab, "lab", functions=False)
    parent.load()
    assert "main" not in parent.pages
    assert "context.py: differs from what `appyard gen` writes" in parent.problems["main"]
    assert not marker.exists()


def test_runner_parent_imports_nothing_of_the_app(lab: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    (lab / "lab" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n", encoding="utf-8")
    parent = AppCode(lab, "lab", functions=False)
    parent.load()
    assert "main" in parent.pages
    assert not marker.exists()


def test_scripts_get_the_generated_classes(lab: Path) -> None:
    page = workspace.load(lab).page("lab", "main")
    loaded = execution.load(page, lab)
    outcome = execution.execute(loaded, "echo", {"form": {"text": "hi"}}, lab)
    assert outcome.changes["form"]["message"] == "hi"
    assert loaded.context is generated.page_models(page.properties).context


def test_execution_refuses_a_tampered_file_even_with_functions(lab: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    _tamper(lab / "lab" / "main", marker)
    with pytest.raises(ModelsStale, match=r"context\.py: differs"):
        execution.load(workspace.load(lab).page("lab", "main"), lab)
    assert not marker.exists()


def test_operator_refuses_an_app_with_a_tampered_file(workspace_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    _tamper(workspace_copy / "ops" / "hashing", marker)
    result = sync.workspace_apps(workspace_copy, "apps", "0123456789abcdef")
    assert [app.name for app in result.apps] == ["orders", "inventory"]
    assert result.invalid["ops"] == f"hashing/context.py: {generated.DIFFERS}"
    assert not marker.exists()

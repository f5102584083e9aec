"""Running a page function in this process: import the page, validate state, call, validate and diff context.

This is the core of every run. ``appyard run`` calls it directly; the runner (``appyard_runner``) imports
pages once in a warm parent with :func:`load` and calls :func:`execute` in a fresh child per run.

Scripts live in ``<workspace>/<app>/<page>/scripts/`` and import their page's models relatively::

    from ..state import State
    from ..context import Context

so the workspace folder is put on ``sys.path`` and pages are imported as ``<app>.<page>`` packages.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import BaseModel, ValidationError

from . import diff, generated
from .errors import ContextInvalid, FunctionFailed, Issue, ModelsStale, NotFound, StateInvalid
from .validation import format_path
from .workspace import Page

PageFunction = Callable[[Any, Any], Any]


@dataclass
class LoadedPage:
    """A page imported for running: its State and Context classes and its functions."""

    page: Page
    state: type[BaseModel]
    context: type[BaseModel]
    functions: dict[str, PageFunction]
    blank_context: dict[str, Any]
    """The context every run starts from, as JSON (every field unset, i.e. None)."""


@dataclass
class Outcome:
    """What a function produced: the full context and only what it changed (both as JSON)."""

    context: dict[str, Any]
    changes: dict[str, Any]


def ensure_importable(root: Path) -> None:
    """Put the workspace folder first on sys.path so pages import as ``<app>.<page>`` packages."""
    entry = str(root.resolve())
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)


def unload(app: str) -> None:
    """Forget every imported module of an app, so the next :func:`load` reads its files again."""
    for name in [name for name in sys.modules if name == app or name.startswith(f"{app}.")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def _issues(error: ValidationError, file: str) -> list[Issue]:
    return [
        Issue(file, format_path(tuple(detail["loc"])), detail["msg"].removeprefix("Value error, "))
        for detail in error.errors(include_url=False)
    ]


def load(page: Page, root: Path, *, functions: bool = True) -> LoadedPage:
    """A page's generated models and (unless ``functions`` is false) every function of its scripts.

    The models are built from our generator's output for the page's properties (:mod:`.generated`); the
    committed ``state.py``/``context.py`` must be byte for byte that output and are never imported. With
    ``functions`` false nothing of the page's folder is imported at all (a runner's parent, DESIGN §7).
    """
    problems = generated.differences(page.dir, generated.source(page.properties, page.database))
    if problems:
        raise ModelsStale(f"{page.app}/{page.name}: " + "; ".join(f"{i.file}: {i.message}" for i in problems))
    models = generated.page_models(page.properties, page.database)
    loaded: dict[str, PageFunction] = {}
    package = f"{page.app}.{page.name}"
    if functions:
        ensure_importable(root)
        # Scripts import `..state` and `..context`: they get these very classes, and the files stay unread.
        sys.modules[f"{package}.state"] = models.state_module
        sys.modules[f"{package}.context"] = models.context_module
    for name, info in page.functions.items() if functions else ():
        if info.kind != "python":  # .sql functions run in the runner's parent, not from an import
            continue
        try:
            module = importlib.import_module(f"{package}.scripts.{info.module}")
        except Exception as error:
            raise FunctionFailed(
                f"importing scripts/{info.module}.py failed: {type(error).__name__}: {error}",
                user_traceback(error, root),
            ) from error
        loaded[name] = getattr(module, name)
    return LoadedPage(
        page=page,
        state=models.state,
        context=models.context,
        functions=loaded,
        blank_context=models.context().model_dump(mode="json"),
    )


def user_traceback(error: BaseException, root: Path) -> str:
    """The exception formatted with only the frames of the user's own files (under the workspace)."""
    prefix = str(root.resolve())
    tb: TracebackType | None = error.__traceback__
    frames = []
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith(prefix):
            frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    stack = traceback.StackSummary.extract(iter(frames), capture_locals=False)
    lines = ["Traceback (most recent call last):\n", *stack.format()]
    lines += traceback.format_exception_only(type(error), error)
    return "".join(lines)


def validate_state(loaded: LoadedPage, state: Mapping[str, Any]) -> BaseModel:
    """The page's State from JSON; raises StateInvalid naming every wrong field."""
    try:
        return loaded.state.model_validate(state)
    except ValidationError as error:
        raise StateInvalid(_issues(error, "state")) from None


def warm_up(loaded: LoadedPage) -> None:
    """Exercise what every run of the page does, without calling user code.

    A forked child that does this while idle takes its copy-on-write page faults before a request arrives
    instead of after (measured: a run's own time in a fresh child drops from ~1.6 ms to well under 1 ms).
    """
    loaded.state.model_validate({})
    context = loaded.context()
    final = loaded.context.model_validate(context.model_dump()).model_dump(mode="json")
    diff.select(final, diff.assigned(context))


def execute(loaded: LoadedPage, function: str, state: Mapping[str, Any], root: Path) -> Outcome:
    """Run one function of a loaded page with a state; the result is validated and diffed."""
    if function not in loaded.functions:
        known = ", ".join(sorted(loaded.functions)) or "none"
        raise NotFound(f"page {loaded.page.app}/{loaded.page.name} has no function {function!r} (functions: {known})")
    state_model = validate_state(loaded, state)
    context = loaded.context()  # nothing assigned yet: what the function assigns is what changed
    try:
        returned = loaded.functions[function](state_model, context)
    except Exception as error:
        raise FunctionFailed(f"{type(error).__name__}: {error}", user_traceback(error, root)) from error
    if returned is None:
        returned = context
    if not isinstance(returned, (BaseModel, Mapping)):
        raise ContextInvalid(function, [Issue("context", "$", f"expected the context, got {type(returned).__name__}")])
    shape = diff.assigned(returned) if isinstance(returned, BaseModel) else dict(returned)
    try:
        # Re-validate: list items appended in place (table rows, options) bypass assignment validation.
        payload = (
            returned.model_dump() if isinstance(returned, BaseModel) else diff.merge(loaded.blank_context, returned)
        )
        final = loaded.context.model_validate(payload).model_dump(mode="json")
    except ValidationError as error:
        raise ContextInvalid(function, _issues(error, "context")) from None
    return Outcome(context=final, changes=diff.select(final, shape))

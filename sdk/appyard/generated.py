"""The State and Context classes a trusted process uses: built from our generator's output, never from files.

A page's ``state.py`` and ``context.py`` are committed to git, so in a cluster anyone who can push writes
them. The API and a runner's parent must not import them (DESIGN §7: code from git runs only in runner
children). They generate the page's two modules from its properties with :mod:`.codegen` and execute *that*
text; a committed file is only compared with it, byte for byte, and a difference is a problem to report (or,
in local mode, a file to regenerate).

Both the generated text and the classes are cached by the schemas' digest (:func:`codegen.source_digest`),
so a page costs one generation per process, and a page whose properties change only in labels or layout
costs none.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from pydantic import BaseModel

from . import codegen
from .database import PageDatabase
from .errors import GenerationFailed, Issue, shown
from .properties import PageProperties

DIFFERS = "differs from what `appyard gen` writes; run `appyard gen` and commit the result"
MISSING = "not generated yet; run `appyard gen` and commit the result"
_CACHED = 1024  # distinct pages' models kept per process
T = TypeVar("T")

_lock = threading.Lock()
_sources: OrderedDict[str, codegen.GeneratedModels] = OrderedDict()
_models: OrderedDict[str, PageModels] = OrderedDict()


@dataclass(frozen=True)
class PageModels:
    """A page's State and Context classes and the modules (executed from generated text) defining them."""

    state: type[BaseModel]
    context: type[BaseModel]
    state_module: ModuleType
    context_module: ModuleType


def _remember(cache: OrderedDict[str, T], key: str, value: T) -> T:
    cache[key] = value
    while len(cache) > _CACHED:
        cache.popitem(last=False)
    return value


def source(properties: PageProperties, database: PageDatabase | None = None) -> codegen.GeneratedModels:
    """What ``appyard gen`` writes for a page with these properties and database.json (once per digest)."""
    digest = codegen.source_digest(properties, database)
    with _lock:
        cached = _sources.get(digest)
    if cached is not None:
        return cached
    generated = codegen.generate(properties, database)
    with _lock:
        return _remember(_sources, digest, generated)


def differences(page_dir: Path, generated: codegen.GeneratedModels, show: Callable[[Path], str] = shown) -> list[Issue]:
    """The page's committed generated files that are missing or not byte for byte ``generated``."""
    issues = []
    for path, content in codegen.outputs(page_dir, generated).items():
        try:
            committed = path.read_bytes()
        except FileNotFoundError:
            issues.append(Issue(show(path), "$", MISSING))
            continue
        if committed != content.encode():
            issues.append(Issue(show(path), "$", DIFFERS))
    return issues


def _execute(name: str, text: str) -> ModuleType:
    module = ModuleType(name)
    module.__file__ = f"<generated {name}>"
    sys.modules[name] = module  # pydantic resolves the classes' annotations through sys.modules
    exec(compile(text, module.__file__, "exec"), module.__dict__)
    return module


def models(generated: codegen.GeneratedModels) -> PageModels:
    """The classes defined by ``generated`` (executed once per digest)."""
    with _lock:
        cached = _models.get(generated.digest)
        if cached is not None:
            return cached
        prefix = f"_appyard_generated_{generated.digest.removeprefix('sha256:')}"
        state = _execute(f"{prefix}_state", generated.state)
        context = _execute(f"{prefix}_context", generated.context)
        try:
            found = PageModels(state.State, context.Context, state, context)
        except AttributeError as error:
            raise GenerationFailed(f"generated models lack a class: {error}") from error
        _models[generated.digest] = found
        while len(_models) > _CACHED:  # forget the oldest page's modules too (a long `appyard dev` session)
            _, old = _models.popitem(last=False)
            for module in (old.state_module, old.context_module):
                sys.modules.pop(module.__name__, None)
        return found


def page_models(properties: PageProperties, database: PageDatabase | None = None) -> PageModels:
    """The classes of a page with these properties and database.json, whatever its committed files say."""
    return models(source(properties, database))

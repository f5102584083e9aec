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

import json
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
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


def generate_apart(pages: Iterable[tuple[PageProperties, PageDatabase | None]]) -> None:
    """Generate these pages' models in a forked child and remember them, so this process never imports the generator.

    For a runner's zygote, which forks every run from its memory: datamodel-code-generator's modules and what
    generating leaves behind (~18 MB for the lab app) would make each fork and each child's page faults dearer.
    A page the child could not generate is not remembered; :func:`source` then generates it here, as before,
    raising the same error.
    """
    wanted: dict[str, tuple[PageProperties, PageDatabase | None]] = {}
    for properties, database in pages:
        digest = codegen.source_digest(properties, database)
        with _lock:
            if digest not in _sources:
                wanted[digest] = (properties, database)
    if not wanted:
        return
    read, write = os.pipe()
    try:
        pid = os.fork()
    except OSError:  # no process to spare (a pids limit): source() generates here, as before
        os.close(read)
        os.close(write)
        return
    if pid == 0:  # the child: generate, write the sources as JSON, exit (never return into the caller)
        status = 1
        try:
            os.close(read)
            found = []
            for properties, database in wanted.values():
                try:
                    found.append(codegen.generate(properties, database).__dict__)
                except Exception:  # reported when the parent generates this page itself
                    continue
            view = memoryview(json.dumps(found).encode())
            while view:
                view = view[os.write(write, view) :]
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with open(read, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0:
        return
    for item in json.loads(data):
        models = codegen.GeneratedModels(item["state"], item["context"], item["digest"])
        if models.digest in wanted:
            with _lock:
                _remember(_sources, models.digest, models)


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

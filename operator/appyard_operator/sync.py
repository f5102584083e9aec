"""From a checkout of a workspace to the Apps it should have (pure: files in, the desired Apps out).

Every app is validated with the SDK, exactly as ``appyard validate`` would. A valid app becomes an App spec
and a *code bundle* (:mod:`appyard.bundles`) — a deterministic tar.gz of the app's folder that the operator
stores in a ConfigMap and runner pods unpack. Delivering code this way (rather than letting runner pods clone
the repository) keeps git credentials and git's network access away from the sandboxed runners, and makes a
code-only commit a new ConfigMap and a rollout, never an image build. Because the bundle is deterministic, a
commit that does not touch an app changes nothing for it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appyard import bundles, database, generated
from appyard.errors import Issue
from appyard.resources import AppSpec, PageSource, kubernetes_name
from appyard.workspace import PROPERTIES, scan

MAX_BUNDLE_BYTES = 900 * 1024  # a ConfigMap holds at most 1 MiB
MAX_SPEC_BYTES = 512 * 1024  # an App's spec (its pages' properties), well below etcd's 1.5 MiB per object
REQUIREMENTS = "requirements.txt"


@dataclass(frozen=True)
class DesiredApp:
    """One app as it should be: its App spec and its code."""

    name: str
    spec: AppSpec
    bundle: bytes


@dataclass
class WorkspaceApps:
    """The apps of a workspace at one revision."""

    revision: str
    apps: list[DesiredApp] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class OutsideCheckout(Exception):
    """The Workspace's path, or a symlink under it, leads out of the checkout (permanent until the spec or the
    repository changes): nothing is read, and the Apps of the last good revision keep serving."""


def workspace_folder(checkout: Path, path: str) -> Path:
    """The workspace's folder in ``checkout``, after checking that neither ``path`` nor any symlink under it
    leads out of the checkout (to another Workspace's checkout, or the operator's own files)."""
    boundary = checkout.resolve()
    folder = _resolved(checkout / path, f"spec.git.path {path!r}")
    if not folder.is_relative_to(boundary):
        raise OutsideCheckout(f"spec.git.path {path!r} leads out of the repository: use a folder inside it")
    for parent, dirs, files in os.walk(folder):
        dirs[:] = [name for name in dirs if name != ".git"]
        for name in [*dirs, *files]:
            entry = Path(parent) / name
            shown = entry.relative_to(folder)
            if entry.is_symlink() and not _resolved(entry, str(shown)).is_relative_to(boundary):
                raise OutsideCheckout(f"{shown} is a symlink that leads out of the repository: remove it")
    return folder


def _resolved(path: Path, what: str) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as error:  # a symlink loop
        raise OutsideCheckout(f"{what} cannot be resolved ({error}): remove the symlink loop") from None


def _under(issue: Issue, folder: Path) -> bool:
    try:
        Path(issue.file).resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _relative(folder: Path, path: Path) -> str:
    return str(path.relative_to(folder))


def workspace_apps(root: Path, workspace: str, revision: str, base: str = ".") -> WorkspaceApps:
    """The Apps a workspace folder at ``revision`` should have, and why the others are left as they are.

    ``base`` is the workspace's folder inside the repository (for the apps' ``path``).
    """
    result = WorkspaceApps(revision=revision)
    scanned, issues = scan(root)
    if scanned is None:
        result.problems = [str(issue) for issue in issues]
        return result
    for entry in scanned.properties.apps:
        app_dir = root / entry.name
        app_issues = [str(issue) for issue in issues if _under(issue, app_dir)]
        app = scanned.apps.get(entry.name)
        if app is None or app_issues:
            result.invalid[entry.name] = "\n".join(app_issues) or "the app could not be read"
            continue
        # Runners' parents and the API build the models from properties and never import these files; a file
        # that differs would still be what editors and the scripts' authors read, and could hide code.
        stale = [
            f"{issue.file}: {issue.message}"
            for page in app.pages.values()
            for issue in generated.differences(
                page.dir, generated.source(page.properties, page.database), functools.partial(_relative, app_dir)
            )
        ]
        code = bundles.pack(app_dir)
        if len(code) > MAX_BUNDLE_BYTES:
            stale.append(
                f"the app's files are {len(code) // 1024} KiB compressed; the limit is {MAX_BUNDLE_BYTES // 1024} KiB"
            )
        if stale:
            result.invalid[entry.name] = "\n".join(stale)
            continue
        code_hash = hashlib.sha256(code).hexdigest()
        requirements = app_dir / REQUIREMENTS
        pages = [
            PageSource(
                name=page_entry.name,
                label=page_entry.label or app.pages[page_entry.name].properties.label,
                properties=json.loads((app_dir / page_entry.name / PROPERTIES).read_text(encoding="utf-8")),
                functions=sorted(app.pages[page_entry.name].functions),
                database=_facts(app.pages[page_entry.name].database),
            )
            for page_entry in app.properties.pages
        ]
        declared = scanned.properties.data_sources
        spec = AppSpec(
            workspace=workspace,
            app=entry.name,
            revision=revision,
            path=str(Path(base) / entry.name),
            label=entry.label or app.properties.label,
            description=app.properties.description,
            pages=pages,
            code=f"appyard-code-{kubernetes_name(entry.name)}-{code_hash[:12]}",
            code_hash=code_hash,
            requirements_hash=hashlib.sha256(requirements.read_bytes()).hexdigest() if requirements.is_file() else None,
            runner=app.properties.runner,
            # Validation refused a name the workspace does not declare: every one is there.
            data_sources={name: declared[name] for name in app.properties.data_sources if name in declared},
            access=app.properties.access,
        )
        size = len(spec.model_dump_json(by_alias=True, exclude_none=True))
        if size > MAX_SPEC_BYTES:
            result.invalid[entry.name] = (
                f"the app's pages are {size // 1024} KiB of properties; an App holds at most "
                f"{MAX_SPEC_BYTES // 1024} KiB: split the app"
            )
            continue
        result.apps.append(DesiredApp(entry.name, spec, code))
    return result


def _facts(facts: database.PageDatabase | None) -> dict[str, Any] | None:
    """A page's database.json for its App (None: the page has no SQL tables)."""
    return None if facts is None else facts.model_dump(mode="json")

"""Where the API reads apps and pages from, and how it saves properties and scripts (local mode: files).

The store keeps the last scan of the workspace and rescans when files change: a watcher
(:class:`appyard.watching.Watcher`) counts the changes, so the request and run paths compare one number and
never walk the folder. Pages' State/Context classes are built from our generator's output for their
properties, never imported from the page's files, which anyone who can push to the workspace's repository
writes (DESIGN §7); see :mod:`appyard.generated`. A committed
``state.py``/``context.py`` that differs from that output is regenerated in local mode and refused (a problem
of the page) in a read-only store.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

from appyard import atomic, codegen, database, datadir, generated, scaffold
from appyard.errors import AppyardError, BadName, Issue, NotFound, PropertiesInvalid
from appyard.generated import PageModels
from appyard.properties import Access, dumps
from appyard.scripts import SCRIPTS_DIR, functions_in
from appyard.sql.requests import sql_tables
from appyard.sqlchecks import check_sql_functions
from appyard.validation import state_targets, validate_page
from appyard.watching import Watcher
from appyard.workspace import App, Page, Workspace, scan

from ..errors import ReadOnly

log = logging.getLogger("appyard.api.store")


Fingerprint = tuple[tuple[str, int, int], ...]


# The files that affect what the store serves (anything else changing needs no rescan).
_SERVED = (".json", ".py", ".sql")


def _fingerprint(root: Path) -> Fingerprint:
    """Names, sizes and modification times of every file that affects what the store serves.

    Taken only when the store rescans (see :meth:`FileStore._refresh`): page versions are made from it, with
    the scan, so a version always names the properties served with it.
    """
    entries: list[tuple[str, int, int]] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        for name in sorted(files):
            if name.endswith(_SERVED):
                stat = os.stat(os.path.join(folder, name))
                entries.append((os.path.join(folder, name), stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


def _versions(root: Path, found: Workspace | None, fingerprint: Fingerprint) -> dict[int, tuple[Page, str]]:
    """Each page of a scan with a short hash of its folder's entries in the fingerprint taken for that scan."""
    digests: dict[str, Any] = {}
    for entry in fingerprint:  # one pass: an entry root/app/page/... belongs to that page's folder
        parts = os.path.relpath(entry[0], root).split(os.sep)
        if len(parts) >= 3:
            folder = os.path.join(root, parts[0], parts[1])
            digests.setdefault(folder, hashlib.sha256()).update(repr(entry).encode())
    versions: dict[int, tuple[Page, str]] = {}
    for page in found.pages() if found is not None else ():
        digest = digests.get(str(page.dir))
        versions[id(page)] = (page, digest.hexdigest()[:16] if digest is not None else "empty")
    return versions


class FileStore:
    """Apps and pages from a workspace folder."""

    def __init__(self, root: Path, watch: bool = True, read_only: str | None = None) -> None:
        self.root = root.resolve()
        self.read_only = read_only  # why writes are refused, when they are
        # Local mode: the folder is edited outside the API too (an editor, git pull), so a watcher says when to
        # rescan; it runs between start() and stop(). Without one the store rescans only after its own writes.
        self._watcher = Watcher(self.root, _SERVED, name="appyard-api watch") if watch else None
        self._generation = 0  # the watcher's generation the served scan was made after
        self._lock = threading.Lock()
        self._fingerprint: Fingerprint = ()
        self._workspace: Workspace | None = None
        self._issues: list[Issue] = []
        self._by_page: dict[int, tuple[Page, PageModels]] = {}
        self._versions: dict[int, tuple[Page, str]] = {}

    async def start(self) -> None:
        """Called when the API starts: watch the folder, then rescan (a change made before watching counts)."""
        if self._watcher is not None:
            self._watcher.start()
        self._refresh(force=True)

    async def stop(self) -> None:
        """Called when the API stops."""
        if self._watcher is not None:
            self._watcher.stop()

    def _refresh(self, force: bool = False) -> None:
        # The hot path: one integer compared unless the watcher saw a change since the served scan.
        generation = self._watcher.generation if self._watcher is not None else 0
        if not force and generation == self._generation and self._workspace is not None:
            return
        with self._lock:
            # Read before scanning: a change made during the scan bumps the generation again, so it is rescanned.
            generation = self._watcher.generation if self._watcher is not None else 0
            if not force and generation == self._generation and self._workspace is not None:
                return  # another thread rescanned meanwhile
            self._generation = generation
            fingerprint = _fingerprint(self.root)
            if force or fingerprint != self._fingerprint or self._workspace is None:
                self._workspace, self._issues = scan(self.root)
                self._fingerprint = fingerprint
                self._versions = _versions(self.root, self._workspace, fingerprint)

    def workspace(self) -> Workspace:
        """The valid part of the workspace (problems are in :meth:`issues`)."""
        self._refresh()
        if self._workspace is None:
            raise PropertiesInvalid(self._issues)
        return self._workspace

    def issues(self) -> list[Issue]:
        self._refresh()
        return list(self._issues)

    def app(self, name: str) -> App:
        app = self.workspace().apps.get(name)
        if app is None:
            known = ", ".join(self.workspace().apps) or "none"
            problems = [issue for issue in self._issues if f"/{name}/" in f"/{issue.file}"]
            if problems:
                raise PropertiesInvalid(problems)
            raise NotFound(f"no app {name!r} (apps: {known})")
        return app

    def page(self, app: str, page: str) -> Page:
        found = self.app(app).pages.get(page)
        if found is None:
            problems = [issue for issue in self._issues if f"/{app}/{page}/" in f"/{issue.file}"]
            if problems:
                raise PropertiesInvalid(problems)
            known = ", ".join(self.app(app).pages) or "none"
            raise NotFound(f"app {app!r} has no page {page!r} (pages: {known})")
        return found

    # -- generated models -------------------------------------------------------------------------------

    def models(self, page: Page) -> PageModels:
        """The page's State and Context classes (imported once per generated version)."""
        known = self._by_page.get(id(page))
        if known is not None and known[0] is page:  # the same scan's page: nothing can have changed
            return known[1]
        models = self._load_models(page)
        self._by_page = {key: value for key, value in self._by_page.items() if value[0] in self._pages()}
        self._by_page[id(page)] = (page, models)
        return models

    def _pages(self) -> list[Page]:
        return list(self._workspace.pages()) if self._workspace is not None else []

    def _load_models(self, page: Page) -> PageModels:
        source = generated.source(page.properties, page.database)
        problems = generated.differences(page.dir, source, self._shown)
        if problems and self.read_only is not None:
            with self._lock:
                self._issues += [issue for issue in problems if issue not in self._issues]
            raise PropertiesInvalid(problems)
        if problems:
            # Local mode: edited outside the Studio or `appyard gen` not run; the files are ours to rewrite.
            codegen.write(page.dir, source)
        return generated.models(source)

    def warm_models(self) -> None:
        """Generate every page's models ahead of the first request (off the event loop; ~50–400 ms a page)."""
        try:
            pages = list(self.workspace().pages())
        except PropertiesInvalid:  # the workspace's own properties.json is broken: nothing to warm
            return
        for page in pages:
            try:
                generated.page_models(page.properties, page.database)
            except AppyardError as error:  # the page's own request reports it
                log.warning("models of %s/%s: %s", page.app, page.name, error)

    def _shown(self, path: Path) -> str:
        return os.path.relpath(path, self.root.parent)

    # -- saving -----------------------------------------------------------------------------------------

    def _writable(self) -> None:
        if self.read_only is not None:
            raise ReadOnly(self.read_only)

    def save_properties(self, app: str, page: str, data: Any) -> Page:
        """Validate page properties, then write properties.json and both models in one atomic step."""
        self._writable()
        current = self.page(app, page)
        file = os.path.relpath(current.properties_file, self.root.parent)
        properties = validate_page(data, file=file, functions=current.functions, database=current.database)
        # The page's .sql functions must still bind: a renamed component can orphan a parameter or a reload.
        tables = [block.name for block in properties.blocks if block.block_type == "table"]
        targets = state_targets(properties, current.database)
        problems = check_sql_functions(current.dir, current.functions, targets, tables, None)
        if problems:
            raise PropertiesInvalid(problems)
        models = codegen.generate(properties, current.database)
        atomic.write_all({current.properties_file: dumps(properties), **codegen.outputs(current.dir, models)})
        self._refresh(force=True)
        return self.page(app, page)

    def script_path(self, app: str, page: str, name: str) -> Path:
        """``scripts/<name>.py`` (``name`` with or without ``.py``), or ``scripts/<name>.sql`` for ``name.sql``."""
        suffix = ".sql" if name.endswith(".sql") else ".py"
        stem = name.removesuffix(suffix)
        if not (stem.isidentifier() and stem.isascii()):
            raise BadName(f"{name!r} is not a script name: use letters, digits and underscores")
        return self.page(app, page).dir / SCRIPTS_DIR / f"{stem}{suffix}"

    def read_script(self, app: str, page: str, name: str) -> str:
        path = self.script_path(app, page, name)
        if not path.is_file():
            scripts = sorted(p.stem for p in path.parent.glob("*.py")) + sorted(
                p.name for p in path.parent.glob("*.sql")
            )
            raise NotFound(f"page {app}/{page} has no script {name!r} (scripts: {', '.join(scripts) or 'none'})")
        return path.read_text(encoding="utf-8")

    def write_script(self, app: str, page: str, name: str, source: str) -> Page:
        """Save a script after checking it parses; the page's functions are found again."""
        self._writable()
        path = self.script_path(app, page, name)
        shown = os.path.relpath(path, self.root.parent)
        if path.suffix == ".sql":
            from appyard.sql.text import parse_sql

            parse_sql(source, path.stem, shown)  # SqlSyntaxError (a 422 naming the line) when it does not parse
        else:
            try:
                ast.parse(source, filename=path.name)
            except SyntaxError as error:
                raise PropertiesInvalid([Issue(shown, f"line {error.lineno}", f"syntax error: {error.msg}")]) from None
            functions_in(source, path.stem)
        atomic.write_all({path: source})
        self._refresh(force=True)
        return self.page(app, page)

    async def learn_database(self, app: str, page: str) -> Page:
        """Local mode: learn the page's SQL tables from the database again and write its database.json.

        Runs off the event loop (it connects to the databases). A source that cannot be reached (not set up
        yet, down) keeps the database.json there is, with a warning in the log: the page still saves.
        """
        found = self.page(app, page)
        if self.read_only is not None or not (sql_tables(found) or (found.dir / database.DATABASE_FILE).exists()):
            return found
        learned = await asyncio.to_thread(self._learn, found)
        if learned is None:
            return found
        path = found.dir / database.DATABASE_FILE
        text = database.dumps(learned)
        if not learned.tables and not path.exists():
            return found
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            atomic.write_all({path: text})
            self._refresh(force=True)
        return self.page(app, page)

    def _learn(self, page: Page) -> database.PageDatabase | None:
        from appyard.sql.facts import learn_page  # SQLAlchemy: only once a page has SQL tables
        from appyard.sql.sources import Sources

        try:
            declared = self.workspace().properties.data_sources
        except PropertiesInvalid:
            return None
        used = {name: declared[name] for name in self.app(page.app).properties.data_sources if name in declared}
        sources = Sources(
            used, app=page.app, environ=os.environ, data_dir=datadir.data_dir(page.app), workspace=self.root
        )
        try:
            return learn_page(page, sources)
        except Exception as error:  # unreachable, not configured, a query that fails: the save stands regardless
            log.warning("kept %s/%s's database.json: %s", page.app, page.name, error)
            return None
        finally:
            sources.close()

    def save_access(self, app: str, access: Access) -> App:
        """Replace the app's access in its properties.json (atomically; nothing else of the file changes)."""
        self._writable()
        found = self.app(app)
        properties = found.properties.model_copy(update={"access": access})
        atomic.write_all({found.dir / "properties.json": dumps(properties)})
        self._refresh(force=True)
        return self.app(app)

    def unavailable(self, app: str) -> str | None:  # noqa: ARG002 — local apps always have a runner
        """Why the app's runs cannot be served now, if they cannot (cluster mode: no runner serves it yet)."""
        return None

    def version(self, page: Page) -> str:
        """A short hash of the page folder's files as the scan that found ``page`` saw them.

        Versions are made with their scan, never read from the disk later: a version read from disk while the
        served scan is still the older one pairs a new version with old properties, and a client holding that
        version would then never take the new properties (the Studio's poll missed changes that way).
        """
        known = self._versions.get(id(page))
        if known is not None and known[0] is page:
            return known[1]
        return "superseded"  # a page of an older scan: any later answer differs from this one

    def create_app(self, name: str, label: str | None) -> None:
        """A new app with a starter page (see appyard.scaffold)."""
        self._writable()
        scaffold.new_app(self.root, name, label)
        self._refresh(force=True)

    def create_page(self, app: str, name: str, label: str | None) -> Page:
        """A new starter page in an app."""
        self._writable()
        self.app(app)
        scaffold.new_page(self.root, app, name, label)
        self._refresh(force=True)
        return self.page(app, name)

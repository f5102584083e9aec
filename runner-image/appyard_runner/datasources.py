"""The data sources one runner serves: which are declared, where their URLs are, and what runs may see.

The declarations (kind, options, which variable holds the URL; never a URL) come from the workspace's
``properties.json`` when the runner has it, else from ``APPYARD_RUNNER_DATA_SOURCES`` (JSON the operator
sets), and are filtered to the app's own ``data_sources``: an app reaches no other source. The URLs are in
the runner's environment as it started (``APPYARD_DB_<NAME>`` by default), read before
:func:`.environment.seal` takes the APPYARD_* variables away. Runs (children) get the declarations as
``APPYARD_DATA_SOURCES`` and each URL in its variable (:meth:`appyard.sql.sources.Sources.child_environment`),
so ``appyard.db("name")`` works in scripts; every URL and its password are redacted from what leaves the
runner, like ``runner.secrets``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import TypeAdapter, ValidationError

from appyard.errors import AppyardError
from appyard.properties import DataSource, DataSourceName, WorkspaceProperties
from appyard.workspace import PROPERTIES, read_properties

log = logging.getLogger("appyard.runner.sources")

_DECLARED = TypeAdapter(dict[DataSourceName, DataSource])


def declared(workspace: Path, configured: str | None) -> dict[str, DataSource]:
    """Every data source the workspace declares (the workspace's properties.json, else ``configured`` JSON)."""
    path = workspace / PROPERTIES
    if path.is_file():
        try:
            return dict(read_properties(path, WorkspaceProperties).data_sources)
        except AppyardError as error:
            log.error("the workspace's properties.json is invalid, so no data source is declared: %s", error)
            return {}
    if not configured:
        return {}
    try:
        return _DECLARED.validate_json(configured)
    except ValidationError as error:
        log.error(
            "APPYARD_RUNNER_DATA_SOURCES is not valid: %d problem(s); no data source is declared", error.error_count()
        )
        return {}


def for_app(everything: Mapping[str, DataSource], used: list[str]) -> dict[str, DataSource]:
    """The sources of ``everything`` the app lists in its ``data_sources`` (in its order)."""
    missing = [name for name in used if name not in everything]
    if missing:
        log.warning("the app uses data sources the workspace does not declare: %s", ", ".join(missing))
    return {name: everything[name] for name in used if name in everything}


def urls(sources: Mapping[str, DataSource], environ: Mapping[str, str]) -> dict[str, str]:
    """Each source's URL variable → its value, for the sources whose variable is set."""
    names = (source.env_name(name) for name, source in sources.items())
    return {name: environ[name] for name in names if environ.get(name)}


def secrets(sources: Mapping[str, DataSource], environ: Mapping[str, str]) -> dict[str, str]:
    """Values to redact: each URL whole, and its password on its own (an error may quote only that).

    A SQLite source's URL is a file's path, no secret: redacting it would only hide where the file is.
    """
    found: dict[str, str] = {}
    servers = {name: source for name, source in sources.items() if source.kind != "sqlite"}
    for name, url in urls(servers, environ).items():
        found[name] = url
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password:
            found[f"{name} password"] = password
    return found

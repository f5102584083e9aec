"""Apps, pages, their properties and scripts."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request

from appyard.audit import AuditEntry
from appyard.catalog import label_from_name
from appyard.properties import Access
from appyard.workspace import App, Page

from ..adapters.store import FileStore
from ..deps import AuditDep, CurrentUser, StoreDep
from ..errors import RequestInvalid, responses
from ..identity import allowed, authorize, require_admin
from ..params import AppName, PageName, ScriptName
from ..schemas import (
    AppCreate,
    AppPublic,
    AppSummary,
    FunctionPublic,
    PageCreate,
    PagePublic,
    PageSummary,
    ScriptPublic,
    ScriptUpdate,
)

router = APIRouter(prefix="/api/apps", tags=["apps"], responses=responses(401, 403, 404, 422, 500))


def _summary(app: App) -> AppSummary:
    return AppSummary(
        name=app.name,
        label=app.properties.label or label_from_name(app.name),
        description=app.properties.description,
        pages=[
            PageSummary(name=entry.name, label=entry.label or label_from_name(entry.name))
            for entry in app.properties.pages
            if entry.name in app.pages
        ],
    )


def _functions(page: Page) -> list[FunctionPublic]:
    return [
        FunctionPublic(name=info.name, script=info.module, line=info.line, doc=info.doc, kind=info.kind)
        for info in sorted(page.functions.values(), key=lambda info: (info.module, info.line))
    ]


def _of_script(page: Page, name: str) -> list[FunctionPublic]:
    """The functions a script file defines (``x``/``x.py``: Python; ``x.sql``: the one SQL function)."""
    kind = "sql" if name.endswith(".sql") else "python"
    stem = name.removesuffix(".sql").removesuffix(".py")
    return [item for item in _functions(page) if item.script == stem and item.kind == kind]


def _page(store: FileStore, page: Page) -> PagePublic:
    models = store.models(page)
    entry = next((entry for entry in store.app(page.app).properties.pages if entry.name == page.name), None)
    return PagePublic(
        app=page.app,
        name=page.name,
        version=store.version(page),
        label=(entry.label if entry else None) or page.properties.label or label_from_name(page.name),
        properties=page.properties.model_dump(mode="json", exclude_defaults=True),
        state_schema=models.state.model_json_schema(),
        context_schema=models.context.model_json_schema(),
        functions=_functions(page),
        scripts=sorted(path.stem for path in (page.dir / "scripts").glob("*.py"))
        + sorted(path.name for path in (page.dir / "scripts").glob("*.sql")),
        tables=page.database.tables if page.database is not None else {},
    )


@router.get("", response_model=list[AppSummary])
async def list_apps(identity: CurrentUser, store: StoreDep) -> list[AppSummary]:
    """The apps the caller may use, in workspace order."""
    return [
        _summary(app) for app in store.workspace().apps.values() if allowed(identity, "use", app.name, app.properties)
    ]


@router.post("", response_model=AppPublic, status_code=201, responses=responses(409, 413, 415))
async def create_app(create: AppCreate, identity: CurrentUser, store: StoreDep, audit: AuditDep) -> AppPublic:
    """A new app with a starter page; only workspace admins may create apps."""
    require_admin(identity, "create apps")
    store.create_app(create.name, create.label)
    await audit.record(AuditEntry(actor=identity.name, action="app_created", app=create.name))
    return await get_app(create.name, identity, store)


@router.post("/{app}/pages", response_model=PagePublic, status_code=201, responses=responses(409, 413, 415))
async def create_page(
    app: AppName, create: PageCreate, identity: CurrentUser, store: StoreDep, audit: AuditDep
) -> PagePublic:
    """A new starter page: a widget with an input and a button bound to a starter function."""
    authorize(identity, "edit", app, store.app(app).properties)
    created = store.create_page(app, create.name, create.label)
    await audit.record(AuditEntry(actor=identity.name, action="page_created", app=app, page=create.name))
    return _page(store, created)


@router.get("/{app}", response_model=AppPublic)
async def get_app(app: AppName, identity: CurrentUser, store: StoreDep) -> AppPublic:
    found = store.app(app)
    authorize(identity, "use", app, found.properties)
    return AppPublic(**_summary(found).model_dump(), properties=found.properties.model_dump(mode="json"))


@router.get("/{app}/pages/{page}", response_model=PagePublic)
async def get_page(app: AppName, page: PageName, identity: CurrentUser, store: StoreDep) -> PagePublic:
    """A page's properties, its State and Context JSON schemas, and its functions."""
    authorize(identity, "use", app, store.app(app).properties)
    return _page(store, store.page(app, page))


@router.put(
    "/{app}/pages/{page}/properties",
    response_model=PagePublic,
    responses=responses(413, 415),
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def put_properties(
    app: AppName, page: PageName, request: Request, identity: CurrentUser, store: StoreDep, audit: AuditDep
) -> PagePublic:
    """Validate, save and regenerate the page's models, all or nothing; 422 lists every problem."""
    authorize(identity, "edit", app, store.app(app).properties)
    try:
        data = json.loads(await request.body())  # BodyLimits caps what this reads (see ..limits)
    except ValueError as error:
        raise RequestInvalid(f"the body is not JSON: {error}") from None
    saved = store.save_properties(app, page, data)
    saved = await store.learn_database(app, page)  # a table may have a new SQL fetcher (local mode)
    await audit.record(AuditEntry(actor=identity.name, action="properties_saved", app=app, page=page))
    return _page(store, saved)


@router.put("/{app}/access", response_model=AppPublic, responses=responses(413, 415))
async def put_access(
    app: AppName, access: Access, identity: CurrentUser, store: StoreDep, audit: AuditDep
) -> AppPublic:
    """Replace who may use, edit and own the app (owners only; in cluster mode access changes by git push)."""
    authorize(identity, "own", app, store.app(app).properties)
    store.save_access(app, access)
    # Who now holds each role (principals are configuration, not user data); long lists are cut.
    granted = {role: ",".join(getattr(access, role))[:500] for role in ("use", "edit", "own")}
    await audit.record(AuditEntry(actor=identity.name, action="access_changed", app=app, details=granted))
    return await get_app(app, identity, store)


@router.get("/{app}/pages/{page}/scripts/{name}", response_model=ScriptPublic)
async def get_script(
    app: AppName, page: PageName, name: ScriptName, identity: CurrentUser, store: StoreDep
) -> ScriptPublic:
    authorize(identity, "edit", app, store.app(app).properties)
    source = store.read_script(app, page, name)
    return ScriptPublic(name=name.removesuffix(".py"), source=source, functions=_of_script(store.page(app, page), name))


@router.put("/{app}/pages/{page}/scripts/{name}", response_model=ScriptPublic, responses=responses(413, 415))
async def put_script(
    app: AppName,
    page: PageName,
    name: ScriptName,
    update: ScriptUpdate,
    identity: CurrentUser,
    store: StoreDep,
    audit: AuditDep,
) -> ScriptPublic:
    """Save a script (it must parse); returns the functions it now defines."""
    authorize(identity, "edit", app, store.app(app).properties)
    saved = store.write_script(app, page, name, update.source)
    if name.endswith(".sql"):  # a table's query may have changed: learn its columns again (local mode)
        saved = await store.learn_database(app, page)
    stem = name.removesuffix(".py")
    # The script's name and size, never its source.
    size = len(update.source.encode())
    entry = AuditEntry(
        actor=identity.name, action="script_saved", app=app, page=page, script=stem, details={"bytes": size}
    )
    await audit.record(entry)
    return ScriptPublic(name=stem, source=update.source, functions=_of_script(saved, name))

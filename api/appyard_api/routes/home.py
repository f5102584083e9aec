"""GET /: the web client when it is built, else a plain page listing the apps."""

from __future__ import annotations

import html

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from appyard.catalog import label_from_name

from ..deps import CurrentUser, StoreDep
from ..identity import allowed

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Appyard</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem}}
code{{background:#f3f3f3;padding:0 .25rem}}li{{margin:.25rem 0}}</style></head>
<body><h1>Appyard</h1><p>Apps in this workspace. Run a function with
<code>curl -X POST http://HOST/api/apps/APP/pages/PAGE/runs -H 'Content-Type: application/json'
-d '{{"function": "…", "state": {{}}}}'</code>;
see <a href="/docs">the API reference</a>.</p><ul>{apps}</ul>{problems}</body></html>"""


@router.get("/", response_class=HTMLResponse)
async def home(identity: CurrentUser, store: StoreDep) -> HTMLResponse:
    items = []
    for app in store.workspace().apps.values():
        if not allowed(identity, "use", app.name, app.properties):
            continue
        pages = ", ".join(
            f'<a href="/api/apps/{app.name}/pages/{name}">{html.escape(label_from_name(name))}</a>'
            for name in app.pages
        )
        label = html.escape(app.properties.label or label_from_name(app.name))
        items.append(f"<li><strong>{label}</strong> (<code>{app.name}</code>): {pages}</li>")
    issues = store.issues() if identity.admin else []  # problems name files of apps others may not see
    problems = (
        "<h2>Problems</h2><ul>" + "".join(f"<li><code>{html.escape(str(i))}</code></li>" for i in issues) + "</ul>"
        if issues
        else ""
    )
    return HTMLResponse(_PAGE.format(apps="".join(items) or "<li>No apps yet.</li>", problems=problems))

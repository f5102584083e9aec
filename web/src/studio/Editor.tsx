// The page editor: palette, canvas, property form, scripts, save, and the live preview.
import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { signInIfNeeded, writeHeaders } from "../api/auth";
import { ApiError, api, unwrap, type PagePublic } from "../api/client";
import type { Block, ComponentType, PageProperties } from "../model/catalog";
import { LivePage, storeFor } from "../viewer/Viewer";
import { Canvas } from "./Canvas";
import {
  type Issue,
  type Selection,
  addBlock,
  addColumn,
  addComponent,
  functionStub,
  issuesFor,
  locate,
  move,
  nameProblem,
  relayout,
  remove,
  selected,
  update,
} from "./draft";
import type { Schema } from "./formSchema";
import { PropertyPanel } from "./PropertyPanel";

const ScriptEditor = lazy(() => import("./ScriptEditor"));

export interface Catalog {
  groups: string[];
  components: Record<string, Schema>;
  blocks: Record<string, Schema>;
  columns: Record<string, Schema>;
}

const COMPONENT_TYPES: ComponentType[] = ["input", "select", "boolean", "button", "text"];
const POLL_MS = 2000;

function schemaFor(catalog: Catalog, page: PageProperties, selection: Selection): Schema | null {
  const item = selected(page, selection) as Record<string, unknown> | null;
  if (!item) return null;
  if (selection.kind === "block") return catalog.blocks[String(item.block_type)] ?? null;
  if (selection.kind === "component") return catalog.components[String(item.component_type)] ?? null;
  return catalog.columns[String(item.column_type ?? "data")] ?? null;
}

function problemKeys(issues: Issue[]): Set<string> {
  const keys = new Set<string>();
  for (const issue of issues) {
    const { selection } = locate(issue.path);
    if (!selection) continue;
    keys.add(`b${selection.block}`);
    if (selection.kind === "component") keys.add(`b${selection.block}c${selection.index}`);
    if (selection.kind === "column") keys.add(`b${selection.block}k${selection.index}`);
  }
  return keys;
}

export function Editor({
  app,
  name,
  catalog,
  readOnly = null,
}: {
  app: string;
  name: string;
  catalog: Catalog;
  /** Why pages cannot be saved here (cluster mode: they change by git push), or null. */
  readOnly?: string | null;
}): React.JSX.Element {
  const [page, setPage] = useState<PagePublic | null>(null);
  const [draft, setDraft] = useState<PageProperties | null>(null);
  const [dirty, setDirty] = useState(false);
  const [selection, setSelection] = useState<Selection | null>(null);
  const [issues, setIssues] = useState<Issue[]>([]);
  const [status, setStatus] = useState("");
  const [preview, setPreview] = useState<PagePublic | null>(null);
  const [script, setScript] = useState<{ name: string; source: string } | null>(null);
  const [changedOnDisk, setChangedOnDisk] = useState(false);
  const dirtyRef = useRef(dirty);
  dirtyRef.current = dirty;

  const adopt = useCallback((loaded: PagePublic) => {
    setPage(loaded);
    setDraft(loaded.properties as unknown as PageProperties);
    setDirty(false);
    setChangedOnDisk(false);
  }, []);

  const load = useCallback(
    () => api.GET("/api/apps/{app}/pages/{page}", { params: { path: { app, page: name } } }).then(unwrap),
    [app, name],
  );

  useEffect(() => {
    load().then(adopt).catch((error: unknown) => setStatus(String(error)));
  }, [load, adopt]);

  // Changes made outside the Studio (another editor, git pull) show up; unsaved edits are never overwritten.
  useEffect(() => {
    const timer = setInterval(() => {
      load()
        .then((latest) => {
          setPage((current) => {
            if (!current || latest.version === current.version) return current;
            // Scripts changed (here or elsewhere): new functions, nothing to reconcile.
            if (JSON.stringify(latest.properties) === JSON.stringify(current.properties)) return latest;
            if (dirtyRef.current) {
              setChangedOnDisk(true);
              return current;
            }
            setDraft(latest.properties as unknown as PageProperties);
            return latest;
          });
        })
        .catch(() => undefined);
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [load]);

  const edit = (next: PageProperties, nextSelection?: Selection | null) => {
    setDraft(next);
    setDirty(true);
    if (nextSelection !== undefined) setSelection(nextSelection);
  };

  const save = async (): Promise<PagePublic | null> => {
    if (!draft) return null;
    setStatus("saving…");
    const response = await fetch(`/api/apps/${app}/pages/${name}/properties`, {
      method: "PUT",
      headers: writeHeaders(),
      body: JSON.stringify(draft),
    });
    await signInIfNeeded(response);
    const body = await response.json();
    if (response.ok) {
      setPage(body as PagePublic);
      setDirty(false);
      setIssues([]);
      setStatus("saved");
      return body as PagePublic;
    }
    const problems = (Array.isArray(body.details) ? body.details : []) as Issue[];
    setIssues(problems);
    setStatus(problems.length ? `${problems.length} problem${problems.length === 1 ? "" : "s"} — not saved` : body.message);
    return null;
  };

  const refreshFunctions = async () => {
    const latest = await load();
    setPage((current) => (current ? { ...current, functions: latest.functions, scripts: latest.scripts } : latest));
  };

  const openScript = async (script: string) => {
    const result = await api.GET("/api/apps/{app}/pages/{page}/scripts/{name}", { params: { path: { app, page: name, name: script } } });
    const data = unwrap(result);
    setScript({ name: data.name, source: data.source });
  };

  const saveScript = async (source: string): Promise<string | null> => {
    if (!script) return null;
    try {
      unwrap(await api.PUT("/api/apps/{app}/pages/{page}/scripts/{name}", { params: { path: { app, page: name, name: script.name } }, body: { source } }));
      await refreshFunctions();
      return null;
    } catch (error) {
      if (error instanceof ApiError) {
        const details = Array.isArray(error.problem.details) ? (error.problem.details as Issue[]) : [];
        return details.map((item) => `${item.path}: ${item.message}`).join("; ") || error.message;
      }
      return String(error);
    }
  };

  const newFunction = async (): Promise<string | null> => {
    const functions = page?.functions.map((item) => item.name) ?? [];
    const chosen = window.prompt("Name of the new function (letters, digits and underscores):", "");
    if (!chosen) return null;
    const problem = nameProblem(chosen, functions);
    if (problem) {
      window.alert(problem);
      return null;
    }
    // One script per new function: scripts/<name>.py, with the signature every page function has.
    unwrap(
      await api.PUT("/api/apps/{app}/pages/{page}/scripts/{name}", {
        params: { path: { app, page: name, name: chosen } },
        body: { source: functionStub(chosen) },
      }),
    );
    await refreshFunctions();
    await openScript(chosen);
    return chosen;
  };

  const itemIssues = useMemo(() => issuesFor(issues, selection), [issues, selection]);
  // One store per preview: re-rendering the editor (its polling, say) must not reset what the user entered.
  const previewStore = useMemo(() => (preview ? storeFor(preview) : null), [preview]);
  if (!page || !draft) return <div className="loading">{status || "Loading…"}</div>;

  const current = selection ? selected(draft, selection) : null;
  const schema = selection && current ? schemaFor(catalog, draft, selection) : null;
  const selectedBlock: Block | undefined = selection ? (draft.blocks ?? [])[selection.block] : undefined;
  const functions = page.functions.map((item) => item.name);

  if (preview && previewStore) {
    return (
      <div className="studio-preview">
        <div className="studio-toolbar">
          <strong>Preview: {page.label}</strong>
          <button type="button" className="button button-gray" onClick={() => setPreview(null)}>
            Back to editing
          </button>
        </div>
        <LivePage store={previewStore} />
      </div>
    );
  }

  return (
    <div className="studio-editor">
      <div className="studio-toolbar">
        <strong>
          {app} / {page.label}
        </strong>
        <span className="status" role="status">
          {dirty ? "unsaved changes" : status}
        </span>
        {readOnly ? null : (
          <button type="button" className="button button-blue" disabled={!dirty} onClick={() => void save()}>
            Save
          </button>
        )}
        <button
          type="button"
          className="button button-green"
          onClick={async () => {
            const saved = dirty && !readOnly ? await save() : page;
            if (saved) setPreview(saved);
          }}
        >
          Preview
        </button>
      </div>
      {readOnly ? (
        <div className="message message-info" role="note">
          Read-only here: {readOnly}
        </div>
      ) : null}
      {changedOnDisk ? (
        <div className="message message-warning" role="alert">
          This page changed on disk while you were editing.{" "}
          <button type="button" onClick={() => load().then(adopt)}>
            Load the new version (discard my changes)
          </button>
        </div>
      ) : null}
      {issues.length ? (
        <ul className="issues" aria-label="Problems">
          {issues.map((issue) => (
            <li key={`${issue.path}:${issue.message}`}>
              <button type="button" className="link" onClick={() => setSelection(locate(issue.path).selection)}>
                {issue.path}
              </button>
              : {issue.message}
            </li>
          ))}
        </ul>
      ) : null}
      <div className="studio-columns">
        <aside className="palette" aria-label="Palette">
          <h3>Blocks</h3>
          <button type="button" onClick={() => { const added = addBlock(draft, "widget"); edit(added.page, added.selection); }}>
            + Widget
          </button>
          <button type="button" onClick={() => { const added = addBlock(draft, "table"); edit(added.page, added.selection); }}>
            + Table
          </button>
          <h3>Components</h3>
          {COMPONENT_TYPES.map((kind) => (
            <button
              key={kind}
              type="button"
              disabled={selectedBlock?.block_type !== "widget"}
              title={selectedBlock?.block_type === "widget" ? `Add a ${kind} to ${selectedBlock.name}` : "Select a widget first"}
              onClick={() => {
                const added = selection ? addComponent(draft, selection.block, kind) : null;
                if (added) edit(added.page, added.selection);
              }}
            >
              + {kind[0].toUpperCase() + kind.slice(1)}
            </button>
          ))}
          <h3>Columns</h3>
          {(["data", "button"] as const).map((kind) => (
            <button
              key={kind}
              type="button"
              disabled={selectedBlock?.block_type !== "table"}
              onClick={() => {
                const added = selection ? addColumn(draft, selection.block, kind) : null;
                if (added) edit(added.page, added.selection);
              }}
            >
              + {kind === "data" ? "Column" : "Button column"}
            </button>
          ))}
          <h3>Functions</h3>
          <ul className="functions">
            {page.functions.map((item) => (
              <li key={item.name}>
                <button type="button" className="link" onClick={() => void openScript(item.script)} title={item.doc ?? undefined}>
                  {item.name}
                </button>
                <small> in {item.script}.py</small>
              </li>
            ))}
          </ul>
          <button type="button" onClick={() => void newFunction()}>
            + New function
          </button>
        </aside>
        <section className="canvas-column" aria-label="Page">
          <Canvas
            page={draft}
            selection={selection}
            problems={problemKeys(issues)}
            onSelect={setSelection}
            onLayout={(layout) => {
              const next = relayout(draft, layout);
              if (next !== draft) edit(next);
            }}
          />
          {script ? (
            <Suspense fallback={<div className="loading">Loading the editor…</div>}>
              <ScriptEditor key={script.name} app={app} page={name} script={script.name} source={script.source} onSave={saveScript} readOnly={readOnly !== null} />
            </Suspense>
          ) : null}
        </section>
        <aside className="properties" aria-label="Properties">
          {selection && current && schema ? (
            <>
              <div className="properties-header">
                <h3>{String((current as { name: string }).name)}</h3>
                {selection.kind !== "block" ? (
                  <>
                    <button type="button" aria-label="Move up" onClick={() => { const moved = move(draft, selection, -1); edit(moved.page, moved.selection); }}>
                      ↑
                    </button>
                    <button type="button" aria-label="Move down" onClick={() => { const moved = move(draft, selection, 1); edit(moved.page, moved.selection); }}>
                      ↓
                    </button>
                  </>
                ) : null}
                <button type="button" className="danger" onClick={() => edit(remove(draft, selection), null)}>
                  Delete
                </button>
              </div>
              <PropertyPanel
                key={`${selection.kind}-${selection.block}-${"index" in selection ? selection.index : ""}`}
                schema={schema}
                value={current as unknown as Record<string, unknown>}
                issues={itemIssues}
                context={{ functions, newFunction, groups: catalog.groups }}
                onChange={(value) => edit(update(draft, selection, value as never))}
              />
            </>
          ) : (
            <p className="hint">Select a block, component or column to edit its properties.</p>
          )}
        </aside>
      </div>
    </div>
  );
}

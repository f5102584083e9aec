// One page's live data: the values users entered (State), what runs changed (Context), and the runs.
// Components subscribe to their own slice (useStore with a selector), so a run re-renders only the
// components whose part of the context it changed.
import { createStore, type StoreApi } from "zustand/vanilla";
import { ApiError, type RunError } from "../api/client";
import { type RunEvent, startRun } from "../api/runs";
import { type Block, type Component, type Table, hasState, isDataColumn } from "./catalog";
import { type Json, type JsonObject, merge } from "./merge";
import type { PageProperties } from "../generated/properties";

export type Values = Record<string, Record<string, unknown>>;

export interface RunView {
  id: number;
  fn: string;
  status: "running" | "succeeded" | "failed" | "cancelled";
  logs: string;
  progress: { done: number; total: number | null; text: string | null } | null;
  error: (RunError & { stdout?: string }) | null;
  durationMs: number | null;
}

export interface PageData {
  app: string;
  page: string;
  properties: PageProperties;
  functions: string[];
}

export interface PageState extends PageData {
  /** Current values of every input, select, boolean, and each table's selected row. */
  state: Values;
  /** What runs set, merged (see merge.ts): context[block].components[name].visible, .data, … */
  context: JsonObject;
  /** Origins (block.component) of runs in progress, for busy buttons. */
  busy: Record<string, boolean>;
  runs: RunView[];
  setValue: (block: string, name: string, value: unknown) => void;
  selectRow: (table: string, row: Record<string, unknown> | null) => void;
  editCell: (table: string, index: number, column: string, value: unknown) => void;
  applyContext: (changes: JsonObject) => void;
  setLocal: (path: string[], value: Json) => void;
  run: (fn: string, origin: string) => Promise<RunView>;
  dismiss: (id: number) => void;
}

export type PageStore = StoreApi<PageState>;

function defaults(properties: PageProperties): Values {
  const values: Values = {};
  for (const block of properties.blocks ?? []) {
    values[block.name] = {};
    if (block.block_type !== "widget") continue;
    for (const component of block.components ?? []) {
      if (hasState(component) && "default" in component && component.default !== undefined && component.default !== null) {
        values[block.name][component.name] = component.default;
      }
    }
  }
  return values;
}

/** The values to send: empty fields left out, so the server uses each field's default or None. */
function sendable(values: Values): Values {
  const result: Values = {};
  for (const [block, fields] of Object.entries(values)) {
    const kept = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined && value !== ""));
    if (Object.keys(kept).length > 0) result[block] = kept;
  }
  return result;
}

function rowOf(table: Table, row: Record<string, unknown> | null): Record<string, unknown> {
  if (row === null) return {};
  const declared = (table.columns ?? []).filter(isDataColumn).map((column) => column.name);
  return Object.fromEntries(declared.filter((name) => name in row).map((name) => [name, row[name]]));
}

/** Values that scripts set through context (components' .value) become the components' values. */
function valuesFrom(changes: JsonObject, values: Values): Values {
  let result = values;
  for (const [block, change] of Object.entries(changes)) {
    const components = (change as JsonObject | null)?.components;
    if (typeof components !== "object" || components === null || Array.isArray(components)) continue;
    for (const [name, part] of Object.entries(components)) {
      if (part && typeof part === "object" && !Array.isArray(part) && "value" in part) {
        result = { ...result, [block]: { ...result[block], [name]: part.value ?? undefined } };
      }
    }
  }
  return result;
}

let runCounter = 0;

export function createPageStore(data: PageData): PageStore {
  const tables = new Map<string, Table>();
  for (const block of data.properties.blocks ?? []) if (block.block_type === "table") tables.set(block.name, block);
  return createStore<PageState>()((set, get) => ({
    ...data,
    state: defaults(data.properties),
    context: {},
    busy: {},
    runs: [],
    setValue: (block, name, value) =>
      set((current) => ({ state: { ...current.state, [block]: { ...current.state[block], [name]: value } } })),
    selectRow: (table, row) => {
      const block = tables.get(table);
      if (block) set((current) => ({ state: { ...current.state, [table]: rowOf(block, row) } }));
    },
    editCell: (table, index, column, value) =>
      set((current) => {
        const part = (current.context[table] ?? {}) as JsonObject;
        const rows = Array.isArray(part.data) ? [...part.data] : [];
        const row = { ...(rows[index] as JsonObject), [column]: value as Json };
        rows[index] = row;
        const block = tables.get(table);
        return {
          context: merge(current.context, { [table]: { data: rows } }),
          state: block ? { ...current.state, [table]: rowOf(block, row) } : current.state,
        };
      }),
    applyContext: (changes) =>
      set((current) => ({ context: merge(current.context, changes), state: valuesFrom(changes, current.state) })),
    setLocal: (path, value) =>
      set((current) => {
        let change: JsonObject = { [path[path.length - 1]]: value };
        for (const key of path.slice(0, -1).reverse()) change = { [key]: change };
        return { context: merge(current.context, change) };
      }),
    run: async (fn, origin) => {
      runCounter += 1;
      const view: RunView = { id: runCounter, fn, status: "running", logs: "", progress: null, error: null, durationMs: null };
      const update = (patch: Partial<RunView>) =>
        set((current) => ({ runs: current.runs.map((item) => (item.id === view.id ? { ...item, ...patch } : item)) }));
      set((current) => ({ busy: { ...current.busy, [origin]: true }, runs: [...current.runs.slice(-4), view] }));
      const onEvent = (event: RunEvent) => {
        const latest = get().runs.find((item) => item.id === view.id);
        if (!latest) return;
        if (event.type === "log") update({ logs: latest.logs + (event.text ?? "") });
        if (event.type === "progress") update({ progress: { done: event.done ?? 0, total: event.total ?? null, text: event.text ?? null } });
      };
      try {
        const result = await startRun(get().app, get().page, fn, sendable(get().state), { onEvent });
        if (result.context && Object.keys(result.context).length > 0) get().applyContext(result.context as JsonObject);
        const finished: Partial<RunView> = {
          status: result.status === "queued" || result.status === "running" ? "failed" : result.status,
          logs: result.stdout ?? "",
          durationMs: result.duration_ms ?? null,
          error: result.error ? { ...result.error, stdout: result.stdout ?? "" } : null,
        };
        update(finished);
        return { ...view, ...finished };
      } catch (error) {
        const message =
          error instanceof ApiError
            ? `${error.message}${error.problem.details ? `\n${JSON.stringify(error.problem.details, null, 2)}` : ""}`
            : String(error);
        const failed: Partial<RunView> = { status: "failed", error: { kind: "exception", message, traceback: null, retryable: false } };
        update(failed);
        return { ...view, ...failed };
      } finally {
        set((current) => ({ busy: { ...current.busy, [origin]: false } }));
      }
    },
    dismiss: (id) => set((current) => ({ runs: current.runs.filter((item) => item.id !== id) })),
  }));
}

/** The functions a page runs when it opens: table fetchers and select option fetchers, each once. */
export function fetchers(blocks: Block[]): { fn: string; origin: string }[] {
  const seen = new Set<string>();
  const result: { fn: string; origin: string }[] = [];
  const add = (fn: string | null | undefined, origin: string) => {
    if (fn && !seen.has(fn)) {
      seen.add(fn);
      result.push({ fn, origin });
    }
  };
  for (const block of blocks) {
    if (block.block_type === "table") add(block.fetcher, block.name);
    else for (const component of block.components ?? []) add(optionsFetcher(component), `${block.name}.${component.name}`);
  }
  return result;
}

function optionsFetcher(component: Component): string | null | undefined {
  return component.component_type === "select" ? component.options_fetcher : null;
}

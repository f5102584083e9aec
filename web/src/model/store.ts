// One page's live data: the values users entered (State), what runs changed (Context), and the runs.
// Components subscribe to their own slice (useStore with a selector), so a run re-renders only the
// components whose part of the context it changed.
import { createStore, type StoreApi } from "zustand/vanilla";
import { ApiError, type RunError } from "../api/client";
import { type RunEvent, startRun } from "../api/runs";
import { type Block, type Component, type Table, hasState, isDataColumn } from "./catalog";
import { type Json, type JsonObject, merge } from "./merge";
import {
  type CellConflict,
  type TableBlock,
  type TableFacts,
  type TableQuery,
  type TableRequest,
  firstQuery,
  hasKey,
  isFirstQuery,
  keyOf,
  smartEditable,
} from "./tables";
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
  /** Functions defined by a .sql file (a table with one of these as fetcher pages, sorts and filters in the database). */
  sqlFunctions?: string[];
  /** What the database says about each SQL table's columns (the page response's `tables`). */
  facts?: Record<string, TableFacts>;
}

/** A SQL table's view: the query shown, whether one is on its way, and what went wrong. */
export interface TableView {
  query: TableQuery;
  loading: boolean;
  /** The last failed request's message (the rows shown are the last good ones). */
  error: string | null;
  /** Conflicts of edits (shown on their cells until that cell is edited again). */
  conflicts: CellConflict[];
  /** Edits not saved because the request failed, by "<key json>|<column>": the message. */
  unsaved: Record<string, string>;
}

export interface PageState extends PageData {
  /** Current values of every input, select, boolean, and each table's selected row. */
  state: Values;
  /** What runs set, merged (see merge.ts): context[block].components[name].visible, .data, … */
  context: JsonObject;
  /** Origins (block.component) of runs in progress, for busy buttons. */
  busy: Record<string, boolean>;
  runs: RunView[];
  /** SQL tables' views, by table name (tables with a Python fetcher have none). */
  tableViews: Record<string, TableView>;
  setValue: (block: string, name: string, value: unknown) => void;
  selectRow: (table: string, row: Record<string, unknown> | null) => void;
  editCell: (table: string, index: number, column: string, value: unknown) => void;
  applyContext: (changes: JsonObject) => void;
  setLocal: (path: string[], value: Json) => void;
  run: (fn: string, origin: string) => Promise<RunView>;
  dismiss: (id: number) => void;
  /** Whether a table's fetcher is SQL (paging, sorting, filtering and edits happen in the database). */
  isSqlTable: (table: string) => boolean;
  /** Ask a SQL table's fetcher for another page, sort, filters or search (offset back to 0 unless given). */
  queryTable: (table: string, change: Partial<TableQuery>) => Promise<RunView | null>;
  /** Edit a cell: saved by primary key in a SQL table; in a Python table, the row changes and on_edit runs. */
  commitCell: (table: string, index: number, column: string, value: unknown) => Promise<void>;
  /** Add a row to an insertable SQL table; true when it was added. */
  insertRow: (table: string, values: Record<string, unknown>) => Promise<boolean>;
  /** Delete a row of a deletable SQL table by its primary key; true when it was deleted. */
  deleteRow: (table: string, row: Record<string, unknown>) => Promise<boolean>;
}

/** The key under which an unsaved edit is remembered. */
export function cellId(key: Record<string, unknown> | null, column: string): string {
  return `${JSON.stringify(key)}|${column}`;
}

/** A run's view and the context changes it answered (applied or, when superseded, not). */
interface Outcome {
  view: RunView;
  changes: JsonObject;
}

function failureOf(view: RunView): string | null {
  return view.status === "succeeded" ? null : (view.error?.message ?? `The run ${view.status}.`);
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
  const tables = new Map<string, TableBlock>();
  for (const block of data.properties.blocks ?? []) if (block.block_type === "table") tables.set(block.name, block);
  const sql = new Set(data.sqlFunctions ?? []);
  const facts = data.facts ?? {};
  // The newest query of each SQL table: an older answer that arrives later is not shown over it.
  const latest = new Map<string, number>();
  return createStore<PageState>()((set, get) => {
    const update = (id: number, patch: Partial<RunView>) =>
      set((current) => ({ runs: current.runs.map((item) => (item.id === id ? { ...item, ...patch } : item)) }));

    const setView = (table: string, patch: Partial<TableView>) =>
      set((current) => {
        const block = tables.get(table);
        const view = current.tableViews[table] ?? emptyView(block);
        return { tableViews: { ...current.tableViews, [table]: { ...view, ...patch } } };
      });

    /** Run a function; `table` makes it a table request; `accept` says whether its context is still wanted. */
    const execute = async (fn: string, origin: string, table?: TableRequest, accept: () => boolean = () => true): Promise<Outcome> => {
      runCounter += 1;
      const view: RunView = { id: runCounter, fn, status: "running", logs: "", progress: null, error: null, durationMs: null };
      set((current) => ({ busy: { ...current.busy, [origin]: true }, runs: [...current.runs.slice(-4), view] }));
      const onEvent = (event: RunEvent) => {
        const now = get().runs.find((item) => item.id === view.id);
        if (!now) return;
        if (event.type === "log") update(view.id, { logs: now.logs + (event.text ?? "") });
        if (event.type === "progress") update(view.id, { progress: { done: event.done ?? 0, total: event.total ?? null, text: event.text ?? null } });
      };
      try {
        const result = await startRun(get().app, get().page, fn, sendable(get().state), { onEvent, table });
        const changes = (result.context ?? {}) as JsonObject;
        const plan = planReloads(changes, fn, origin);
        if (Object.keys(plan.shown).length > 0 && accept()) get().applyContext(plan.shown);
        const finished: Partial<RunView> = {
          status: result.status === "queued" || result.status === "running" ? "failed" : result.status,
          logs: result.stdout ?? "",
          durationMs: result.duration_ms ?? null,
          error: result.error ? { ...result.error, stdout: result.stdout ?? "" } : null,
        };
        update(view.id, finished);
        for (const name of plan.again) void get().run(tables.get(name)?.fetcher as string, name);
        return { view: { ...view, ...finished }, changes };
      } catch (error) {
        const message =
          error instanceof ApiError
            ? `${error.message}${error.problem.details ? `\n${JSON.stringify(error.problem.details, null, 2)}` : ""}`
            : String(error);
        const failed: Partial<RunView> = { status: "failed", error: { kind: "exception", message, traceback: null, retryable: false } };
        update(view.id, failed);
        return { view: { ...view, ...failed }, changes: {} };
      } finally {
        set((current) => ({ busy: { ...current.busy, [origin]: false } }));
      }
    };

    /**
     * Tables a run's answer reloads. `context.<table>.reload()` answered with the rows (a SQL fetcher, run by
     * the runner) is shown as it is, unless the user looks at another page, order or filter than the first
     * page the runner sent: then the table's own query is sent again instead (and the first page not shown).
     * reload() without rows (a Python fetcher) runs the fetcher here. A fetcher's own answer never triggers
     * itself again.
     */
    const planReloads = (changes: JsonObject, fn: string, origin: string): { shown: JsonObject; again: string[] } => {
      let shown = changes;
      const again: string[] = [];
      for (const [name, change] of Object.entries(changes)) {
        const block = tables.get(name);
        const part = change as JsonObject | null;
        if (!block?.fetcher || !part || typeof part !== "object" || Array.isArray(part)) continue;
        if (block.fetcher === fn && origin === name) continue;
        const view = get().tableViews[name];
        if (view && "data" in part && !isFirstQuery(view.query)) {
          const { data: _data, total: _total, offset: _offset, more: _more, ...rest } = part;
          shown = { ...shown, [name]: rest };
          again.push(name);
        } else if (part.reload_requested === true && !("data" in part)) again.push(name);
      }
      return { shown, again };
    };

    /** Send a table request for a SQL table with its current query changed by `change`. */
    const fetchTable = async (
      table: string,
      change: Partial<TableQuery>,
      action: Omit<TableRequest, "table" | "query"> = { action: "query" },
    ): Promise<Outcome | null> => {
      const block = tables.get(table);
      if (!block?.fetcher) return null;
      const before = get().tableViews[table] ?? emptyView(block);
      const query: TableQuery = { ...before.query, ...change };
      const sequence = (latest.get(table) ?? 0) + 1;
      latest.set(table, sequence);
      setView(table, { query, loading: true });
      const outcome = await execute(block.fetcher, table, { table, query, ...action }, () => latest.get(table) === sequence);
      const result = outcome.view;
      const current = latest.get(table) === sequence;
      if (current) setView(table, { loading: false, error: failureOf(result) });
      if (result.status === "succeeded" && current) {
        // A successful answer is the table as it is: the page it shows (the runner may move the offset).
        const part = get().context[table] as JsonObject | undefined;
        if (typeof part?.offset === "number") setView(table, { query: { ...get().tableViews[table].query, offset: part.offset } });
      }
      return outcome;
    };

    return {
    ...data,
    state: defaults(data.properties),
    context: {},
    busy: {},
    runs: [],
    tableViews: Object.fromEntries(
      [...tables.values()].filter((block) => block.fetcher && sql.has(block.fetcher)).map((block) => [block.name, emptyView(block)]),
    ),
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
    run: (fn, origin) => {
      const table = tables.get(origin);
      if (table && table.fetcher === fn && sql.has(fn)) return fetchTable(origin, {}).then((outcome) => (outcome as Outcome).view);
      return execute(fn, origin).then((outcome) => outcome.view);
    },
    dismiss: (id) => set((current) => ({ runs: current.runs.filter((item) => item.id !== id) })),
    isSqlTable: (table) => {
      const fetcher = tables.get(table)?.fetcher;
      return Boolean(fetcher && sql.has(fetcher));
    },
    queryTable: async (table, change) => (await fetchTable(table, { offset: 0, ...change }))?.view ?? null,
    commitCell: async (table, index, column, value) => {
      const block = tables.get(table);
      if (!block) return;
      const rows = ((get().context[table] as JsonObject | undefined)?.data ?? []) as Record<string, unknown>[];
      const before = rows[index];
      get().editCell(table, index, column, value);
      const declared = (block.columns ?? []).filter(isDataColumn).find((item) => item.name === column);
      const smart = get().isSqlTable(table) && declared !== undefined && smartEditable(declared, facts[table]);
      if (!smart) {
        if (block.on_edit) await execute(block.on_edit, `${table}.${column}`);
        return;
      }
      const key = before ? keyOf(before, facts[table]?.primary_key ?? []) : null;
      if (!before || !key) {
        setView(table, { error: `Rows of ${table} cannot be saved: the database names no primary key for it.` });
        return;
      }
      const id = cellId(key, column);
      const view = get().tableViews[table];
      const others = view.conflicts.filter((conflict) => !(conflict.column === column && hasKey(before, conflict.key)));
      const unsaved = { ...view.unsaved };
      delete unsaved[id];
      setView(table, { conflicts: others, unsaved });
      const edit = { key, column, old: before[column] ?? null, new: value ?? null };
      const outcome = await fetchTable(table, {}, { action: "update", edit });
      if (!outcome) return;
      const part = outcome.changes[table] as JsonObject | undefined;
      const conflicts = (outcome.view.status === "succeeded" && Array.isArray(part?.conflicts) ? part.conflicts : []) as unknown as CellConflict[];
      const failed = failureOf(outcome.view);
      const now = get().tableViews[table];
      setView(table, {
        conflicts: [...now.conflicts.filter((item) => !conflicts.some((added) => added.column === item.column && JSON.stringify(added.key) === JSON.stringify(item.key))), ...conflicts],
        unsaved: failed ? { ...now.unsaved, [id]: failed } : now.unsaved,
      });
    },
    insertRow: async (table, values) => {
      const outcome = await fetchTable(table, {}, { action: "insert", values });
      return outcome?.view.status === "succeeded";
    },
    deleteRow: async (table, row) => {
      const key = keyOf(row, facts[table]?.primary_key ?? []);
      if (!key) {
        setView(table, { error: `Rows of ${table} cannot be deleted: the database names no primary key for it.` });
        return false;
      }
      const outcome = await fetchTable(table, {}, { action: "delete", key });
      return outcome?.view.status === "succeeded";
    },
  };
  });
}

function emptyView(block: TableBlock | undefined): TableView {
  return { query: firstQuery(block?.page_size ?? 20), loading: false, error: null, conflicts: [], unsaved: {} };
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

// A table block. Two kinds, one look:
// - a Python fetcher's rows all arrive at once; paging, sorting and filtering happen here, in the browser;
// - a SQL fetcher's table pages, sorts, filters and saves edits in the database: every change of the query
//   is a table request (see model/store.ts) and the rows shown are one page of the answer.
import {
  type ColumnDef,
  type SortingState,
  flexRender,
  getCoreRowModel,
  getFilteredRowModel,
  getPaginationRowModel,
  getSortedRowModel,
  useReactTable,
} from "@tanstack/react-table";
import { useEffect, useMemo, useState } from "react";
import type { BlockOf, ButtonColumn, DataColumn } from "../../model/catalog";
import { isDataColumn, labelOf } from "../../model/catalog";
import type { JsonObject } from "../../model/merge";
import { cellId } from "../../model/store";
import {
  type CellConflict,
  type TableBlock,
  activeFilters,
  conflictAt,
  insertColumns,
  insertValues,
  keyOf,
  matchesFilters,
  smartEditable,
  toggleSort,
  withFacts,
} from "../../model/tables";
import { useBlockContext, usePage, useVisible } from "../../viewer/hooks";
import { Message } from "../../viewer/Message";
import type { BlockProps } from "../types";
import { CellEditor, formatCell } from "./cells";
import { DeclaredFilters, NewRowForm, Pager } from "./controls";
import { type ColumnView, cellText } from "./format";

type Row = Record<string, unknown>;

/** How long typing in a filter waits before asking the database. */
const DEBOUNCE_MS = 300;
/** The longest search a table request takes (appyard.runs.TableQuery.search). */
const SEARCH_MAX = 200;

const NO_CONFLICTS: CellConflict[] = [];
const NO_UNSAVED: Record<string, string> = {};

function ConflictNote({ conflict, column }: { conflict: CellConflict; column: ColumnView }): React.JSX.Element {
  const current = "current" in conflict ? cellText(column, conflict.current) || "empty" : null;
  return (
    <div className="cell-conflict" role="alert">
      {conflict.message}
      {current !== null ? <span className="cell-current"> Now: {current}</span> : null}
    </div>
  );
}

export function TableView({ block: declaredBlock }: BlockProps<BlockOf<"table">>): React.JSX.Element | null {
  const block = declaredBlock as TableBlock;
  const context = useBlockContext(block.name);
  const visible = useVisible(block.display_rules, context?.visible);
  const run = usePage((state) => state.run);
  const selectRow = usePage((state) => state.selectRow);
  const commitCell = usePage((state) => state.commitCell);
  const queryTable = usePage((state) => state.queryTable);
  const insertRow = usePage((state) => state.insertRow);
  const deleteRow = usePage((state) => state.deleteRow);
  const sqlTable = usePage((state) => state.isSqlTable(block.name));
  const facts = usePage((state) => state.facts?.[block.name]);
  const view = usePage((state) => state.tableViews[block.name]);
  const busy = usePage((state) => Object.entries(state.busy).some(([origin, on]) => on && (origin === block.name || origin.startsWith(`${block.name}.`))));
  const [sorting, setSorting] = useState<SortingState>([]);
  const [filter, setFilter] = useState("");
  const [filterInputs, setFilterInputs] = useState<Record<number, unknown>>({});
  const [selected, setSelected] = useState<number | null>(null);
  const [adding, setAdding] = useState(false);
  const rows = useMemo(() => (Array.isArray(context?.data) ? (context.data as Row[]) : []), [context?.data]);
  const columnContext = (context?.columns ?? {}) as JsonObject;
  const conflicts = view?.conflicts ?? NO_CONFLICTS;
  const unsaved = view?.unsaved ?? NO_UNSAVED;

  // Columns: the declared ones with the database's types; a table without declared columns shows what the
  // database says it returns, else every field of its rows.
  const declared = useMemo(() => {
    const columns = block.columns ?? [];
    if (columns.length > 0) return columns;
    const names = facts ? Object.keys(facts.columns) : rows.length > 0 ? Object.keys(rows[0]) : [];
    return names.map((name) => ({ name }) as DataColumn);
  }, [block.columns, facts, rows]);
  const dataColumns = useMemo(() => withFacts(declared.filter(isDataColumn), facts) as ColumnView[], [declared, facts]);
  const byName = useMemo(() => Object.fromEntries(dataColumns.map((column) => [column.name, column])), [dataColumns]);
  const declaredFilters = useMemo(() => block.filters ?? [], [block.filters]);
  const dataTypes = useMemo(() => Object.fromEntries(dataColumns.map((column) => [column.name, column.data_type])), [dataColumns]);
  const filters = useMemo(() => activeFilters(declaredFilters, filterInputs, dataTypes), [declaredFilters, filterInputs, dataTypes]);

  // A SQL table asks the database when the filter box or a declared filter changes (after a pause in typing).
  const query = view?.query;
  useEffect(() => {
    if (!sqlTable || !query) return;
    const search = filter.trim() === "" ? null : filter.trim();
    if (search === query.search && JSON.stringify(filters) === JSON.stringify(query.filters)) return;
    const timer = setTimeout(() => void queryTable(block.name, { search, filters }), DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [sqlTable, filter, filters, query, queryTable, block.name]);
  // The selected row is the one at its place on this page: a new page or order selects nothing.
  useEffect(() => setSelected(null), [query?.offset, query?.sort]);

  const pythonRows = useMemo(
    () => (sqlTable || filters.length === 0 ? rows : rows.filter((row) => matchesFilters(row, filters))),
    [sqlTable, rows, filters],
  );

  const columns = useMemo<ColumnDef<Row>[]>(() => {
    const choose = (index: number, row: Row) => {
      setSelected(index);
      selectRow(block.name, row);
    };
    const editable = (column: ColumnView) =>
      sqlTable ? smartEditable(column as DataColumn, facts) || (column.editable === true && Boolean(block.on_edit)) : column.editable === true;
    const dataColumn = (column: ColumnView): ColumnDef<Row> => ({
      id: column.name,
      accessorFn: (row) => row[column.name],
      header: labelOf(column),
      cell: ({ row, getValue }) => {
        const conflict = sqlTable ? conflictAt(conflicts, row.original, column.name) : undefined;
        const failed = sqlTable ? unsaved[cellId(keyOf(row.original, facts?.primary_key ?? []), column.name)] : undefined;
        const content = editable(column) ? (
          <CellEditor
            column={column}
            value={getValue()}
            onCommit={(value) => {
              setSelected(row.index);
              // The row's place in context.data (a Python table's declared filters show a subset of its rows).
              void commitCell(block.name, rows.indexOf(row.original), column.name, value);
            }}
          />
        ) : (
          formatCell(column, getValue())
        );
        if (!conflict && !failed) return content;
        return (
          <div className={conflict ? "cell-flagged cell-has-conflict" : "cell-flagged cell-unsaved"}>
            {content}
            {conflict ? <ConflictNote conflict={conflict} column={column} /> : null}
            {failed ? (
              <div className="cell-conflict" role="alert">
                Not saved: {failed}
              </div>
            ) : null}
          </div>
        );
      },
      sortingFn: "auto",
    });
    const buttonColumn = (column: ButtonColumn): ColumnDef<Row> => ({
      id: column.name,
      header: "",
      enableSorting: false,
      cell: ({ row }) => (
        <button
          type="button"
          className={`button button-small button-${column.color ?? "blue"}`}
          title={column.description ?? undefined}
          onClick={(event) => {
            event.stopPropagation();
            if (column.confirm && !window.confirm(column.confirm)) return;
            choose(row.index, row.original);
            void run(column.on_click, `${block.name}.${column.name}`);
          }}
        >
          {labelOf(column)}
        </button>
      ),
    });
    const result = declared.map((column) =>
      isDataColumn(column) ? dataColumn(byName[column.name] ?? (column as ColumnView)) : buttonColumn(column as ButtonColumn),
    );
    if (sqlTable && block.deletable) {
      result.push({
        id: "__delete",
        header: "",
        enableSorting: false,
        cell: ({ row }) => (
          <button
            type="button"
            className="button button-small button-red"
            onClick={(event) => {
              event.stopPropagation();
              if (!window.confirm("Delete this row?")) return;
              setSelected(null);
              void deleteRow(block.name, row.original);
            }}
          >
            Delete
          </button>
        ),
      });
    }
    return result;
  }, [block, declared, byName, rows, sqlTable, facts, conflicts, unsaved, run, selectRow, commitCell, deleteRow]);

  const columnVisibility = Object.fromEntries(
    declared.map((column) => {
      const override = (columnContext[column.name] as JsonObject | undefined)?.visible;
      const hidden = isDataColumn(column) && column.hidden === true;
      return [column.name, typeof override === "boolean" ? override : !hidden];
    }),
  );
  const serverSorting: SortingState = (query?.sort ?? []).map((key) => ({ id: key.column, desc: key.descending }));
  const table = useReactTable({
    data: sqlTable ? rows : pythonRows,
    columns,
    state: sqlTable ? { sorting: serverSorting, columnVisibility } : { sorting, globalFilter: filter, columnVisibility },
    onSortingChange: setSorting,
    onGlobalFilterChange: setFilter,
    getCoreRowModel: getCoreRowModel(),
    ...(sqlTable
      ? { manualSorting: true, manualFiltering: true, manualPagination: true }
      : { getSortedRowModel: getSortedRowModel(), getFilteredRowModel: getFilteredRowModel(), getPaginationRowModel: getPaginationRowModel() }),
    initialState: { pagination: { pageSize: block.page_size ?? 20, pageIndex: 0 } },
    autoResetPageIndex: false,
  });
  if (!visible) return null;
  const title = typeof context?.label === "string" ? context.label : labelOf(block);
  const selectable = block.selectable ?? true;
  const loading = busy || view?.loading === true;
  const offset = typeof context?.offset === "number" ? context.offset : (query?.offset ?? 0);
  const total = typeof context?.total === "number" ? context.total : null;
  const limit = query?.limit ?? block.page_size ?? 20;
  const more = context?.more === true || (total !== null && offset + rows.length < total);
  const pages = table.getPageCount();
  const newRowColumns = sqlTable && block.insertable ? insertColumns(dataColumns as DataColumn[], facts) : [];
  return (
    <section className="block table-block" aria-label={title} data-block={block.name} aria-busy={loading}>
      <header className="table-header">
        <h2 className="block-title">{title}</h2>
        {newRowColumns.length > 0 ? (
          <button type="button" className="button button-small button-blue" aria-expanded={adding} onClick={() => setAdding(!adding)}>
            New row
          </button>
        ) : null}
        <input
          className="table-filter"
          type="search"
          placeholder="Filter…"
          aria-label={`Filter ${title}`}
          maxLength={sqlTable ? SEARCH_MAX : undefined}
          value={filter}
          onChange={(event) => setFilter(event.target.value)}
        />
        {loading ? <span className="spinner" role="status" aria-label="Loading" /> : null}
      </header>
      {block.description ? <p className="block-description">{block.description}</p> : null}
      <DeclaredFilters
        table={title}
        filters={declaredFilters}
        columns={byName}
        inputs={filterInputs}
        onChange={(index, value) => setFilterInputs((current) => ({ ...current, [index]: value }))}
      />
      {adding ? (
        <NewRowForm
          title={title}
          columns={newRowColumns as ColumnView[]}
          busy={loading}
          onSave={(draft) => insertRow(block.name, insertValues(draft, newRowColumns))}
          onClose={() => setAdding(false)}
        />
      ) : null}
      <Message text={context?.message} type={context?.message_type} />
      {view?.error ? (
        <p className="table-error" role="alert">
          {view.error}
        </p>
      ) : null}
      <div className="table-scroll">
        <table>
          <thead>
            {table.getHeaderGroups().map((group) => (
              <tr key={group.id}>
                {group.headers.map((header) => {
                  const sorted = header.column.getIsSorted();
                  const label = (columnContext[header.column.id] as JsonObject | undefined)?.label;
                  const toggle = sqlTable
                    ? () => void queryTable(block.name, { sort: toggleSort(query?.sort ?? [], header.column.id) })
                    : header.column.getToggleSortingHandler();
                  return (
                    <th key={header.id} aria-sort={sorted === "asc" ? "ascending" : sorted === "desc" ? "descending" : undefined}>
                      {header.column.getCanSort() ? (
                        <button type="button" className="sort" onClick={toggle}>
                          {typeof label === "string" ? label : flexRender(header.column.columnDef.header, header.getContext())}
                          {sorted === "asc" ? " ▲" : sorted === "desc" ? " ▼" : ""}
                        </button>
                      ) : (
                        flexRender(header.column.columnDef.header, header.getContext())
                      )}
                    </th>
                  );
                })}
              </tr>
            ))}
          </thead>
          <tbody>
            {table.getRowModel().rows.map((row) => (
              <tr
                key={row.id}
                className={row.index === selected ? "selected" : undefined}
                aria-selected={selectable ? row.index === selected : undefined}
                tabIndex={selectable ? 0 : undefined}
                onClick={() => {
                  if (!selectable || row.index === selected) return;
                  setSelected(row.index);
                  selectRow(block.name, row.original);
                  if (block.on_row_change) void run(block.on_row_change, block.name);
                }}
                onKeyDown={(event) => {
                  if (event.key === "Enter" && event.target === event.currentTarget) event.currentTarget.click();
                }}
              >
                {row.getVisibleCells().map((cell) => (
                  <td key={cell.id}>{flexRender(cell.column.columnDef.cell, cell.getContext())}</td>
                ))}
              </tr>
            ))}
            {table.getRowModel().rows.length === 0 ? (
              <tr>
                <td className="empty" colSpan={Math.max(1, table.getVisibleLeafColumns().length)}>
                  {loading ? "Loading…" : "No rows"}
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
      {sqlTable ? (
        offset > 0 || more ? (
          <Pager
            title={title}
            offset={offset}
            shown={rows.length}
            total={total}
            canPrevious={offset > 0 && !loading}
            canNext={more && !loading}
            onPrevious={() => void queryTable(block.name, { offset: Math.max(0, offset - limit) })}
            onNext={() => void queryTable(block.name, { offset: offset + limit })}
          />
        ) : null
      ) : pages > 1 ? (
        <nav className="pager" aria-label={`${title} pages`}>
          <button type="button" onClick={() => table.previousPage()} disabled={!table.getCanPreviousPage()}>
            Previous
          </button>
          <span>
            Page {table.getState().pagination.pageIndex + 1} of {pages} · {table.getFilteredRowModel().rows.length} rows
          </span>
          <button type="button" onClick={() => table.nextPage()} disabled={!table.getCanNextPage()}>
            Next
          </button>
        </nav>
      ) : null}
    </section>
  );
}

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
import { useMemo, useState } from "react";
import type { BlockOf, ButtonColumn, DataColumn } from "../../model/catalog";
import { isDataColumn, labelOf } from "../../model/catalog";
import type { JsonObject } from "../../model/merge";
import { useBlockContext, usePage, useVisible } from "../../viewer/hooks";
import { Message } from "../../viewer/Message";
import type { BlockProps } from "../types";
import { CellEditor, formatCell } from "./cells";

type Row = Record<string, unknown>;

export function TableView({ block }: BlockProps<BlockOf<"table">>): React.JSX.Element | null {
  const context = useBlockContext(block.name);
  const visible = useVisible(block.display_rules, context?.visible);
  const run = usePage((state) => state.run);
  const selectRow = usePage((state) => state.selectRow);
  const editCell = usePage((state) => state.editCell);
  const busy = usePage((state) => Object.entries(state.busy).some(([origin, on]) => on && origin.startsWith(`${block.name}`)));
  const [sorting, setSorting] = useState<SortingState>([]);
  const [filter, setFilter] = useState("");
  const [selected, setSelected] = useState<number | null>(null);
  const rows = useMemo(() => (Array.isArray(context?.data) ? (context.data as Row[]) : []), [context?.data]);
  const columnContext = (context?.columns ?? {}) as JsonObject;

  const declared = block.columns ?? [];
  const columns = useMemo<ColumnDef<Row>[]>(() => {
    const choose = (index: number, row: Row) => {
      setSelected(index);
      selectRow(block.name, row);
    };
    const dataColumn = (column: DataColumn): ColumnDef<Row> => ({
      id: column.name,
      accessorFn: (row) => row[column.name],
      header: labelOf(column),
      cell: ({ row, getValue }) =>
        column.editable ? (
          <CellEditor
            column={column}
            value={getValue()}
            onCommit={(value) => {
              setSelected(row.index);
              editCell(block.name, row.index, column.name, value);
              if (block.on_edit) void run(block.on_edit, `${block.name}.${column.name}`);
            }}
          />
        ) : (
          formatCell(column, getValue())
        ),
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
    if (declared.length === 0 && rows.length > 0) {
      // A table without declared columns shows every field of its rows.
      return Object.keys(rows[0]).map((name) => dataColumn({ name, data_type: "text" } as DataColumn));
    }
    return declared.map((column) => (isDataColumn(column) ? dataColumn(column) : buttonColumn(column as ButtonColumn)));
  }, [block, declared, rows, run, selectRow, editCell]);

  const columnVisibility = Object.fromEntries(
    declared.map((column) => {
      const override = (columnContext[column.name] as JsonObject | undefined)?.visible;
      const hidden = isDataColumn(column) && column.hidden === true;
      return [column.name, typeof override === "boolean" ? override : !hidden];
    }),
  );
  const table = useReactTable({
    data: rows,
    columns,
    state: { sorting, globalFilter: filter, columnVisibility },
    onSortingChange: setSorting,
    onGlobalFilterChange: setFilter,
    getCoreRowModel: getCoreRowModel(),
    getSortedRowModel: getSortedRowModel(),
    getFilteredRowModel: getFilteredRowModel(),
    getPaginationRowModel: getPaginationRowModel(),
    initialState: { pagination: { pageSize: block.page_size ?? 20, pageIndex: 0 } },
    autoResetPageIndex: false,
  });
  if (!visible) return null;
  const title = typeof context?.label === "string" ? context.label : labelOf(block);
  const pages = table.getPageCount();
  const selectable = block.selectable ?? true;
  return (
    <section className="block table-block" aria-label={title} data-block={block.name} aria-busy={busy}>
      <header className="table-header">
        <h2 className="block-title">{title}</h2>
        <input
          className="table-filter"
          type="search"
          placeholder="Filter…"
          aria-label={`Filter ${title}`}
          value={filter}
          onChange={(event) => setFilter(event.target.value)}
        />
        {busy ? <span className="spinner" aria-label="Loading" /> : null}
      </header>
      {block.description ? <p className="block-description">{block.description}</p> : null}
      <Message text={context?.message} type={context?.message_type} />
      <div className="table-scroll">
        <table>
          <thead>
            {table.getHeaderGroups().map((group) => (
              <tr key={group.id}>
                {group.headers.map((header) => {
                  const sorted = header.column.getIsSorted();
                  const label = (columnContext[header.column.id] as JsonObject | undefined)?.label;
                  return (
                    <th
                      key={header.id}
                      aria-sort={sorted === "asc" ? "ascending" : sorted === "desc" ? "descending" : undefined}
                    >
                      {header.column.getCanSort() ? (
                        <button type="button" className="sort" onClick={header.column.getToggleSortingHandler()}>
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
            {rows.length === 0 ? (
              <tr>
                <td className="empty" colSpan={Math.max(1, table.getVisibleLeafColumns().length)}>
                  {busy ? "Loading…" : "No rows"}
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
      {pages > 1 ? (
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

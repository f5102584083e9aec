// SQL ("smart") tables in the viewer: what the runner learns about them (database.json facts in the page
// response), the table requests the viewer sends, and pure helpers over both (tested in tables.test.ts).
// The names follow appyard.runs (TableRequest, TableQuery, …) and appyard.database (TableFacts, ColumnFacts).
import type { DataColumn, Table } from "./catalog";
import type { TableFilter } from "../generated/properties";

/** How a filter compares (appyard.runs.FilterOperator; the generated catalog type is the one source). */
export type FilterOperator = NonNullable<TableFilter["operator"]>;

/** Operators without a value: the filter is on or off. */
export const VALUELESS: ReadonlySet<FilterOperator> = new Set(["is_null", "is_not_null"]);

export interface SortKey {
  column: string;
  descending: boolean;
}

export interface ColumnFilter {
  column: string;
  operator: FilterOperator;
  value?: unknown;
}

export interface TableQuery {
  offset: number;
  limit: number;
  sort: SortKey[];
  filters: ColumnFilter[];
  search: string | null;
  count: boolean;
}

export interface CellEdit {
  key: Record<string, unknown>;
  column: string;
  old: unknown;
  new: unknown;
}

export interface TableRequest {
  table: string;
  action: "query" | "update" | "insert" | "delete";
  query: TableQuery;
  edit?: CellEdit | null;
  values?: Record<string, unknown> | null;
  key?: Record<string, unknown> | null;
}

export interface CellConflict {
  key: Record<string, unknown>;
  column: string;
  message: string;
  current?: unknown;
}

export interface ColumnFacts {
  data_type: NonNullable<DataColumn["data_type"]>;
  db_type?: string;
  nullable?: boolean;
  primary_key?: boolean;
  base_column?: string | null;
  references?: string | null;
  has_default?: boolean;
}

export interface TableFacts {
  source?: string;
  base_table?: string | null;
  primary_key: string[];
  columns: Record<string, ColumnFacts>;
}

/** A declared filter of a table (properties.json `filters`; the operator defaults to equals). */
export type DeclaredFilter = TableFilter;

/** The table block (with the SQL-table fields: filters, insertable, deletable). */
export type TableBlock = Table;

/** A declared filter's operator (equals when left out). */
export function operatorOf(filter: DeclaredFilter): FilterOperator {
  return filter.operator ?? "equals";
}

export function firstQuery(pageSize: number): TableQuery {
  return { offset: 0, limit: pageSize, sort: [], filters: [], search: null, count: true };
}

/** Whether a query asks for what a plain run of the fetcher answers: the first page, unsorted, unfiltered. */
export function isFirstQuery(query: TableQuery): boolean {
  return query.offset === 0 && query.sort.length === 0 && query.filters.length === 0 && !query.search;
}

/**
 * The value a declared filter's input stands for, or undefined when the filter is off: blank text is off;
 * `in` takes comma-separated text as a list; a valueless operator is on when its box is checked.
 */
export function filterValue(operator: FilterOperator, input: unknown, dataType: string | null | undefined): unknown {
  if (VALUELESS.has(operator)) return input === true ? null : undefined;
  if (input === undefined || input === null) return undefined;
  if (typeof input === "string" && input.trim() === "") return undefined;
  const typed = (text: string): unknown => {
    if (dataType === "integer" || dataType === "float") {
      const number = Number(text);
      return Number.isFinite(number) ? number : text;
    }
    if (dataType === "boolean") return text === "true" ? true : text === "false" ? false : text;
    return text;
  };
  if (operator === "in") {
    const items = Array.isArray(input) ? input.map(String) : String(input).split(",");
    const kept = items.map((item) => item.trim()).filter((item) => item !== "");
    return kept.length > 0 ? kept.map(typed) : undefined;
  }
  return typeof input === "string" ? typed(input.trim()) : input;
}

/** The filters to send: one per declared filter that has a value (inputs are keyed by the filter's index). */
export function activeFilters(
  declared: DeclaredFilter[],
  inputs: Record<number, unknown>,
  dataTypes: Record<string, string | null | undefined>,
): ColumnFilter[] {
  const result: ColumnFilter[] = [];
  declared.forEach((filter, index) => {
    const operator = operatorOf(filter);
    const value = filterValue(operator, inputs[index], dataTypes[filter.column]);
    if (value === undefined) return;
    result.push(VALUELESS.has(operator) ? { column: filter.column, operator } : { column: filter.column, operator, value });
  });
  return result;
}

/** A row's primary key ({pk column: value}), or null when the facts name none or the row lacks one. */
export function keyOf(row: Record<string, unknown>, primaryKey: string[]): Record<string, unknown> | null {
  if (primaryKey.length === 0) return null;
  const key: Record<string, unknown> = {};
  for (const column of primaryKey) {
    if (!(column in row) || row[column] === null || row[column] === undefined) return null;
    key[column] = row[column];
  }
  return key;
}

/** Whether a row has this key (values compared as text: a bigint key may arrive as a number or a string). */
export function hasKey(row: Record<string, unknown>, key: Record<string, unknown>): boolean {
  const columns = Object.keys(key);
  return columns.length > 0 && columns.every((column) => String(row[column]) === String(key[column]));
}

/** The conflict on one cell, if any. */
export function conflictAt(
  conflicts: CellConflict[],
  row: Record<string, unknown>,
  column: string,
): CellConflict | undefined {
  return conflicts.find((conflict) => conflict.column === column && hasKey(row, conflict.key));
}

/**
 * Whether a cell of a SQL table can be edited in place: the column is declared editable, it maps to a column
 * of the base table (the database's facts say so), and it is not part of the primary key.
 */
export function smartEditable(column: DataColumn, facts: TableFacts | undefined): boolean {
  if (!column.editable || !facts) return false;
  const info = facts.columns[column.name];
  if (!info || !info.base_column) return false;
  return !facts.primary_key.includes(column.name) && info.primary_key !== true;
}

/** Columns a "new row" form asks for: data columns of the base table, leaving out keys the database fills. */
export function insertColumns(columns: DataColumn[], facts: TableFacts | undefined): DataColumn[] {
  if (!facts) return [];
  return columns.filter((column) => {
    const info = facts.columns[column.name];
    if (!info || !info.base_column) return false;
    return !((info.primary_key || facts.primary_key.includes(column.name)) && info.has_default);
  });
}

/** The values of a "new row" form to send: blank fields left out (the database's default or NULL applies). */
export function insertValues(draft: Record<string, unknown>, columns: DataColumn[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const column of columns) {
    const value = draft[column.name];
    if (value === undefined || value === null || value === "") continue;
    if ((column.data_type === "integer" || column.data_type === "float") && typeof value === "string") {
      const number = Number(value);
      values[column.name] = Number.isFinite(number) ? number : value;
    } else values[column.name] = value;
  }
  return values;
}

/** Columns with the database's data type filled in where properties.json leaves it out. */
export function withFacts(columns: DataColumn[], facts: TableFacts | undefined): DataColumn[] {
  if (!facts) return columns;
  return columns.map((column) =>
    column.data_type ? column : { ...column, data_type: facts.columns[column.name]?.data_type ?? "text" },
  );
}

/** The pager's words: "Rows 51–100 of 312", or "Rows 51–100" (with more) when the total is not counted. */
export function pageSummary(offset: number, shown: number, total: number | null | undefined): string {
  if (shown === 0) return total === 0 || total === null || total === undefined ? "No rows" : `No rows here (${total} in all)`;
  const range = `Rows ${offset + 1}–${offset + shown}`;
  return typeof total === "number" ? `${range} of ${total}` : range;
}

/** The next query when a column header is clicked: ascending, then descending, then unsorted. */
export function toggleSort(sort: SortKey[], column: string): SortKey[] {
  const current = sort.find((key) => key.column === column);
  if (!current) return [{ column, descending: false }];
  if (!current.descending) return [{ column, descending: true }];
  return [];
}

function compare(left: unknown, right: unknown): number {
  if (typeof left === "number" && typeof right === "number") return left - right;
  const a = Number(left);
  const b = Number(right);
  if (typeof left !== "boolean" && left !== "" && right !== "" && Number.isFinite(a) && Number.isFinite(b)) return a - b;
  return String(left).localeCompare(String(right));
}

/** Whether a row passes the filters (a Python table's declared filters run in the browser, on its rows). */
export function matchesFilters(row: Record<string, unknown>, filters: ColumnFilter[]): boolean {
  return filters.every(({ column, operator, value }) => {
    const cell = row[column];
    if (operator === "is_null") return cell === null || cell === undefined;
    if (operator === "is_not_null") return cell !== null && cell !== undefined;
    if (cell === null || cell === undefined) return false;
    const text = String(cell).toLowerCase();
    switch (operator) {
      case "equals":
        return compare(cell, value) === 0;
      case "not_equals":
        return compare(cell, value) !== 0;
      case "contains":
        return text.includes(String(value).toLowerCase());
      case "starts_with":
        return text.startsWith(String(value).toLowerCase());
      case "lt":
        return compare(cell, value) < 0;
      case "lte":
        return compare(cell, value) <= 0;
      case "gt":
        return compare(cell, value) > 0;
      case "gte":
        return compare(cell, value) >= 0;
      case "in":
        return Array.isArray(value) && value.some((item) => compare(cell, item) === 0);
      default:
        return true;
    }
  });
}

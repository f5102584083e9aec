import { describe, expect, it } from "vitest";
import type { DataColumn } from "./catalog";
import {
  type ColumnFilter,
  type DeclaredFilter,
  type FilterOperator,
  type TableFacts,
  activeFilters,
  conflictAt,
  filterValue,
  hasKey,
  insertColumns,
  insertValues,
  isFirstQuery,
  keyOf,
  matchesFilters,
  pageSummary,
  smartEditable,
  toggleSort,
  withFacts,
} from "./tables";

const facts: TableFacts = {
  source: "shop",
  base_table: "orders",
  primary_key: ["id"],
  columns: {
    id: { data_type: "integer", primary_key: true, base_column: "id", has_default: true },
    customer: { data_type: "text", base_column: "customer" },
    total: { data_type: "float", base_column: "total" },
    shipped: { data_type: "boolean", base_column: "shipped", has_default: true },
    items: { data_type: "integer", base_column: null },
  },
};

describe("declared filters", () => {
  it.each([
    ["equals", "", "text", undefined],
    ["equals", "  ", "text", undefined],
    ["equals", " Ada ", "text", "Ada"],
    ["gte", "10", "integer", 10],
    ["gte", "1.5", "float", 1.5],
    ["gte", "x", "integer", "x"], // the server answers a clear error for a bad number
    ["equals", "true", "boolean", true],
    ["in", "a, b,, c", "text", ["a", "b", "c"]],
    ["in", "1,2", "integer", [1, 2]],
    ["in", " , ", "text", undefined],
    ["is_null", true, "text", null],
    ["is_null", false, "text", undefined],
    ["is_not_null", undefined, "text", undefined],
    ["contains", "'; DROP TABLE orders; --", "text", "'; DROP TABLE orders; --"],
  ] as [FilterOperator, unknown, string, unknown][])("%s with %j (%s) is %j", (operator, input, type, value) => {
    expect(filterValue(operator, input, type)).toEqual(value);
  });

  it("sends only filters with a value, in declared order", () => {
    const declared: DeclaredFilter[] = [
      { column: "customer", operator: "contains" },
      { column: "total", operator: "gte" },
      { column: "shipped", operator: "is_null" },
    ];
    expect(activeFilters(declared, { 1: "20", 2: true }, { total: "float" })).toEqual([
      { column: "total", operator: "gte", value: 20 },
      { column: "shipped", operator: "is_null" },
    ]);
    expect(activeFilters(declared, {}, {})).toEqual([]);
    expect(activeFilters([{ column: "customer" }], { 0: "Ada" }, {})).toEqual([{ column: "customer", operator: "equals", value: "Ada" }]);
  });
});

describe("Python tables filter in the browser", () => {
  const rows = [
    { id: 1, customer: "Ada", total: 10, note: null },
    { id: 2, customer: "Grace", total: 25.5, note: "vip" },
    { id: 3, customer: "Alan", total: 7, note: "" },
  ];
  it.each([
    [[{ column: "customer", operator: "contains", value: "a" }], [1, 2, 3]],
    [[{ column: "customer", operator: "starts_with", value: "a" }], [1, 3]],
    [[{ column: "total", operator: "gte", value: 10 }], [1, 2]],
    [[{ column: "total", operator: "lt", value: "10" }], [3]],
    [[{ column: "id", operator: "in", value: [1, 3] }], [1, 3]],
    [[{ column: "note", operator: "is_null" }], [1]],
    [[{ column: "note", operator: "is_not_null" }], [2, 3]],
    [[{ column: "customer", operator: "not_equals", value: "Ada" }], [2, 3]],
    [[{ column: "customer", operator: "equals", value: "Ada" }, { column: "total", operator: "gt", value: 50 }], []],
  ] as [ColumnFilter[], number[]][])("%j keeps %j", (filters, ids) => {
    expect(rows.filter((row) => matchesFilters(row, filters)).map((row) => row.id)).toEqual(ids);
  });
});

describe("keys and conflicts", () => {
  it.each([
    [{ id: 5, customer: "Ada" }, ["id"], { id: 5 }],
    [{ a: 1, b: "x" }, ["a", "b"], { a: 1, b: "x" }],
    [{ customer: "Ada" }, ["id"], null],
    [{ id: null }, ["id"], null],
    [{ id: 5 }, [], null],
  ] as [Record<string, unknown>, string[], unknown][])("keyOf(%j, %j) = %j", (row, pk, key) => {
    expect(keyOf(row, pk)).toEqual(key);
  });

  it("matches keys by value whatever their JSON type", () => {
    expect(hasKey({ id: 5 }, { id: "5" })).toBe(true);
    expect(hasKey({ id: 5 }, { id: 6 })).toBe(false);
    expect(hasKey({ id: 5 }, {})).toBe(false);
  });

  it("finds the conflict of one cell", () => {
    const conflicts = [{ key: { id: 2 }, column: "customer", message: "Changed meanwhile", current: "Bob" }];
    expect(conflictAt(conflicts, { id: 2 }, "customer")?.current).toBe("Bob");
    expect(conflictAt(conflicts, { id: 2 }, "total")).toBeUndefined();
    expect(conflictAt(conflicts, { id: 3 }, "customer")).toBeUndefined();
  });
});

describe("smart edits", () => {
  const col = (name: string, editable = true): DataColumn => ({ name, editable });
  it.each([
    ["customer", true, true],
    ["customer", false, false],
    ["id", true, false], // the primary key is never editable
    ["items", true, false], // computed by the query: no base column
    ["missing", true, false],
  ] as [string, boolean, boolean][])("%s (editable: %s) can be edited in place: %s", (name, editable, expected) => {
    expect(smartEditable(col(name, editable), facts)).toBe(expected);
  });

  it("cannot edit without facts", () => {
    expect(smartEditable(col("customer"), undefined)).toBe(false);
  });

  it("asks a new row for the base table's columns, not keys the database fills", () => {
    const columns = ["id", "customer", "total", "shipped", "items"].map((name) => col(name, false));
    expect(insertColumns(columns, facts).map((column) => column.name)).toEqual(["customer", "total", "shipped"]);
    expect(insertColumns(columns, undefined)).toEqual([]);
  });

  it("sends a new row's typed values and leaves blanks to the database", () => {
    const columns: DataColumn[] = [
      { name: "customer", data_type: "text" },
      { name: "total", data_type: "float" },
      { name: "note", data_type: "text" },
    ];
    expect(insertValues({ customer: "Ada", total: "12.5", note: "" }, columns)).toEqual({ customer: "Ada", total: 12.5 });
  });

  it("takes a column's data type from the database when properties.json leaves it out", () => {
    const columns = withFacts([{ name: "total" }, { name: "customer", data_type: "json" }, { name: "other" }], facts);
    expect(columns.map((column) => column.data_type)).toEqual(["float", "json", "text"]);
  });
});

describe("paging and sorting", () => {
  it.each([
    [0, 50, 312, "Rows 1–50 of 312"],
    [50, 50, null, "Rows 51–100"],
    [300, 12, 312, "Rows 301–312 of 312"],
    [0, 0, 0, "No rows"],
    [400, 0, 312, "No rows here (312 in all)"],
  ] as [number, number, number | null, string][])("offset %d, %d shown, total %j: %s", (offset, shown, total, text) => {
    expect(pageSummary(offset, shown, total)).toBe(text);
  });

  it("knows the first page a plain run answers", () => {
    expect(isFirstQuery({ offset: 0, limit: 20, sort: [], filters: [], search: null, count: true })).toBe(true);
    expect(isFirstQuery({ offset: 20, limit: 20, sort: [], filters: [], search: null, count: true })).toBe(false);
    expect(isFirstQuery({ offset: 0, limit: 20, sort: [{ column: "id", descending: true }], filters: [], search: null, count: true })).toBe(false);
    expect(isFirstQuery({ offset: 0, limit: 20, sort: [], filters: [], search: "x", count: true })).toBe(false);
  });

  it("cycles a header through ascending, descending and unsorted", () => {
    const once = toggleSort([], "total");
    expect(once).toEqual([{ column: "total", descending: false }]);
    const twice = toggleSort(once, "total");
    expect(twice).toEqual([{ column: "total", descending: true }]);
    expect(toggleSort(twice, "total")).toEqual([]);
    expect(toggleSort(twice, "customer")).toEqual([{ column: "customer", descending: false }]);
  });
});

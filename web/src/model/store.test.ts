import { describe, expect, it } from "vitest";
import type { PageProperties } from "../generated/properties";
import { cellId, createPageStore, fetchers } from "./store";

const properties: PageProperties = {
  blocks: [
    {
      block_type: "widget",
      name: "form",
      components: [
        { component_type: "input", name: "count", data_type: "integer", default: 5 },
        { component_type: "select", name: "zone", options_fetcher: "zones" },
        { component_type: "boolean", name: "flag", default: true },
        { component_type: "button", name: "go", on_click: "run" },
      ],
    },
    { block_type: "table", name: "rows", fetcher: "load", columns: [{ name: "id", data_type: "integer" }, { column_type: "button", name: "open", on_click: "open" }] },
  ],
};

function store() {
  return createPageStore({ app: "a", page: "p", properties, functions: ["run", "load", "zones", "open"] });
}

describe("the page store", () => {
  it("starts from the components' defaults", () => {
    expect(store().getState().state).toEqual({ form: { count: 5, flag: true }, rows: {} });
  });

  it("keeps only declared columns of a selected row in State", () => {
    const page = store();
    page.getState().selectRow("rows", { id: 7, secret: "x" });
    expect(page.getState().state.rows).toEqual({ id: 7 });
  });

  it("applies context changes, and values set by scripts become the components' values", () => {
    const page = store();
    page.getState().applyContext({ form: { components: { count: { value: 9, message: "nine" } } }, rows: { data: [{ id: 1 }] } });
    expect(page.getState().state.form.count).toBe(9);
    expect(page.getState().context).toEqual({
      form: { components: { count: { value: 9, message: "nine" } } },
      rows: { data: [{ id: 1 }] },
    });
  });

  it("edits a cell: the row in the table and the edited row in State", () => {
    const page = store();
    page.getState().applyContext({ rows: { data: [{ id: 1 }, { id: 2 }] } });
    page.getState().editCell("rows", 1, "id", 20);
    expect((page.getState().context.rows as { data: unknown[] }).data).toEqual([{ id: 1 }, { id: 20 }]);
    expect(page.getState().state.rows).toEqual({ id: 20 });
  });

  it("knows which functions run when the page opens", () => {
    expect(fetchers(properties.blocks ?? [])).toEqual([
      { fn: "zones", origin: "form.zone" },
      { fn: "load", origin: "rows" },
    ]);
  });

  it("knows a SQL table from its fetcher and starts its view at the first page", () => {
    const page = createPageStore({
      app: "a",
      page: "p",
      properties: { blocks: [...(properties.blocks ?? []), { block_type: "table", name: "orders", fetcher: "orders_sql", page_size: 50 }] },
      functions: ["run", "load", "zones", "open", "orders_sql"],
      sqlFunctions: ["orders_sql"],
    });
    expect(page.getState().isSqlTable("orders")).toBe(true);
    expect(page.getState().isSqlTable("rows")).toBe(false);
    expect(Object.keys(page.getState().tableViews)).toEqual(["orders"]);
    expect(page.getState().tableViews.orders.query).toEqual({ offset: 0, limit: 50, sort: [], filters: [], search: null, count: true });
  });

  it("names unsaved cells by key and column", () => {
    expect(cellId({ id: 5 }, "total")).toBe('{"id":5}|total');
  });
});

import { describe, expect, it } from "vitest";
import type { PageProperties } from "../generated/properties";
import { addBlock, addColumn, addComponent, freeName, issuesFor, locate, move, nameProblem, relayout, remove, selected, update } from "./draft";

const empty: PageProperties = { blocks: [] };

describe("editing a draft page", () => {
  it("adds blocks, components and columns with free names, below what is there", () => {
    let { page } = addBlock(empty, "widget");
    ({ page } = addBlock(page, "widget"));
    expect(page.blocks?.map((block) => block.name)).toEqual(["widget", "widget_2"]);
    expect(page.blocks?.[1].layout?.y).toBe(5);
    const added = addComponent(page, 0, "input");
    expect(added?.selection).toEqual({ kind: "component", block: 0, index: 0 });
    const table = addBlock(added?.page ?? page, "table");
    const column = addColumn(table.page, 2, "button");
    expect(selected(column?.page ?? page, column?.selection ?? null)).toMatchObject({ column_type: "button", name: "action" });
    expect(addComponent(table.page, 2, "input")).toBeNull(); // a table holds columns, not components
  });

  it("updates, moves and removes what is selected", () => {
    let { page } = addBlock(empty, "widget");
    page = addComponent(page, 0, "input")?.page ?? page;
    page = addComponent(page, 0, "button")?.page ?? page;
    page = update(page, { kind: "component", block: 0, index: 1 }, { component_type: "button", name: "go", label: "Go" });
    const moved = move(page, { kind: "component", block: 0, index: 1 }, -1);
    expect(moved.selection).toEqual({ kind: "component", block: 0, index: 0 });
    const block = moved.page.blocks?.[0];
    expect(block?.block_type === "widget" ? block.components?.map((item) => item.name) : []).toEqual(["go", "input"]);
    expect(remove(moved.page, { kind: "block", block: 0 }).blocks).toEqual([]);
  });

  it("keeps a block's components when its own properties change", () => {
    let { page } = addBlock(empty, "widget");
    page = addComponent(page, 0, "text")?.page ?? page;
    page = update(page, { kind: "block", block: 0 }, { block_type: "widget", name: "renamed", widget_type: "modal" });
    const block = page.blocks?.[0];
    expect(block?.name).toBe("renamed");
    expect(block?.block_type === "widget" ? block.components?.length : 0).toBe(1);
  });

  it("changes layouts only when they moved", () => {
    const { page } = addBlock(empty, "table");
    expect(relayout(page, [{ i: "table", x: 0, y: 0, w: 12, h: 8 }])).toBe(page);
    expect(relayout(page, [{ i: "table", x: 0, y: 3, w: 6, h: 8 }]).blocks?.[0].layout).toEqual({ x: 0, y: 3, w: 6, h: 8 });
  });

  it("points validation issues at the item and property they are about", () => {
    expect(locate("blocks[1].components[2].on_click")).toEqual({ selection: { kind: "component", block: 1, index: 2 }, field: "on_click" });
    expect(locate("blocks[0].columns[1]")).toEqual({ selection: { kind: "column", block: 0, index: 1 }, field: null });
    expect(locate("blocks[3].name")).toEqual({ selection: { kind: "block", block: 3 }, field: "name" });
    const issues = [
      { file: "f", path: "blocks[1].components[2].on_click", message: "function 'x' not found" },
      { file: "f", path: "blocks[1].name", message: "duplicate" },
    ];
    expect(issuesFor(issues, { kind: "component", block: 1, index: 2 })).toEqual(new Map([["on_click", ["function 'x' not found"]]]));
  });

  it("checks names", () => {
    expect(freeName("input", ["input", "input_2"])).toBe("input_3");
    expect(nameProblem("two words", [])).toMatch(/letters, digits/);
    expect(nameProblem("taken", ["taken"])).toMatch(/already used/);
    expect(nameProblem("fine_name", [])).toBeNull();
  });
});

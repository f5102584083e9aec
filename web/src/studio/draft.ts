// Editing a page's properties in the Studio: pure functions over a draft, so they are easy to test.
import type { Block, Column, Component, ComponentType, PageProperties } from "../model/catalog";

/** What is selected: a block, a component of a widget, or a column of a table. */
export type Selection =
  | { kind: "block"; block: number }
  | { kind: "component"; block: number; index: number }
  | { kind: "column"; block: number; index: number };

export interface Issue {
  file: string;
  path: string;
  message: string;
}

const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_]*$/;

/** A name that is unused among ``taken``: ``base``, ``base_2``, ``base_3``… */
export function freeName(base: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  if (!used.has(base)) return base;
  for (let number = 2; ; number += 1) if (!used.has(`${base}_${number}`)) return `${base}_${number}`;
}

/** Why a name cannot be used, or null. The server checks the full rules on save. */
export function nameProblem(name: string, taken: Iterable<string>): string | null {
  if (!IDENTIFIER.test(name)) return "use letters, digits and underscores, starting with a letter";
  if ([...taken].includes(name)) return `${name} is already used here`;
  return null;
}

function blocks(page: PageProperties): Block[] {
  return page.blocks ?? [];
}

function nextRow(page: PageProperties): number {
  return Math.max(0, ...blocks(page).map((block) => (block.layout ? (block.layout.y ?? 0) + (block.layout.h ?? 6) : 0)));
}

export function addBlock(page: PageProperties, kind: Block["block_type"]): { page: PageProperties; selection: Selection } {
  const name = freeName(kind === "widget" ? "widget" : "table", blocks(page).map((block) => block.name));
  const layout = { x: 0, y: nextRow(page), w: kind === "table" ? 12 : 6, h: kind === "table" ? 8 : 5 };
  const block: Block =
    kind === "widget"
      ? { block_type: "widget", name, components: [], layout }
      : { block_type: "table", name, columns: [{ name: "id", data_type: "integer" }], layout };
  const next = { ...page, blocks: [...blocks(page), block] };
  return { page: next, selection: { kind: "block", block: next.blocks.length - 1 } };
}

const COMPONENT_DEFAULTS: { [K in ComponentType]: Omit<Extract<Component, { component_type: K }>, "name"> } = {
  input: { component_type: "input" },
  select: { component_type: "select", options: [] },
  boolean: { component_type: "boolean" },
  button: { component_type: "button" },
  text: { component_type: "text", text: "Some **markdown** text." },
};

export function addComponent(
  page: PageProperties,
  blockIndex: number,
  kind: ComponentType,
): { page: PageProperties; selection: Selection } | null {
  const block = blocks(page)[blockIndex];
  if (!block || block.block_type !== "widget") return null;
  const existing = block.components ?? [];
  const component = { ...COMPONENT_DEFAULTS[kind], name: freeName(kind, existing.map((item) => item.name)) } as Component;
  const updated = { ...block, components: [...existing, component] };
  return {
    page: replaceBlock(page, blockIndex, updated),
    selection: { kind: "component", block: blockIndex, index: existing.length },
  };
}

export function addColumn(page: PageProperties, blockIndex: number, kind: "data" | "button"): { page: PageProperties; selection: Selection } | null {
  const block = blocks(page)[blockIndex];
  if (!block || block.block_type !== "table") return null;
  const existing = block.columns ?? [];
  const name = freeName(kind === "data" ? "column" : "action", existing.map((item) => item.name));
  const column: Column = kind === "data" ? { name, data_type: "text" } : { column_type: "button", name, on_click: "" };
  const updated = { ...block, columns: [...existing, column] };
  return { page: replaceBlock(page, blockIndex, updated), selection: { kind: "column", block: blockIndex, index: existing.length } };
}

export function replaceBlock(page: PageProperties, index: number, block: Block): PageProperties {
  return { ...page, blocks: blocks(page).map((item, position) => (position === index ? block : item)) };
}

/** The properties of what is selected. */
export function selected(page: PageProperties, selection: Selection | null): Block | Component | Column | null {
  if (!selection) return null;
  const block = blocks(page)[selection.block];
  if (!block) return null;
  if (selection.kind === "block") return block;
  if (selection.kind === "component") return block.block_type === "widget" ? (block.components ?? [])[selection.index] ?? null : null;
  return block.block_type === "table" ? (block.columns ?? [])[selection.index] ?? null : null;
}

/** Replace what is selected (keeping a block's components and columns, which the canvas edits). */
export function update(page: PageProperties, selection: Selection, value: Block | Component | Column): PageProperties {
  const block = blocks(page)[selection.block];
  if (selection.kind === "block") {
    const merged = { ...value } as Block;
    if (block.block_type === "widget" && merged.block_type === "widget") merged.components = block.components;
    if (block.block_type === "table" && merged.block_type === "table") merged.columns = block.columns;
    merged.layout = block.layout;
    return replaceBlock(page, selection.block, merged);
  }
  if (selection.kind === "component" && block.block_type === "widget") {
    const components = (block.components ?? []).map((item, index) => (index === selection.index ? (value as Component) : item));
    return replaceBlock(page, selection.block, { ...block, components });
  }
  if (selection.kind === "column" && block.block_type === "table") {
    const columns = (block.columns ?? []).map((item, index) => (index === selection.index ? (value as Column) : item));
    return replaceBlock(page, selection.block, { ...block, columns });
  }
  return page;
}

export function remove(page: PageProperties, selection: Selection): PageProperties {
  if (selection.kind === "block") return { ...page, blocks: blocks(page).filter((_, index) => index !== selection.block) };
  const block = blocks(page)[selection.block];
  if (selection.kind === "component" && block.block_type === "widget") {
    return replaceBlock(page, selection.block, { ...block, components: (block.components ?? []).filter((_, index) => index !== selection.index) });
  }
  if (selection.kind === "column" && block.block_type === "table") {
    return replaceBlock(page, selection.block, { ...block, columns: (block.columns ?? []).filter((_, index) => index !== selection.index) });
  }
  return page;
}

/** Move components within a widget (up: -1, down: +1). */
export function move(page: PageProperties, selection: Selection, step: -1 | 1): { page: PageProperties; selection: Selection } {
  if (selection.kind === "block") return { page, selection };
  const block = blocks(page)[selection.block];
  const items: unknown[] = block.block_type === "widget" ? [...(block.components ?? [])] : [...(block.columns ?? [])];
  const target = selection.index + step;
  if (target < 0 || target >= items.length) return { page, selection };
  [items[selection.index], items[target]] = [items[target], items[selection.index]];
  const updated = block.block_type === "widget" ? { ...block, components: items as Component[] } : { ...block, columns: items as Column[] };
  return { page: replaceBlock(page, selection.block, updated as Block), selection: { ...selection, index: target } };
}

/** Blocks' grid positions after a drag or resize. */
export function relayout(page: PageProperties, layout: { i: string; x: number; y: number; w: number; h: number }[]): PageProperties {
  const byName = new Map(layout.map((item) => [item.i, item]));
  let changed = false;
  const next = blocks(page).map((block) => {
    const item = byName.get(block.name);
    if (!item) return block;
    const current = block.layout;
    if (current && current.x === item.x && current.y === item.y && current.w === item.w && current.h === item.h) return block;
    changed = true;
    return { ...block, layout: { x: item.x, y: item.y, w: item.w, h: item.h } };
  });
  return changed ? { ...page, blocks: next } : page;
}

/** The selection a JSON path of a validation issue points into, and the property it names. */
export function locate(path: string): { selection: Selection | null; field: string | null } {
  const match = /^blocks\[(\d+)\](?:\.(components|columns)\[(\d+)\])?(?:\.([A-Za-z_]+))?/.exec(path);
  if (!match) return { selection: null, field: null };
  const block = Number(match[1]);
  const field = match[4] ?? null;
  if (match[2] === "components") return { selection: { kind: "component", block, index: Number(match[3]) }, field };
  if (match[2] === "columns") return { selection: { kind: "column", block, index: Number(match[3]) }, field };
  return { selection: { kind: "block", block }, field };
}

export function sameSelection(a: Selection | null, b: Selection | null): boolean {
  if (!a || !b) return a === b;
  return a.kind === b.kind && a.block === b.block && (a.kind === "block" || a.index === (b as { index: number }).index);
}

/** Issues about what is selected, by property (for the property form). */
export function issuesFor(issues: Issue[], selection: Selection | null): Map<string, string[]> {
  const result = new Map<string, string[]>();
  for (const issue of issues) {
    const { selection: target, field } = locate(issue.path);
    if (!sameSelection(target, selection)) continue;
    const key = field ?? "";
    result.set(key, [...(result.get(key) ?? []), issue.message]);
  }
  return result;
}

/** The source of a new function's script, with the signature every page function has. */
export function functionStub(name: string): string {
  return `"""${name}: a function of this page."""

from ..context import Context
from ..state import State


def ${name}(state: State, context: Context) -> Context:
    """Describe what this function does; it runs when its event fires."""
    return context
`;
}

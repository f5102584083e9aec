// Names for the catalog's generated types (src/generated/properties.ts comes from the SDK's models).
import type {
  ButtonColumn,
  DataColumn,
  DisplayRules,
  PageProperties,
  Table,
  Widget,
} from "../generated/properties";

export type { ButtonColumn, DataColumn, DisplayRules, PageProperties, Table, Widget };
export type Block = PageProperties["blocks"] extends (infer B)[] | undefined ? B : never;
export type BlockType = Block["block_type"];
export type Component = NonNullable<Widget["components"]>[number];
export type ComponentType = Component["component_type"];
export type ComponentOf<K extends ComponentType> = Extract<Component, { component_type: K }>;
export type BlockOf<K extends BlockType> = Extract<Block, { block_type: K }>;
export type Column = NonNullable<Table["columns"]>[number];

/** The label users see: the declared one, or the name in sentence case (as the SDK does). */
export function labelOf(item: { name: string; label?: string | null }): string {
  if (item.label) return item.label;
  const words = item.name.replace(/_/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function isDataColumn(column: Column): column is DataColumn {
  return column.column_type !== "button";
}

/** Components whose value is part of State (buttons and text have none). */
export function hasState(component: Component): boolean {
  return component.component_type !== "button" && component.component_type !== "text";
}

// Turning the catalog's JSON schemas (from /api/components) into property forms.
//
// pydantic writes an optional field as {"anyOf": [X, {"type": "null"}]}; a form wants X (an empty field is
// null). Properties the canvas edits (components, columns, layout) and the type tags are left out, and
// every property keeps its "group" so the form can show them grouped as the catalog says.
import type { RJSFSchema, UiSchema } from "@rjsf/utils";

export type Schema = Record<string, unknown>;

export const HIDDEN = new Set(["component_type", "block_type", "column_type", "components", "columns", "layout"]);
export const GROUP_LABELS: Record<string, string> = {
  general: "General",
  data: "Data",
  validation: "Validation",
  display: "Display",
  events: "Events",
  layout: "Layout",
};

function withoutNull(property: Schema): Schema {
  const options = property.anyOf as Schema[] | undefined;
  if (!Array.isArray(options)) return property;
  const real = options.filter((option) => option.type !== "null");
  if (real.length !== 1) return property;
  const { anyOf: _anyOf, ...rest } = property;
  return { ...real[0], ...rest };
}

function humanize(name: string): string {
  const words = name.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Is this property a reference to a function of the page (on_click, fetcher, …)? */
export function isFunctionRef(property: Schema): boolean {
  return property["x-appyard-ref"] === "function";
}

export function formSchema(schema: Schema): { schema: RJSFSchema; uiSchema: UiSchema } {
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const kept: Record<string, Schema> = {};
  const uiSchema: UiSchema = { "ui:submitButtonOptions": { norender: true } };
  for (const [name, raw] of Object.entries(properties)) {
    if (HIDDEN.has(name)) continue;
    const property = withoutNull(raw);
    kept[name] = property;
    if (isFunctionRef(property)) uiSchema[name] = { "ui:widget": "functionRef" };
    else if (name === "display_rules" || name === "default") uiSchema[name] = { "ui:field": "json", "ui:title": raw.title ?? humanize(name) };
    else if (name === "text" || name === "description") uiSchema[name] = { "ui:widget": "textarea" };
  }
  return {
    schema: { ...schema, properties: kept, required: ((schema.required as string[]) ?? []).filter((name) => name in kept) } as RJSFSchema,
    uiSchema,
  };
}

/** Property names grouped in the catalog's group order. */
export function grouped(names: string[], schema: Schema, order: string[]): [string, string[]][] {
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const groups = new Map<string, string[]>();
  for (const name of names) {
    const group = String(properties[name]?.group ?? "general");
    groups.set(group, [...(groups.get(group) ?? []), name]);
  }
  return order.filter((group) => groups.has(group)).map((group) => [group, groups.get(group) as string[]]);
}

import { describe, expect, it } from "vitest";
import { type JsonObject, merge } from "./merge";

const base: JsonObject = {
  form: { visible: null, components: { name: { value: null }, go: { disabled: null } } },
  table: { data: [{ id: 1 }], columns: { id: { visible: null } } },
};

describe("merging a run's changes", () => {
  it("applies nested changes", () => {
    const next = merge(base, { form: { components: { name: { value: "Ada" } } } });
    expect(next).toEqual({ ...base, form: { visible: null, components: { name: { value: "Ada" }, go: { disabled: null } } } });
  });

  it("keeps untouched parts as the same objects, so their components do not re-render", () => {
    const next = merge(base, { form: { components: { name: { value: "Ada" } } } });
    expect(next.table).toBe(base.table);
    expect((next.form as JsonObject).components).not.toBe((base.form as JsonObject).components);
    expect(((next.form as JsonObject).components as JsonObject).go).toBe(((base.form as JsonObject).components as JsonObject).go);
  });

  it("replaces lists whole and returns the same object when nothing changes", () => {
    expect((merge(base, { table: { data: [] } }).table as JsonObject).data).toEqual([]);
    expect(merge(base, { form: { visible: null } })).toBe(base);
    expect(merge(base, {})).toBe(base);
  });
});

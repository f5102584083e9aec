// Applying a run's context changes (what the function set) to what the page shows.
// Only the objects along changed paths are replaced, so components whose part did not change keep the
// same object and are not re-rendered.
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function merge(base: JsonObject, changes: JsonObject): JsonObject {
  let result: JsonObject | null = null;
  for (const [key, change] of Object.entries(changes)) {
    const current = base[key];
    const next = isObject(change) && isObject(current) ? merge(current, change) : change;
    if (next !== current) {
      result ??= { ...base };
      result[key] = next;
    }
  }
  return result ?? base;
}

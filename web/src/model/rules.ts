// Display rules: the same semantics as appyard.catalog.rules (tested against tests/cases/display_rules.json).
import type { AllOf, AnyOf, Comparison, DisplayRules } from "../generated/properties";

export type Values = Record<string, Record<string, unknown> | undefined>;
type Condition = Comparison | AllOf | AnyOf;

function isEmpty(value: unknown): boolean {
  return value === null || value === undefined || value === "" || (Array.isArray(value) && value.length === 0);
}

function comparable(left: unknown, right: unknown): boolean {
  if (typeof left === "boolean" || typeof right === "boolean") return false;
  return (typeof left === "number" && typeof right === "number") || (typeof left === "string" && typeof right === "string");
}

function same(left: unknown, right: unknown): boolean {
  if (Array.isArray(left) && Array.isArray(right)) {
    return left.length === right.length && left.every((item, index) => same(item, right[index]));
  }
  return (left ?? null) === (right ?? null);
}

export function compare(operator: Comparison["operator"], left: unknown, right: unknown): boolean {
  switch (operator) {
    case "exists":
      return !isEmpty(left);
    case "not_exists":
      return isEmpty(left);
    case "equals":
      return same(left, right);
    case "not_equals":
      return !same(left, right);
    default: {
      if (!comparable(left, right)) return false;
      const [a, b] = [left as number | string, right as number | string];
      if (operator === "gt") return a > b;
      if (operator === "gte") return a >= b;
      if (operator === "lt") return a < b;
      return a <= b;
    }
  }
}

export function lookup(values: Values, target: string): unknown {
  const dot = target.indexOf(".");
  const block = values[dot < 0 ? target : target.slice(0, dot)];
  return block ? block[target.slice(dot + 1)] : undefined;
}

export function holds(condition: Condition, values: Values): boolean {
  if ("all" in condition) return condition.all.every((child) => holds(child, values));
  if ("any" in condition) return condition.any.some((child) => holds(child, values));
  return compare(condition.operator, lookup(values, condition.target), condition.value ?? null);
}

/** Whether a block or component with these rules is visible for these values. */
export function evaluate(rules: DisplayRules | null | undefined, values: Values): boolean {
  if (!rules) return true;
  const result = holds(rules.when, values);
  return (rules.action ?? "show") === "show" ? result : !result;
}

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import type { DisplayRules } from "../generated/properties";
import { evaluate, type Values } from "./rules";

// The same cases the SDK's reference implementation is tested with (tests/cases/display_rules.json).
interface Case {
  id: string;
  rules: DisplayRules | null;
  state: Values;
  visible: boolean;
}
const cases = JSON.parse(readFileSync(resolve(process.cwd(), "../tests/cases/display_rules.json"), "utf8")) as Case[];

describe("display rules agree with the SDK", () => {
  it("has the shared cases", () => expect(cases.length).toBeGreaterThan(20));
  for (const item of cases) {
    it(item.id, () => expect(evaluate(item.rules, item.state)).toBe(item.visible));
  }
});

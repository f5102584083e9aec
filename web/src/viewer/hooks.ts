// Reading one page's store from components: each reads only its own slice.
import { createContext, useContext } from "react";
import { useStore } from "zustand";
import type { DisplayRules } from "../model/catalog";
import type { JsonObject } from "../model/merge";
import { evaluate } from "../model/rules";
import type { PageState, PageStore } from "../model/store";

export const PageStoreContext = createContext<PageStore | null>(null);

export function usePageStore(): PageStore {
  const store = useContext(PageStoreContext);
  if (!store) throw new Error("usePageStore outside a page");
  return store;
}

export function usePage<T>(selector: (state: PageState) => T): T {
  return useStore(usePageStore(), selector);
}

/** What runs set for a block (context[block]). */
export function useBlockContext(block: string): JsonObject | undefined {
  return usePage((state) => state.context[block] as JsonObject | undefined);
}

/** What runs set for a component (context[block].components[name]). */
export function useComponentContext(block: string, name: string): JsonObject | undefined {
  return usePage((state) => ((state.context[block] as JsonObject | undefined)?.components as JsonObject | undefined)?.[name] as JsonObject | undefined);
}

/** Visible: what a run said (context .visible), else the display rules over the current values. */
export function useVisible(rules: DisplayRules | null | undefined, override: unknown): boolean {
  const byRules = usePage((state) => evaluate(rules, state.state));
  return typeof override === "boolean" ? override : byRules;
}

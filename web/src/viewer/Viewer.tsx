// The end-user view of a page (/apps/<app>/<page>): load it, run its fetchers, render it.
import { useEffect, useState } from "react";
import { ApiError, api, unwrap, type PagePublic } from "../api/client";
import type { PageProperties } from "../generated/properties";
import { createPageStore, fetchers, type PageStore } from "../model/store";
import type { TableFacts } from "../model/tables";
import { PageStoreContext } from "./hooks";
import { PageView } from "./PageView";

export function storeFor(page: PagePublic): PageStore {
  return createPageStore({
    app: page.app,
    page: page.name,
    properties: page.properties as unknown as PageProperties,
    functions: page.functions.map((item) => item.name),
    // SQL tables (issue 11): functions from .sql files, and what the database says about each table.
    sqlFunctions: page.functions.filter((item) => item.kind === "sql").map((item) => item.name),
    facts: (page.tables ?? {}) as Record<string, TableFacts>,
  });
}

/** Render a loaded page and run its fetchers once. */
export function LivePage({ store }: { store: PageStore }): React.JSX.Element {
  useEffect(() => {
    const { properties, run } = store.getState();
    for (const { fn, origin } of fetchers(properties.blocks ?? [])) void run(fn, origin);
  }, [store]);
  return (
    <PageStoreContext.Provider value={store}>
      <PageView />
    </PageStoreContext.Provider>
  );
}

export function Viewer({ app, page }: { app: string; page: string }): React.JSX.Element {
  const [loaded, setLoaded] = useState<{ page: PagePublic; store: PageStore } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    let cancelled = false;
    setLoaded(null);
    setProblem(null);
    api
      .GET("/api/apps/{app}/pages/{page}", { params: { path: { app, page } } })
      .then(unwrap)
      .then((data) => {
        if (!cancelled) setLoaded({ page: data, store: storeFor(data) });
      })
      .catch((error: unknown) => {
        if (!cancelled) setProblem(error instanceof ApiError ? error.message : String(error));
      });
    return () => {
      cancelled = true;
    };
  }, [app, page]);
  if (problem) {
    return (
      <div className="problem" role="alert">
        <h1>This page cannot be shown</h1>
        <p>{problem}</p>
      </div>
    );
  }
  if (!loaded) return <div className="loading" aria-busy="true">Loading…</div>;
  return (
    <>
      <h1 className="page-title">{loaded.page.label}</h1>
      <LivePage store={loaded.store} />
    </>
  );
}

import { useEffect, useState } from "react";
import { useMe } from "../api/auth";
import { api, unwrap, type AppSummary } from "../api/client";
import { onLink } from "../router";

export function useApps(): AppSummary[] | null {
  const [apps, setApps] = useState<AppSummary[] | null>(null);
  useEffect(() => {
    api.GET("/api/apps").then(unwrap).then(setApps).catch(() => setApps([]));
  }, []);
  return apps;
}

/** The landing page: every app the user may use, with its pages. */
export function AppList(): React.JSX.Element {
  const apps = useApps();
  const me = useMe();
  if (apps === null) return <div className="loading">Loading…</div>;
  return (
    <div className="app-list">
      <h1>Apps</h1>
      {apps.length === 0 ? (
        me?.admin && !me.read_only ? (
          <p>
            No apps yet. Create one in the <a href="/studio" onClick={onLink}>Studio</a>.
          </p>
        ) : (
          <p>No apps for you yet: ask an app&apos;s owner for access.</p>
        )
      ) : null}
      <ul>
        {apps.map((app) => (
          <li key={app.name}>
            <h2>{app.label}</h2>
            {app.description ? <p>{app.description}</p> : null}
            <nav aria-label={`${app.label} pages`}>
              {app.pages.map((page) => (
                <a key={page.name} href={`/apps/${app.name}/${page.name}`} onClick={onLink}>
                  {page.label}
                </a>
              ))}
            </nav>
          </li>
        ))}
      </ul>
    </div>
  );
}

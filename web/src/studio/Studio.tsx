// The Studio (/studio): create and open apps and pages, and edit them (see Editor).
import { useEffect, useState } from "react";
import { editsAnything, may, useMe, type Me } from "../api/auth";
import { ApiError, api, unwrap, type AppSummary } from "../api/client";
import { navigate, onLink } from "../router";
import { type Catalog, Editor } from "./Editor";
import "./studio.css";

function CreateForm(props: { what: string; onCreate: (name: string, label: string) => Promise<void> }): React.JSX.Element {
  const [name, setName] = useState("");
  const [label, setLabel] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <form
      className="create-form"
      onSubmit={async (event) => {
        event.preventDefault();
        try {
          await props.onCreate(name, label);
          setProblem(null);
        } catch (error) {
          const details = error instanceof ApiError && Array.isArray(error.problem.details) ? error.problem.details : [];
          setProblem(details.map((item: { message: string }) => item.message).join("; ") || String((error as Error).message));
        }
      }}
    >
      <label>
        New {props.what} name
        <input value={name} onChange={(event) => setName(event.target.value)} placeholder="lowercase_name" required pattern="[a-z][a-z0-9_]*" />
      </label>
      <label>
        Label
        <input value={label} onChange={(event) => setLabel(event.target.value)} placeholder="Shown to users" />
      </label>
      <button type="submit" className="button button-blue">
        Create {props.what}
      </button>
      {problem ? <div className="message message-error" role="alert">{problem}</div> : null}
    </form>
  );
}

function ReadOnly({ me }: { me: Me }): React.JSX.Element | null {
  return me.read_only ? (
    <div className="message message-info" role="note">
      Read-only here: {me.read_only}
    </div>
  ) : null;
}

function Apps({ apps, reload, me }: { apps: AppSummary[]; reload: () => void; me: Me }): React.JSX.Element {
  return (
    <div className="studio-home">
      <h1>Studio</h1>
      <ReadOnly me={me} />
      <ul className="studio-apps">
        {apps.filter((app) => may(me, "edit", app.name)).map((app) => (
          <li key={app.name}>
            <a href={`/studio/${app.name}`} onClick={onLink}>
              {app.label}
            </a>{" "}
            <small>({app.name})</small>
          </li>
        ))}
      </ul>
      {!me.admin || me.read_only ? null : (
      <CreateForm
        what="app"
        onCreate={async (name, label) => {
          unwrap(await api.POST("/api/apps", { body: { name, label: label || null } }));
          reload();
          navigate(`/studio/${name}/home`);
        }}
      />
      )}
    </div>
  );
}

function Pages({ app, me }: { app: AppSummary; me: Me }): React.JSX.Element {
  return (
    <div className="studio-home">
      <h1>{app.label}</h1>
      <ReadOnly me={me} />
      <ul className="studio-apps">
        {app.pages.map((page) => (
          <li key={page.name}>
            <a href={`/studio/${app.name}/${page.name}`} onClick={onLink}>
              {page.label}
            </a>
          </li>
        ))}
      </ul>
      {me.read_only ? null : (
      <CreateForm
        what="page"
        onCreate={async (name, label) => {
          unwrap(await api.POST("/api/apps/{app}/pages", { params: { path: { app: app.name } }, body: { name, label: label || null } }));
          navigate(`/studio/${app.name}/${name}`);
        }}
      />
      )}
    </div>
  );
}

export default function Studio({ app, page }: { app?: string; page?: string }): React.JSX.Element {
  const [apps, setApps] = useState<AppSummary[] | null>(null);
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  const [version, setVersion] = useState(0);
  const me = useMe();
  useEffect(() => {
    api.GET("/api/apps").then(unwrap).then(setApps).catch(() => setApps([]));
  }, [version, app]);
  useEffect(() => {
    api.GET("/api/components").then(unwrap).then((data) => setCatalog(data as unknown as Catalog));
  }, []);
  if (!apps || !catalog || !me) return <div className="loading">Loading…</div>;
  if (!editsAnything(me)) return <div className="problem">You may not edit any app here; ask an app's owner for the edit role.</div>;
  const found = apps.find((item) => item.name === app);
  const navigation = (
    <nav className="studio-nav" aria-label="Studio">
      <a href="/studio" onClick={onLink}>
        All apps
      </a>
      {found
        ? found.pages.map((item) => (
            <a key={item.name} href={`/studio/${found.name}/${item.name}`} onClick={onLink} aria-current={item.name === page ? "page" : undefined}>
              {item.label}
            </a>
          ))
        : null}
      {found && page ? (
        <a href={`/apps/${found.name}/${page}`} onClick={onLink}>
          Open as a user
        </a>
      ) : null}
    </nav>
  );
  if (!app) return <Apps apps={apps} me={me} reload={() => setVersion((value) => value + 1)} />;
  if (!found) return <div className="problem">No app {app}.</div>;
  if (!page) return (
    <>
      {navigation}
      <Pages app={found} me={me} />
    </>
  );
  return (
    <>
      {navigation}
      <Editor key={`${app}/${page}`} app={app} name={page} catalog={catalog} readOnly={me.read_only} />
    </>
  );
}

import { lazy, StrictMode, Suspense } from "react";
import { createRoot } from "react-dom/client";
import { editsAnything, useMe } from "./api/auth";
import { api } from "./api/client";
import { AppList } from "./home/AppList";
import { onLink, usePath } from "./router";
import "./styles.css";
import { Viewer } from "./viewer/Viewer";

// The Studio (forms, drag and drop, the code editor) loads only when a developer opens it.
const Studio = lazy(() => import("./studio/Studio"));

function Routes(): React.JSX.Element {
  const path = usePath();
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "studio") {
    return (
      <Suspense fallback={<div className="loading">Loading the Studio…</div>}>
        <Studio app={parts[1]} page={parts[2]} />
      </Suspense>
    );
  }
  if (parts[0] === "apps" && parts.length >= 3) return <Viewer key={path} app={parts[1]} page={parts[2]} />;
  return <AppList />;
}

function Shell(): React.JSX.Element {
  const me = useMe();
  return (
    <>
      <header className="topbar">
        <a href="/" onClick={onLink} className="brand">
          Appyard
        </a>
        {editsAnything(me) ? (
          <a href="/studio" onClick={onLink}>
            Studio
          </a>
        ) : null}
        {me ? <span className="signed-in">{me.name}</span> : null}
        {me?.logout_url ? (
          <button
            type="button"
            className="link"
            onClick={async () => {
              const { data } = await api.POST("/api/auth/logout");
              // End the sign-in at the issuer too, else the next visit signs straight back in.
              window.location.assign(data?.issuer_logout_url ?? "/");
            }}
          >
            Sign out
          </button>
        ) : null}
      </header>
      <main>
        <Routes />
      </main>
    </>
  );
}

createRoot(document.getElementById("root") as HTMLElement).render(
  <StrictMode>
    <Shell />
  </StrictMode>,
);

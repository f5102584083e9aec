// Who is signed in, and the two things every request from the browser needs: the CSRF token on writes
// (the API refuses cookie-authenticated writes without it) and a way back to sign-in when a session ends.
import { useEffect, useState } from "react";
import type { components } from "../generated/api";

export type Me = components["schemas"]["MePublic"];
export type Role = "use" | "edit" | "own";

const CSRF_COOKIE = "appyard_csrf";
export const CSRF_HEADER = "X-CSRF-Token";

/** The session's CSRF token (a cookie our own pages can read and other sites cannot), if signed in by OIDC. */
export function csrfToken(): string | null {
  for (const part of document.cookie.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === CSRF_COOKIE) return decodeURIComponent(value.join("="));
  }
  return null;
}

/** Headers for a write: JSON, plus the CSRF token when there is a session. */
export function writeHeaders(): Record<string, string> {
  const token = csrfToken();
  return token ? { "Content-Type": "application/json", [CSRF_HEADER]: token } : { "Content-Type": "application/json" };
}

/** The sign-in URL of a 401 answer, with this page to come back to. */
export function signInUrl(loginUrl: string, here: string = window.location.pathname + window.location.search): string {
  return `${loginUrl}?next=${encodeURIComponent(here)}`;
}

/** On a 401 that says where to sign in, go there (and come back here afterwards). */
export async function signInIfNeeded(response: Response): Promise<void> {
  if (response.status !== 401) return;
  const body = (await response.clone().json().catch(() => null)) as { details?: { login_url?: string | null } } | null;
  const loginUrl = body?.details?.login_url;
  if (loginUrl) window.location.assign(signInUrl(loginUrl));
}

let cached: Promise<Me | null> | null = null;

/** GET /api/me, once per page load. */
export function loadMe(): Promise<Me | null> {
  cached ??= fetch("/api/me").then(async (response) => {
    await signInIfNeeded(response);
    return response.ok ? ((await response.json()) as Me) : null;
  });
  return cached;
}

/** The signed-in person (null while loading or when nobody is). */
export function useMe(): Me | null {
  const [me, setMe] = useState<Me | null>(null);
  useEffect(() => {
    let live = true;
    loadMe()
      .then((found) => live && setMe(found))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, []);
  return me;
}

/** Whether the person holds ``role`` on ``app`` (roles are cumulative: the list holds every role they have). */
export function may(me: Me | null, role: Role, app: string): boolean {
  return Boolean(me && (me.apps[app] ?? []).includes(role));
}

/** Whether the person may edit some app (so the Studio is worth showing). */
export function editsAnything(me: Me | null): boolean {
  return Boolean(me && (me.admin || Object.values(me.apps).some((roles) => roles.includes("edit"))));
}

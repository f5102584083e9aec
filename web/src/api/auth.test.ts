import { afterEach, describe, expect, it } from "vitest";
import { csrfToken, editsAnything, may, signInUrl, writeHeaders, type Me } from "./auth";

const me: Me = {
  name: "alice",
  email: null,
  groups: [],
  admin: false,
  auth: "oidc",
  via: "session",
  read_only: null,
  apps: { orders: ["use"], ops: ["use", "edit"] },
  logout_url: "/api/auth/logout",
};

describe("sign-in helpers", () => {
  afterEach(() => {
    document.cookie = "appyard_csrf=; expires=Thu, 01 Jan 1970 00:00:00 GMT";
  });

  it("echoes the CSRF cookie on writes only when there is a session", () => {
    expect(csrfToken()).toBeNull();
    expect(writeHeaders()).toEqual({ "Content-Type": "application/json" });
    document.cookie = "appyard_csrf=abc%3D";
    expect(writeHeaders()).toEqual({ "Content-Type": "application/json", "X-CSRF-Token": "abc=" });
  });

  it("comes back to the page after signing in", () => {
    expect(signInUrl("/api/auth/login", "/apps/orders/orders?x=1")).toBe("/api/auth/login?next=%2Fapps%2Forders%2Forders%3Fx%3D1");
  });

  it("shows the Studio only to people who may edit", () => {
    expect(may(me, "edit", "ops")).toBe(true);
    expect(may(me, "edit", "orders")).toBe(false);
    expect(may(null, "use", "ops")).toBe(false);
    expect(editsAnything(me)).toBe(true);
    expect(editsAnything({ ...me, apps: { orders: ["use"] } })).toBe(false);
    expect(editsAnything({ ...me, apps: {}, admin: true })).toBe(true);
  });
});

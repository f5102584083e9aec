// The API client, typed by the OpenAPI document of appyard_api (src/generated/api.ts).
import createClient from "openapi-fetch";
import type { components, paths } from "../generated/api";
import { CSRF_HEADER, csrfToken, signInIfNeeded } from "./auth";

export const api = createClient<paths>({ baseUrl: "" });

// Writes echo the session's CSRF token; an ended session sends the browser to sign in again.
api.use({
  onRequest({ request }) {
    const token = csrfToken();
    if (token && request.method !== "GET" && request.method !== "HEAD") request.headers.set(CSRF_HEADER, token);
    return request;
  },
  async onResponse({ response }) {
    await signInIfNeeded(response);
    return response;
  },
});

export type PagePublic = components["schemas"]["PagePublic"];
export type AppSummary = components["schemas"]["AppSummary"];
export type RunPublic = components["schemas"]["RunPublic"];
export type RunError = components["schemas"]["RunError"];
export type FunctionPublic = components["schemas"]["FunctionPublic"];

/** An error body of the API: {"code", "message", "details"}. */
export interface ApiProblem {
  code: string;
  message: string;
  details?: unknown;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: ApiProblem,
  ) {
    super(problem.message);
  }
}

/** The response's data, or an ApiError with the API's own message. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.data !== undefined && result.response.ok) return result.data;
  const problem = (result.error ?? {}) as Partial<ApiProblem>;
  throw new ApiError(result.response.status, {
    code: problem.code ?? "http_error",
    message: problem.message ?? `${result.response.status} ${result.response.statusText}`,
    details: problem.details,
  });
}

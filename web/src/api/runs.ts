// Starting a run: POST with a run id chosen here, and — when the run takes a while — its live events.
import type { TableRequest } from "../model/tables";
import { ulid } from "../model/ulid";
import { signInIfNeeded, writeHeaders } from "./auth";
import { ApiError, type RunPublic } from "./client";

export interface RunEvent {
  type: "status" | "log" | "progress";
  run_id: string;
  status?: string | null;
  text?: string | null;
  done?: number | null;
  total?: number | null;
}

export interface RunCallbacks {
  onEvent?: (event: RunEvent) => void;
  /** For a SQL table's fetcher: the page, sort and filters wanted, or an edit, insert or delete. */
  table?: TableRequest;
}

/** How long a run may take before its live events (output, progress) are followed. */
const FOLLOW_AFTER_MS = 300;

function follow(runId: string, onEvent: (event: RunEvent) => void): { done: Promise<void>; close: () => void } {
  const source = new EventSource(`/api/runs/${runId}/events`);
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const handle = (message: MessageEvent<string>) => {
    const event = JSON.parse(message.data) as RunEvent;
    onEvent(event);
    if (event.type === "status" && ["succeeded", "failed", "cancelled"].includes(event.status ?? "")) {
      source.close();
      finish();
    }
  };
  for (const type of ["status", "log", "progress"]) source.addEventListener(type, handle as EventListener);
  source.onerror = () => {
    source.close();
    finish();
  };
  return { done, close: () => source.close() };
}

async function readRun(runId: string): Promise<RunPublic> {
  const response = await fetch(`/api/runs/${runId}`);
  return (await response.json()) as RunPublic;
}

/** Run a page function and return its result (waiting past the API's bounded wait when needed). */
export async function startRun(
  app: string,
  page: string,
  fn: string,
  state: Record<string, unknown>,
  callbacks: RunCallbacks = {},
): Promise<RunPublic> {
  const runId = ulid();
  let events: ReturnType<typeof follow> | null = null;
  const timer = callbacks.onEvent
    ? setTimeout(() => {
        events = follow(runId, callbacks.onEvent as (event: RunEvent) => void);
      }, FOLLOW_AFTER_MS)
    : undefined;
  try {
    const response = await fetch(`/api/apps/${encodeURIComponent(app)}/pages/${encodeURIComponent(page)}/runs`, {
      method: "POST",
      headers: writeHeaders(),
      body: JSON.stringify(callbacks.table ? { function: fn, state, run_id: runId, table: callbacks.table } : { function: fn, state, run_id: runId }),
    });
    await signInIfNeeded(response);
    const body = (await response.json()) as RunPublic & { code?: string; message?: string; details?: unknown };
    if (response.status === 202) {
      // Still running after the API's bounded wait: its final status arrives as an event.
      events ??= follow(runId, callbacks.onEvent ?? (() => undefined));
      await (events as ReturnType<typeof follow>).done;
      return await readRun(runId);
    }
    if (!response.ok) {
      throw new ApiError(response.status, {
        code: body.code ?? "http_error",
        message: body.message ?? response.statusText,
        details: body.details,
      });
    }
    return body;
  } finally {
    clearTimeout(timer);
    (events as ReturnType<typeof follow> | null)?.close();
  }
}

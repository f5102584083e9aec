// Runs in progress and runs that failed: progress, live output, and the user's traceback.
import { usePage } from "./hooks";

export function RunPanel(): React.JSX.Element | null {
  const runs = usePage((state) => state.runs);
  const dismiss = usePage((state) => state.dismiss);
  const shown = runs.filter((run) => run.status === "running" ? run.logs !== "" || run.progress !== null : run.error !== null);
  if (shown.length === 0) return null;
  return (
    <aside className="run-panel" aria-label="Runs">
      {shown.map((run) => (
        <div key={run.id} className={`run run-${run.status}`} role={run.error ? "alert" : "status"}>
          <header>
            <strong>{run.fn}</strong>
            <span className="run-status">{run.status === "running" ? "running…" : run.status}</span>
            {run.status !== "running" ? (
              <button type="button" className="dismiss" aria-label="Dismiss" onClick={() => dismiss(run.id)}>
                ×
              </button>
            ) : null}
          </header>
          {run.progress ? (
            <div className="progress">
              <progress
                value={run.progress.total ? run.progress.done : run.progress.done}
                max={run.progress.total ?? 1}
                aria-label={`${run.fn} progress`}
              />
              {run.progress.text ? <span>{run.progress.text}</span> : null}
            </div>
          ) : null}
          {run.error ? (
            <div className="run-error">
              <p className="error-message">{run.error.message}</p>
              {run.error.traceback ? <pre className="traceback">{run.error.traceback}</pre> : null}
            </div>
          ) : null}
          {(run.error?.stdout ?? run.logs) ? <pre className="logs">{run.error?.stdout || run.logs}</pre> : null}
        </div>
      ))}
    </aside>
  );
}

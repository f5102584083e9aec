// How table cells show and edit values, by the column's display type.
import { useEffect, useState } from "react";
import type { DataColumn } from "../../model/catalog";

type DisplayType = NonNullable<DataColumn["display_type"]>;

const DEFAULT_DISPLAY: Record<NonNullable<DataColumn["data_type"]>, DisplayType> = {
  text: "text",
  integer: "integer",
  float: "float",
  boolean: "boolean",
  date: "date",
  datetime: "datetime",
  time: "time",
  json: "json",
};

export function displayOf(column: DataColumn): DisplayType {
  return column.display_type ?? DEFAULT_DISPLAY[column.data_type ?? "text"];
}

const numbers = new Intl.NumberFormat(undefined, { maximumFractionDigits: 6 });
const money = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const percents = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 2 });

function date(value: string, kind: "date" | "datetime" | "time"): string {
  if (kind === "time") return value.slice(0, 8);
  const parsed = new Date(kind === "date" ? `${value.slice(0, 10)}T00:00:00` : value);
  if (Number.isNaN(parsed.getTime())) return value;
  return kind === "date" ? parsed.toLocaleDateString() : parsed.toLocaleString();
}

export function formatCell(column: DataColumn, value: unknown): React.ReactNode {
  if (value === null || value === undefined) return <span className="null">—</span>;
  const display = displayOf(column);
  switch (display) {
    case "integer":
    case "float":
      return typeof value === "number" ? <span className="number">{numbers.format(value)}</span> : String(value);
    case "currency":
      return typeof value === "number" ? <span className="number">{money.format(value)}</span> : String(value);
    case "percent":
      return typeof value === "number" ? <span className="number">{percents.format(value)}</span> : String(value);
    case "boolean":
      return <span aria-label={value ? "yes" : "no"}>{value ? "✓" : "✗"}</span>;
    case "date":
    case "datetime":
    case "time":
      return typeof value === "string" ? <time dateTime={value}>{date(value, display)}</time> : String(value);
    case "link": {
      const text = String(value);
      const href = text.includes("@") && !text.includes("://") ? `mailto:${text}` : text;
      return /^(https?:|mailto:)/.test(href) ? <a href={href}>{text}</a> : text;
    }
    case "select":
      return (column.options ?? []).find((option) => option.value === value)?.label ?? String(value);
    case "json":
      return <code>{JSON.stringify(value)}</code>;
    default:
      return String(value);
  }
}

/** An editable cell: committed (and the table's on_edit run) when it loses focus or on Enter. */
export function CellEditor(props: { column: DataColumn; value: unknown; onCommit: (value: unknown) => void }): React.JSX.Element {
  const { column, value, onCommit } = props;
  const [draft, setDraft] = useState<unknown>(value);
  useEffect(() => setDraft(value), [value]);
  const commit = (next: unknown) => {
    if (next !== value) onCommit(next);
  };
  const label = `Edit ${column.label ?? column.name}`;
  const display = displayOf(column);
  if (display === "boolean") {
    return <input type="checkbox" aria-label={label} checked={draft === true} onChange={(event) => commit(event.target.checked)} onClick={(event) => event.stopPropagation()} />;
  }
  if (display === "select") {
    return (
      <select aria-label={label} value={String(draft ?? "")} onClick={(event) => event.stopPropagation()} onChange={(event) => commit(event.target.value)}>
        {(column.options ?? []).map((option) => (
          <option key={String(option.value)} value={String(option.value)}>
            {option.label}
          </option>
        ))}
      </select>
    );
  }
  const numeric = column.data_type === "integer" || column.data_type === "float";
  return (
    <input
      className="cell-editor"
      aria-label={label}
      type={numeric ? "number" : "text"}
      value={draft === null || draft === undefined ? "" : String(draft)}
      onClick={(event) => event.stopPropagation()}
      onChange={(event) => setDraft(numeric ? (event.target.value === "" ? null : Number(event.target.value)) : event.target.value)}
      onBlur={() => commit(draft)}
      onKeyDown={(event) => {
        if (event.key === "Enter") (event.target as HTMLInputElement).blur();
        if (event.key === "Escape") setDraft(value);
      }}
    />
  );
}

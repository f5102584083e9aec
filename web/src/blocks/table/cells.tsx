// How table cells show and edit values, by the column's display type (the text itself comes from format.ts).
import { useEffect, useState } from "react";
import {
  type ColumnView,
  cellText,
  displayOf,
  formatDate,
  formatNumber,
  isTrue,
  safeHref,
  tagsOf,
  tagsValue,
} from "./format";

export function formatCell(column: ColumnView, value: unknown): React.ReactNode {
  if (value === null || value === undefined) return <span className="null">—</span>;
  const display = displayOf(column);
  switch (display) {
    case "integer":
    case "float":
    case "currency":
    case "percent":
      return <span className="number">{formatNumber(value, column, display)}</span>;
    case "boolean": {
      const yes = isTrue(value);
      return (
        <span className={yes ? "bool bool-yes" : "bool bool-no"} role="img" aria-label={yes ? "yes" : "no"}>
          {yes ? "✓" : "✗"}
        </span>
      );
    }
    case "date":
    case "datetime":
    case "time":
      return typeof value === "string" ? <time dateTime={value}>{formatDate(value, column, display)}</time> : String(value);
    case "link": {
      const href = safeHref(value);
      const text = column.link_text ?? String(value);
      return href ? (
        <a href={href} target="_blank" rel="noopener noreferrer" onClick={(event) => event.stopPropagation()}>
          {text}
        </a>
      ) : (
        String(value)
      );
    }
    case "tags":
      return (
        <span className="tags">
          {tagsOf(value).map((tag, index) => (
            <span key={`${index}-${tag}`} className="tag">
              {cellText({ ...column, display_type: "select" }, tag)}
            </span>
          ))}
        </span>
      );
    case "json":
      return <code>{JSON.stringify(value)}</code>;
    default:
      return cellText(column, value);
  }
}

/** Tags with options: chips that can be removed, and a list to add the options not chosen yet. */
function TagsEditor(props: { column: ColumnView; value: unknown; label: string; onCommit: (value: unknown) => void }): React.JSX.Element {
  const { column, value, label, onCommit } = props;
  const tags = tagsOf(value);
  const remaining = (column.options ?? []).filter((option) => !tags.includes(String(option.value)));
  return (
    <span className="tags tags-editor" onClick={(event) => event.stopPropagation()}>
      {tags.map((tag) => (
        <span key={tag} className="tag">
          {cellText({ ...column, display_type: "select" }, tag)}
          <button type="button" className="tag-remove" aria-label={`Remove ${tag}`} onClick={() => onCommit(tagsValue(tags.filter((item) => item !== tag), value))}>
            ×
          </button>
        </span>
      ))}
      {remaining.length > 0 ? (
        <select aria-label={label} value="" onChange={(event) => event.target.value && onCommit(tagsValue([...tags, event.target.value], value))}>
          <option value="">Add…</option>
          {remaining.map((option) => (
            <option key={String(option.value)} value={String(option.value)}>
              {option.label}
            </option>
          ))}
        </select>
      ) : null}
    </span>
  );
}

function inputType(column: ColumnView): string {
  const display = displayOf(column);
  if (column.data_type === "integer" || column.data_type === "float" || display === "currency" || display === "percent") return "number";
  if (display === "date") return "date";
  if (display === "datetime") return "datetime-local";
  if (display === "time") return "time";
  return "text";
}

/** A typed value from an input's text: numbers as numbers, blank as null. */
export function valueFromInput(column: ColumnView, text: string): unknown {
  if (text === "") return null;
  if (inputType(column) === "number") {
    const number = Number(text);
    return Number.isFinite(number) ? number : text;
  }
  return text;
}

/** What an input shows for a value (a datetime-local input wants "YYYY-MM-DDTHH:MM"). */
function inputText(column: ColumnView, value: unknown): string {
  if (value === null || value === undefined) return "";
  const type = inputType(column);
  if (type === "date" && typeof value === "string") return value.slice(0, 10);
  if (type === "datetime-local" && typeof value === "string") return value.replace(" ", "T").slice(0, 16);
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** An editable cell: committed when it loses focus or on Enter (Escape puts the value back). */
export function CellEditor(props: { column: ColumnView; value: unknown; onCommit: (value: unknown) => void }): React.JSX.Element {
  const { column, value, onCommit } = props;
  const [draft, setDraft] = useState<unknown>(value);
  // Only a value the user typed is saved: focusing and leaving a cell (or a number shown differently) saves nothing.
  const [touched, setTouched] = useState(false);
  useEffect(() => {
    setDraft(value);
    setTouched(false);
  }, [value]);
  const commit = (next: unknown) => {
    if (next !== value && !(next === null && (value === undefined || value === ""))) onCommit(next);
  };
  const label = `Edit ${column.label ?? column.name}`;
  const display = displayOf(column);
  if (display === "boolean") {
    return (
      <input
        type="checkbox"
        aria-label={label}
        checked={isTrue(draft)}
        onChange={(event) => {
          setDraft(event.target.checked);
          commit(event.target.checked);
        }}
        onClick={(event) => event.stopPropagation()}
      />
    );
  }
  if (display === "select") {
    return (
      <select aria-label={label} value={String(draft ?? "")} onClick={(event) => event.stopPropagation()} onChange={(event) => commit(event.target.value)}>
        {draft === null || draft === undefined ? <option value="">—</option> : null}
        {(column.options ?? []).map((option) => (
          <option key={String(option.value)} value={String(option.value)}>
            {option.label}
          </option>
        ))}
      </select>
    );
  }
  if (display === "tags" && (column.options ?? []).length > 0) {
    return <TagsEditor column={column} value={value} label={label} onCommit={onCommit} />;
  }
  return (
    <input
      className="cell-editor"
      aria-label={label}
      type={inputType(column)}
      step={inputType(column) === "number" && column.data_type !== "integer" ? "any" : undefined}
      value={inputText(column, draft)}
      onClick={(event) => event.stopPropagation()}
      onChange={(event) => {
        setTouched(true);
        setDraft(valueFromInput(column, event.target.value));
      }}
      onBlur={() => {
        if (touched) commit(draft);
        setTouched(false);
      }}
      onKeyDown={(event) => {
        if (event.key === "Enter") (event.target as HTMLInputElement).blur();
        if (event.key === "Escape") {
          setTouched(false);
          setDraft(value);
        }
      }}
    />
  );
}

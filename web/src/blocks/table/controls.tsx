// The parts around a table's rows: its declared filters, the "new row" form, and the pager.
import { useState } from "react";
import { labelOf } from "../../model/catalog";
import { type DeclaredFilter, VALUELESS, operatorOf, pageSummary } from "../../model/tables";
import { CellEditor } from "./cells";
import type { ColumnView } from "./format";

const OPERATOR_WORDS: Record<string, string> = {
  equals: "is",
  not_equals: "is not",
  contains: "contains",
  starts_with: "starts with",
  lt: "below",
  lte: "at most",
  gt: "above",
  gte: "at least",
  in: "is one of",
  is_null: "is empty",
  is_not_null: "is not empty",
};

/** The label of a declared filter: its own, else "<column label> <operator words>". */
export function filterLabel(filter: DeclaredFilter, column: ColumnView | undefined): string {
  if (filter.label) return filter.label;
  const name = column ? labelOf(column) : labelOf({ name: filter.column });
  const operator = operatorOf(filter);
  return operator === "equals" ? name : `${name} ${OPERATOR_WORDS[operator] ?? operator}`;
}

function filterInputType(column: ColumnView | undefined, operator: string): string {
  if (operator === "in") return "text";
  const type = column?.data_type;
  if (type === "integer" || type === "float") return "number";
  if (type === "date") return "date";
  if (type === "datetime") return "datetime-local";
  return "text";
}

/** One input per declared filter, above the table; each value changes the query (debounced by the table). */
export function DeclaredFilters(props: {
  table: string;
  filters: DeclaredFilter[];
  columns: Record<string, ColumnView>;
  inputs: Record<number, unknown>;
  onChange: (index: number, value: unknown) => void;
}): React.JSX.Element | null {
  const { table, filters, columns, inputs, onChange } = props;
  if (filters.length === 0) return null;
  return (
    <div className="table-filters" role="group" aria-label={`Filters of ${table}`}>
      {filters.map((declared, index) => {
        const filter = { ...declared, operator: operatorOf(declared) };
        const column = columns[filter.column];
        const label = filterLabel(filter, column);
        const key = `${filter.column}-${filter.operator}-${index}`;
        if (VALUELESS.has(filter.operator)) {
          return (
            <label key={key} className="table-filter-field">
              <input type="checkbox" checked={inputs[index] === true} onChange={(event) => onChange(index, event.target.checked)} />
              {label}
            </label>
          );
        }
        const options = column?.options ?? [];
        if (options.length > 0 && filter.operator === "in") {
          const chosen = Array.isArray(inputs[index]) ? (inputs[index] as string[]) : [];
          return (
            <label key={key} className="table-filter-field">
              {label}
              <select
                multiple
                size={Math.min(options.length, 4)}
                value={chosen}
                onChange={(event) => onChange(index, Array.from(event.target.selectedOptions, (option) => option.value))}
              >
                {options.map((option) => (
                  <option key={String(option.value)} value={String(option.value)}>
                    {option.label}
                  </option>
                ))}
              </select>
            </label>
          );
        }
        if (options.length > 0 && (filter.operator === "equals" || filter.operator === "not_equals")) {
          return (
            <label key={key} className="table-filter-field">
              {label}
              <select value={String(inputs[index] ?? "")} onChange={(event) => onChange(index, event.target.value)}>
                <option value="">Any</option>
                {options.map((option) => (
                  <option key={String(option.value)} value={String(option.value)}>
                    {option.label}
                  </option>
                ))}
              </select>
            </label>
          );
        }
        if (column?.data_type === "boolean" && filter.operator === "equals") {
          return (
            <label key={key} className="table-filter-field">
              {label}
              <select value={String(inputs[index] ?? "")} onChange={(event) => onChange(index, event.target.value)}>
                <option value="">Any</option>
                <option value="true">Yes</option>
                <option value="false">No</option>
              </select>
            </label>
          );
        }
        return (
          <label key={key} className="table-filter-field">
            {label}
            <input
              type={filterInputType(column, filter.operator)}
              step={column?.data_type === "float" ? "any" : undefined}
              placeholder={filter.operator === "in" ? "a, b, c" : undefined}
              value={String(inputs[index] ?? "")}
              onChange={(event) => onChange(index, event.target.value)}
            />
          </label>
        );
      })}
    </div>
  );
}

/** The form that adds a row to an insertable SQL table; what was typed stays when saving fails. */
export function NewRowForm(props: {
  title: string;
  columns: ColumnView[];
  busy: boolean;
  onSave: (draft: Record<string, unknown>) => Promise<boolean>;
  onClose: () => void;
}): React.JSX.Element {
  const { title, columns, busy, onSave, onClose } = props;
  const [draft, setDraft] = useState<Record<string, unknown>>({});
  return (
    <form
      className="new-row"
      aria-label={`New row of ${title}`}
      onSubmit={(event) => {
        event.preventDefault();
        void onSave(draft).then((saved) => {
          if (saved) {
            setDraft({});
            onClose();
          }
        });
      }}
    >
      {columns.map((column) => (
        <label key={column.name} className="new-row-field">
          <span>{labelOf(column)}</span>
          <CellEditor
            column={{ ...column, label: labelOf(column) }}
            value={draft[column.name] ?? null}
            onCommit={(value) => setDraft((current) => ({ ...current, [column.name]: value }))}
          />
        </label>
      ))}
      <div className="new-row-actions">
        <button type="submit" className="button button-small button-blue" disabled={busy}>
          Add row
        </button>
        <button type="button" className="button button-small button-gray" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** Previous / next and where we are: "Rows 51–100 of 312" (or without "of" when the total is not counted). */
export function Pager(props: {
  title: string;
  offset: number;
  shown: number;
  total: number | null | undefined;
  canPrevious: boolean;
  canNext: boolean;
  onPrevious: () => void;
  onNext: () => void;
}): React.JSX.Element {
  const { title, offset, shown, total, canPrevious, canNext, onPrevious, onNext } = props;
  return (
    <nav className="pager" aria-label={`${title} pages`}>
      <button type="button" onClick={onPrevious} disabled={!canPrevious}>
        Previous
      </button>
      <span className="pager-summary">{pageSummary(offset, shown, total)}</span>
      <button type="button" onClick={onNext} disabled={!canNext}>
        Next
      </button>
    </nav>
  );
}

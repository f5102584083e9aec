// How a table cell's value reads as text: pure functions (no React), tested in format.test.ts.
// Numbers, money and dates go through Intl with the column's locale (else the browser's); links are only
// ever http(s) or mailto; tags come from a JSON list or comma-separated text.
import type { DataColumn } from "../../model/catalog";

export type DisplayType = NonNullable<DataColumn["display_type"]>;
export type DataType = NonNullable<DataColumn["data_type"]>;

/** A data column as a cell shows it (display type, currency, locale, link_text). */
export type ColumnView = DataColumn;

const DEFAULT_DISPLAY: Record<DataType, DisplayType> = {
  text: "text",
  integer: "integer",
  float: "float",
  boolean: "boolean",
  date: "date",
  datetime: "datetime",
  time: "time",
  json: "json",
};

/** The display type: the declared one, else the one matching the data type (text when unknown). */
export function displayOf(column: ColumnView): DisplayType {
  return column.display_type ?? DEFAULT_DISPLAY[column.data_type ?? "text"] ?? "text";
}

/** A locale Intl accepts: the column's when valid, else the browser's (undefined). */
export function localeOf(column: ColumnView): string | undefined {
  if (!column.locale) return undefined;
  try {
    return Intl.getCanonicalLocales(column.locale)[0];
  } catch {
    return undefined;
  }
}

const formats = new Map<string, Intl.NumberFormat | Intl.DateTimeFormat>();

function cached<T extends Intl.NumberFormat | Intl.DateTimeFormat>(key: string, make: () => T): T {
  let format = formats.get(key);
  if (!format) {
    format = make();
    formats.set(key, format);
  }
  return format as T;
}

/** A number from a JSON value: numbers as they are, numeric strings (PostgreSQL numeric arrives as text) parsed. */
export function numberOf(value: unknown): number | null {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value === "string" && /^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(value)) return Number(value);
  return null;
}

/** An ISO 4217 code, upper case; "USD" when missing or malformed. */
export function currencyOf(column: ColumnView): string {
  const code = (column.currency ?? "").trim().toUpperCase();
  return /^[A-Z]{3}$/.test(code) ? code : "USD";
}

export function formatNumber(value: unknown, column: ColumnView, kind: "integer" | "float" | "currency" | "percent"): string {
  const number = numberOf(value);
  if (number === null) return String(value);
  const locale = localeOf(column);
  if (kind === "currency") {
    const currency = currencyOf(column);
    return cached(`currency|${locale}|${currency}`, () => new Intl.NumberFormat(locale, { style: "currency", currency })).format(number);
  }
  if (kind === "percent") {
    return cached(`percent|${locale}`, () => new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 2 })).format(number);
  }
  const digits = kind === "integer" ? 0 : 6;
  return cached(`number|${locale}|${digits}`, () => new Intl.NumberFormat(locale, { maximumFractionDigits: digits })).format(number);
}

/**
 * A date, datetime or time as the locale writes it. A date ("2026-11-30", or the date part of a datetime) is
 * shown as that calendar day whatever the time zone; a datetime with an offset is shown in the browser's zone;
 * a time is hours:minutes(:seconds). Text that is not a date is returned unchanged.
 */
export function formatDate(value: unknown, column: ColumnView, kind: "date" | "datetime" | "time", timeZone?: string): string {
  if (typeof value !== "string") return String(value);
  const locale = localeOf(column);
  if (kind === "time") {
    const match = /^(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value);
    if (!match) return value;
    const at = new Date(Date.UTC(2000, 0, 1, Number(match[1]), Number(match[2]), Number(match[3] ?? 0)));
    const options: Intl.DateTimeFormatOptions = { hour: "2-digit", minute: "2-digit", timeZone: "UTC" };
    if (match[3] !== undefined && match[3] !== "00") options.second = "2-digit";
    return cached(`time|${locale}|${options.second ?? ""}`, () => new Intl.DateTimeFormat(locale, options)).format(at);
  }
  if (kind === "date") {
    const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(value);
    if (!match) return value;
    const at = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
    return cached(`date|${locale}`, () => new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: "UTC" })).format(at);
  }
  if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(value)) return value;
  const at = new Date(value.replace(" ", "T"));
  if (Number.isNaN(at.getTime())) return value;
  return cached(`datetime|${locale}|${timeZone ?? ""}`, () =>
    new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone }),
  ).format(at);
}

/** The tags of a value: a JSON list (or a JSON list in text), or comma-separated text; blanks dropped. */
export function tagsOf(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  if (Array.isArray(value)) return value.filter((item) => item !== null && item !== undefined).map(String).filter((item) => item.trim() !== "");
  if (typeof value === "string") {
    const text = value.trim();
    if (text.startsWith("[")) {
      try {
        const parsed: unknown = JSON.parse(text);
        if (Array.isArray(parsed)) return tagsOf(parsed);
      } catch {
        // not JSON: read as comma-separated text
      }
    }
    return text
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item !== "");
  }
  return [String(value)];
}

/** Tags written back in the shape the value came in: a list stays a list, text stays comma-separated text. */
export function tagsValue(tags: string[], like: unknown): string[] | string {
  if (typeof like !== "string") return tags;
  return like.trim().startsWith("[") ? JSON.stringify(tags) : tags.join(", ");
}

/**
 * Where a link cell points, or null when it must not be a link: only http:, https: and mailto: URLs
 * (an address with "@" and no scheme becomes mailto:). javascript:, data: and relative URLs are text.
 */
export function safeHref(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const text = value.trim();
  if (text === "" || /[\s<>"]/.test(text)) return null;
  if (/^[^@/:]+@[^@/:]+\.[^@/:]+$/.test(text)) return `mailto:${text}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (url.protocol === "http:" || url.protocol === "https:") return url.href;
  if (url.protocol === "mailto:") return text;
  return null;
}

/** The label of a select value: its option's label, else the value itself. */
export function optionLabel(column: ColumnView, value: unknown): string {
  const option = (column.options ?? []).find((item) => item.value === value || String(item.value) === String(value));
  return option?.label ?? String(value);
}

/** Whether a boolean cell holds yes: true, or what a database or a script may send for it ("true", 1). */
export function isTrue(value: unknown): boolean {
  return value === true || value === "true" || value === 1;
}

/** A cell's value as plain text (what a screen reader, a copy or a filter sees). */
export function cellText(column: ColumnView, value: unknown): string {
  if (value === null || value === undefined) return "";
  const display = displayOf(column);
  switch (display) {
    case "integer":
    case "float":
    case "currency":
    case "percent":
      return formatNumber(value, column, display);
    case "boolean":
      return isTrue(value) ? "yes" : "no";
    case "date":
    case "datetime":
    case "time":
      return formatDate(value, column, display);
    case "tags":
      return tagsOf(value).join(", ");
    case "link":
      return column.link_text ?? String(value);
    case "select":
      return optionLabel(column, value);
    case "json":
      return JSON.stringify(value);
    default:
      return typeof value === "object" ? JSON.stringify(value) : String(value);
  }
}

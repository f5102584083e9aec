import { describe, expect, it } from "vitest";
import { type ColumnView, cellText, currencyOf, displayOf, formatDate, formatNumber, isTrue, numberOf, safeHref, tagsOf, tagsValue } from "./format";

// Intl separates with no-break spaces (U+00A0, U+202F): compare with plain spaces.
const plain = (text: string) => text.replace(/\s/g, " ");
const column = (extra: Partial<ColumnView> = {}): ColumnView => ({ name: "c", ...extra });

describe("display types", () => {
  it.each([
    [{}, "text"],
    [{ data_type: "integer" }, "integer"],
    [{ data_type: "date" }, "date"],
    [{ data_type: "float", display_type: "currency" }, "currency"],
    [{ data_type: "json", display_type: "tags" }, "tags"],
  ] as [Partial<ColumnView>, string][])("%j shows as %s", (extra, display) => {
    expect(displayOf(column(extra))).toBe(display);
  });
});

describe("numbers and money", () => {
  it.each([
    [1234.5, { currency: "EUR", locale: "de-DE" }, "1.234,50 €"],
    [1234.5, { currency: "usd", locale: "en-US" }, "$1,234.50"],
    ["1234.50", { locale: "en-US" }, "$1,234.50"], // numeric arrives as text from PostgreSQL
    [1234.5, { currency: "JPY", locale: "ja-JP" }, "￥1,235"],
    [-3, { currency: "GBP", locale: "en-GB" }, "-£3.00"],
    [5, { currency: "not money", locale: "en-US" }, "$5.00"],
    [5, { currency: "EUR", locale: "not a locale!" }, plain(new Intl.NumberFormat(undefined, { style: "currency", currency: "EUR" }).format(5))],
  ] as [unknown, Partial<ColumnView>, string][])("%j with %j is %s", (value, extra, text) => {
    expect(plain(formatNumber(value, column(extra), "currency"))).toBe(text);
  });

  it.each([
    [1234567, "integer", "1,234,567"],
    [0.125, "percent", "12.5%"],
    [3.25, "float", "3.25"],
    ["abc", "float", "abc"],
  ] as [unknown, "integer" | "float" | "percent", string][])("%j as %s is %s", (value, kind, text) => {
    expect(formatNumber(value, column({ locale: "en-US" }), kind)).toBe(text);
  });

  it.each([
    [5, 5],
    ["12.50", 12.5],
    ["-0.5", -0.5],
    ["1e3", 1000],
    ["12abc", null],
    ["", null],
    [Number.NaN, null],
    [true, null],
  ] as [unknown, number | null][])("numberOf(%j) = %j", (value, number) => {
    expect(numberOf(value)).toBe(number);
  });

  it("reads currency codes strictly", () => {
    expect(currencyOf(column({ currency: " eur " }))).toBe("EUR");
    expect(currencyOf(column({ currency: "EURO" }))).toBe("USD");
    expect(currencyOf(column())).toBe("USD");
  });
});

describe("dates", () => {
  it.each([
    ["2026-11-30", "date", "en-US", "Nov 30, 2026"],
    ["2026-11-30", "date", "de-DE", "30.11.2026"],
    ["2026-11-30T23:30:00", "date", "en-US", "Nov 30, 2026"], // the calendar day, whatever the zone
    ["2026-11-30T14:05:00Z", "datetime", "en-US", "Nov 30, 2026, 2:05 PM"],
    ["2026-11-30 14:05:00+00:00", "datetime", "en-US", "Nov 30, 2026, 2:05 PM"],
    ["09:05:00", "time", "en-GB", "09:05"],
    ["09:05:30", "time", "en-GB", "09:05:30"],
    ["soon", "date", "en-US", "soon"],
    ["soon", "datetime", "en-US", "soon"],
    ["later", "time", "en-US", "later"],
  ] as [string, "date" | "datetime" | "time", string, string][])("%s as %s in %s is %s", (value, kind, locale, text) => {
    expect(plain(formatDate(value, column({ locale }), kind, "UTC"))).toBe(text);
  });
});

describe("tags", () => {
  it.each([
    [["a", "b"], ["a", "b"]],
    ['["x", "y"]', ["x", "y"]],
    ["red, green , ,blue", ["red", "green", "blue"]],
    ["[not json", ["[not json"]],
    [null, []],
    ["", []],
    [[1, null, "  "], ["1"]],
    [7, ["7"]],
  ] as [unknown, string[]][])("tagsOf(%j) = %j", (value, tags) => {
    expect(tagsOf(value)).toEqual(tags);
  });

  it.each([
    [["a"], ["a", "b"]],
    ["a", "a, b"],
    ['["a"]', '["a","b"]'],
    [null, ["a", "b"]],
  ] as [unknown, unknown][])("an edit keeps the shape of %j", (like, written) => {
    expect(tagsValue(["a", "b"], like)).toEqual(written);
  });
});

describe("links", () => {
  it.each([
    ["https://example.com/a?b=1", "https://example.com/a?b=1"],
    ["http://example.com", "http://example.com/"],
    ["mailto:ada@example.com", "mailto:ada@example.com"],
    ["ada@example.com", "mailto:ada@example.com"],
    ["javascript:alert(1)", null],
    ["JavaScript:alert(1)", null],
    ["data:text/html,<script>", null],
    ["/relative/path", null],
    ["example.com", null],
    ["https://exa mple.com", null],
    ['https://x.com/"onmouseover=', null],
    ["", null],
    [42, null],
  ] as [unknown, string | null][])("safeHref(%j) = %j", (value, href) => {
    expect(safeHref(value)).toBe(href);
  });
});

describe("cell text", () => {
  it.each([
    [{ data_type: "boolean" }, true, "yes"],
    [{ data_type: "boolean" }, false, "no"],
    [{ display_type: "tags" }, ["a", "b"], "a, b"],
    [{ display_type: "link", link_text: "Open" }, "https://x.org", "Open"],
    [{ display_type: "select", options: [{ label: "Paid", value: "paid" }] }, "paid", "Paid"],
    [{ display_type: "select", options: [] }, "other", "other"],
    [{ data_type: "json" }, { a: 1 }, '{"a":1}'],
    [{}, null, ""],
  ] as [Partial<ColumnView>, unknown, string][])("%j of %j reads %s", (extra, value, text) => {
    expect(cellText(column(extra), value)).toBe(text);
  });
});

describe("isTrue", () => {
  it("takes what a database or a script sends for yes, and nothing else", () => {
    expect([true, "true", 1].map(isTrue)).toEqual([true, true, true]);
    expect([false, "false", 0, null, undefined, "yes"].map(isTrue)).toEqual([false, false, false, false, false, false]);
  });
});

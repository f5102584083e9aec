import DOMPurify from "dompurify";
import { marked } from "marked";

/** Markdown as sanitized HTML: what scripts put in text components can never run code in the browser. */
export function markdown(text: string): string {
  return DOMPurify.sanitize(marked.parse(text, { async: false, gfm: true, breaks: false }));
}

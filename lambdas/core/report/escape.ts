/**
 * Escaping for the report formats. Every text that comes from a finding (a cause, a host name, a command) goes
 * through one of these before it is written into a document.
 */
import { printable } from '../printable';

// XML 1.0 forbids these even as character references: C0 controls other than tab, LF and CR, lone
// surrogates, U+FFFE and U+FFFF. They become U+FFFD so that the document stays well formed.
const XML_INVALID =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Removes what XML and HTML documents cannot carry at all. */
export function dropInvalidChars(text: string): string {
  return text.replace(XML_INVALID, '\uFFFD');
}

/** Text content of an XML element; a carriage return is a reference, since parsers turn a raw one into LF. */
export function xmlText(text: string): string {
  return dropInvalidChars(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\r/g, '&#13;');
}

/** An XML attribute value in double quotes; line breaks and tabs survive attribute normalisation as references. */
export function xmlAttr(text: string): string {
  return xmlText(text)
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;');
}

/** HTML text or a double- or single-quoted attribute value. */
export function htmlText(text: string): string {
  return dropInvalidChars(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/**
 * One CSV field (RFC 4180): control characters other than line breaks and tabs removed (a terminal or a
 * spreadsheet never sees an escape sequence from the network); quoted when it holds a comma, a quote or a line
 * break; quotes doubled.
 */
export function csvField(text: string): string {
  const clean = printable(text, { keepLines: true });
  return /[",\r\n]/.test(clean) ? `"${clean.replace(/"/g, '""')}"` : clean;
}

/**
 * Markdown inline text, safe in a paragraph and in a table cell: every character CommonMark or GFM could read
 * as markup is backslash-escaped, and line breaks become spaces (a cell is one line).
 */
export function mdText(text: string): string {
  return dropInvalidChars(text)
    .replace(/\r\n|\r|\n/g, ' ')
    .replace(/[\\`*_[\]<>|~&#!]/g, (c) => `\\${c}`);
}

/** A fenced Markdown code block whose fence is longer than any backtick run inside it. */
export function mdCode(text: string, info = ''): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${info}\n${dropInvalidChars(text)}\n${fence}`;
}

/**
 * The one sanitizer of remote strings: what a server says (an SSH banner, an HTTP `Server` or `Via` header, a
 * certificate's subject and issuer) is text from the network, and a terminal obeys control characters in it
 * (`ESC[1A ESC[2K` rewrites the row above, OSC sets the window title, U+009B is an 8-bit CSI). Every remote
 * string goes through {@link printable} when it is read, and every CLI printer and the CSV renderer through it
 * (or {@link terminalSafe}, which keeps the CLI's own colours) before it is shown. No dependency: the prober
 * carries it.
 */

// C0 controls, DEL and C1 controls (U+0080-U+009F, U+009B included).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const HAS_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// Line and paragraph separators end a line in some terminals and editors, like LF.
const LINE_BREAKS = /[\t\n\r\u2028\u2029]/g;

/**
 * `text` with every C0/C1 control character removed; tabs and line breaks become spaces (one line), or with
 * `keepLines` stay as tabs, LF and CRLF (a multi-line CSV field; a lone CR, which overwrites a line, goes).
 */
export function printable(text: string, options: { keepLines?: boolean } = {}): string {
  if (!options.keepLines) return text.replace(LINE_BREAKS, ' ').replace(CONTROL, '');
  return text
    .split(/(\r\n|\n|\t)/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(CONTROL, '').replace(/[\u2028\u2029]/g, ' ')))
    .join('');
}

// What the CLI itself writes and keeps: SGR colour codes, line breaks (CRLF in CSV), tabs, and the progress
// line's "return and erase line".
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const OWN_SEQUENCES = /(\u001b\[[0-9;]*m|\r\u001b\[K|\r\n|\n|\t)/;

/**
 * Output for a terminal: every control character removed except the CLI's own colour codes, line breaks, tabs
 * and progress-line erase. The last line of defence for text that reaches stdout/stderr: remote strings are
 * already {@link printable} when they are read.
 */
export function terminalSafe(text: string): string {
  if (!HAS_CONTROL.test(text)) return text;
  return text
    .split(OWN_SEQUENCES)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(CONTROL, '')))
    .join('');
}

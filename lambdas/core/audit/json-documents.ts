/**
 * Reading JSON as exports come: one document, or several written one after the other (`cat a.json b.json`),
 * with the line and column of any syntax error, whatever the message of the JavaScript engine says.
 */

/** Raised for text that is not JSON: `offset` is where the first wrong character is. */
export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
  constructor(
    message: string,
    readonly offset: number,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${message} (line ${line}, column ${column})`);
  }
}

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);

/**
 * Where the JSON value starting at `start` ends, or where it first goes wrong: a small scanner used to find
 * the end of each concatenated document and to place errors that JSON.parse does not place.
 */
function scanValue(text: string, start: number): { end: number } | { error: number; why: string } {
  let i = start;
  const ws = () => {
    while (i < text.length && WHITESPACE.has(text[i] as string)) i++;
  };
  const fail = (why: string) => ({ error: i, why });
  const value = (): { error: number; why: string } | undefined => {
    ws();
    const c = text[i];
    if (c === undefined) return fail('unexpected end of the text');
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) {
        i++;
        return undefined;
      }
      for (;;) {
        if (c === '{') {
          ws();
          if (text[i] !== '"') return fail('expected a double-quoted property name');
          const key = string();
          if (key) return key;
          ws();
          if (text[i] !== ':') return fail("expected ':' after a property name");
          i++;
        }
        const inner = value();
        if (inner) return inner;
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === close) {
          i++;
          return undefined;
        }
        return fail(`expected ',' or '${close}'`);
      }
    }
    if (c === '"') return string();
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(
      text.slice(i, i + 400),
    );
    if (!literal) return fail(`unexpected character ${JSON.stringify(c)}`);
    i += literal[0].length;
    return undefined;
  };
  const string = (): { error: number; why: string } | undefined => {
    i++; // the opening quote
    while (i < text.length) {
      const c = text[i] as string;
      if (c === '"') {
        i++;
        return undefined;
      }
      if (c === '\\') i += 2;
      else if (c.charCodeAt(0) < 0x20) return fail('a control character inside a string');
      else i++;
    }
    return fail('unterminated string');
  };
  const problem = value();
  return problem ?? { end: i };
}

function located(text: string, offset: number, message: string): JsonSyntaxError {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return new JsonSyntaxError(message, offset, line, column);
}

/**
 * Parses one JSON document, or several concatenated ones (returned as a list, in order).
 * @returns `{ documents }`, with more than one entry only when the text held several documents.
 * @throws JsonSyntaxError with the line and column of the first error.
 */
export function parseJsonDocuments(text: string): { documents: unknown[] } {
  try {
    return { documents: [JSON.parse(text)] };
  } catch {
    // Slow path: find each document's end (and any error's place) with the scanner.
  }
  const documents: unknown[] = [];
  let i = 0;
  for (;;) {
    while (i < text.length && WHITESPACE.has(text[i] as string)) i++;
    if (i >= text.length) break;
    const scanned = scanValue(text, i);
    if ('error' in scanned) throw located(text, scanned.error, `not valid JSON: ${scanned.why}`);
    try {
      documents.push(JSON.parse(text.slice(i, scanned.end)));
    } catch (err) {
      // The scanner is lenient about escapes and numbers; JSON.parse has the last word.
      throw located(text, i, `not valid JSON: ${(err as Error).message}`);
    }
    i = scanned.end;
  }
  if (documents.length === 0) throw located(text, 0, 'not valid JSON: no document');
  return { documents };
}

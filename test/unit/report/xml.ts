/**
 * A small, strict XML reader for the tests: it checks well-formedness (one root, nested tags that match,
 * quoted and unique attributes, only the five predefined entities or character references, no raw `<` or `&`
 * in text, no forbidden characters) and returns the element tree, so a test can count testcases and failures.
 */
export interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_][\w.-]*/;
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
// eslint-disable-next-line no-control-regex -- the test looks for forbidden control characters
const FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

/**
 * Decodes text or an attribute value as a conforming parser does: raw line ends become LF and, in attributes,
 * raw white space becomes a space, so only references carry a CR, LF or tab through.
 */
function decode(raw: string, where: number, attribute = false): string {
  if (FORBIDDEN.test(raw)) throw new Error(`forbidden character near offset ${where}`);
  if (raw.includes('<')) throw new Error(`raw "<" near offset ${where}`);
  const normalised = raw.replace(/\r\n?/g, '\n');
  return (attribute ? normalised.replace(/[\t\n]/g, ' ') : normalised).replace(
    /&([^;]*);|&/g,
    (_match, ref: string | undefined) => {
      if (ref === undefined) throw new Error(`raw "&" near offset ${where}`);
      if (ref in ENTITIES) return ENTITIES[ref] as string;
      const code = /^#x([0-9a-fA-F]+)$/.exec(ref)?.[1] ?? /^#(\d+)$/.exec(ref)?.[1];
      if (code === undefined) throw new Error(`unknown entity &${ref}; near offset ${where}`);
      return String.fromCodePoint(ref.startsWith('#x') ? parseInt(code, 16) : Number(code));
    },
  );
}

/** Parses a document; throws with the offset of the first error. */
export function parseXml(doc: string): XmlElement {
  const decl = /^<\?xml version="1\.0" encoding="UTF-8"\?>\n/.exec(doc);
  if (!decl) throw new Error('missing or wrong XML declaration');
  let i = decl[0].length;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  while (i < doc.length) {
    const lt = doc.indexOf('<', i);
    const text = lt === -1 ? doc.slice(i) : doc.slice(i, lt);
    const top = stack[stack.length - 1];
    if (top) top.text += decode(text, i);
    else if (text.trim() !== '') throw new Error(`text outside the root at offset ${i}`);
    if (lt === -1) break;
    i = lt;
    if (doc.startsWith('</', i)) {
      const m = /^<\/([A-Za-z_][\w.-]*)\s*>/.exec(doc.slice(i));
      const open = stack.pop();
      if (!m || !open || open.name !== m[1]) throw new Error(`mismatched end tag at offset ${i}`);
      i += m[0].length;
      continue;
    }
    i++;
    const name = NAME.exec(doc.slice(i))?.[0];
    if (!name) throw new Error(`bad tag name at offset ${i}`);
    i += name.length;
    const attributes: Record<string, string> = {};
    for (;;) {
      const ws = /^\s*/.exec(doc.slice(i))?.[0] ?? '';
      i += ws.length;
      if (doc.startsWith('/>', i) || doc.startsWith('>', i)) break;
      if (ws === '') throw new Error(`attributes must be separated by white space at offset ${i}`);
      const m = /^([A-Za-z_][\w.-]*)="([^"]*)"/.exec(doc.slice(i));
      if (!m) throw new Error(`bad attribute at offset ${i}`);
      const [whole, key, value] = m as unknown as [string, string, string];
      if (key in attributes) throw new Error(`duplicate attribute ${key} at offset ${i}`);
      attributes[key] = decode(value, i, true);
      i += whole.length;
    }
    const element: XmlElement = { name, attributes, children: [], text: '' };
    if (top) top.children.push(element);
    else if (root) throw new Error(`a second root element at offset ${i}`);
    else root = element;
    if (doc.startsWith('/>', i)) i += 2;
    else {
      i += 1;
      stack.push(element);
    }
  }
  if (stack.length > 0) throw new Error(`unclosed element <${stack[stack.length - 1]?.name}>`);
  if (!root) throw new Error('no root element');
  return root;
}

/** Every element named `name` under `root`, depth first. */
export function findAll(root: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    if (e.name === name) out.push(e);
    e.children.forEach(walk);
  };
  walk(root);
  return out;
}

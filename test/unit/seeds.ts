/**
 * An independent reader of the vendor documents in `shared/seeds`, used to check the port catalog
 * against its sources. It deliberately imports nothing from `lambdas/`: the catalog is compared with
 * what this file counts in the documents themselves, never with its own parsing of them.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The team's seed documents, beside the repository (`shared/seeds`), where CI and developers have them. */
export const SHARED_SEEDS_DIR = path.resolve(__dirname, '../../../shared/seeds');
/** A copy kept in the repository, so a clone on its own still tests the catalog against the documents. */
export const COPIED_SEEDS_DIR = path.resolve(__dirname, '../fixtures/seeds');
/** The shared documents when they are there (the newest truth), else the repository's copy. */
export const SEEDS_DIR = existsSync(SHARED_SEEDS_DIR) ? SHARED_SEEDS_DIR : COPIED_SEEDS_DIR;

/** RiverMeadow: three pipe tables under `## ` headings, ports in a `Port/Protocol` column (`443/TCP`). */
export const RIVERMEADOW_FILE = '000_176b989ff67804d9.txt';
/** WANdisco LiveData Migrator: two Port/Description/Direction tables, plus the architecture prose. */
export const LDM_FILE = '002_bc01cc6be751a361.txt';
/** PrimaryIO HDM: a numbered list under `# HDM - Component Interactions`. */
export const HDM_FILE = '004_c280f806a4c60365.txt';

export const HDM_SECTION = 'HDM - Component Interactions';
export const LDM_ARCHITECTURE_SECTION = 'Network architecture / On premises';

export type SeedProtocol = 'tcp' | 'udp';

/** An inclusive port range as the document writes it (`8000-8010` stays one range). */
export interface SeedPortRange {
  readonly from: number;
  readonly to: number;
  readonly protocol: SeedProtocol;
}

/** A heading and the lines up to the next heading of any level. */
export interface SeedSection {
  readonly level: number;
  readonly heading: string;
  /** Level-2 and deeper headings joined by ` / ` (`Network architecture / On premises`); a level-1 heading is its own path. */
  readonly path: string;
  /** The lines of this heading only, up to the next heading of any level. */
  readonly body: readonly string[];
  /** The lines up to the next heading of the same or a higher level (sub-sections included). */
  readonly subtree: readonly string[];
}

/** One row of a section's table, or one top-level item of a numbered list; the unit the catalog cites. */
export interface SeedRow {
  readonly file: string;
  readonly section: string;
  /** 1-based: the table's data row (header and separator rows not counted) or the list item's position. */
  readonly row: number;
  readonly title: string;
  /** The table's cells by column header (bold markers removed); empty for a list item. */
  readonly cells: Readonly<Record<string, string>>;
  /** The nested lines of a list item, list markers removed; empty for a table row. */
  readonly details: readonly string[];
  readonly ports: readonly SeedPortRange[];
}

/** One top-level item of a prose numbered list, which names ports in running text. */
export interface SeedProseItem {
  readonly file: string;
  readonly section: string;
  readonly row: number;
  readonly text: string;
}

export interface SeedDocument {
  readonly file: string;
  /** The front matter's `title`, or else the first level-1 heading. */
  readonly title: string;
  readonly text: string;
  readonly sections: readonly SeedSection[];
  /** Every table row or list item that states ports: each must be cited by the catalog. */
  readonly rows: readonly SeedRow[];
  /** Numbered prose items that mention ports outside any table. */
  readonly prose: readonly SeedProseItem[];
}

/** Raised when a seed document does not have the shape this reader expects; the tests must not guess. */
export class SeedFormatError extends Error {
  override readonly name = 'SeedFormatError';
}

const HEADING = /^(#{1,6})\s+(.+?)\s*#*\s*$/;
const TABLE_LINE = /^\s*\|/;
const SEPARATOR_ROW = /^\s*\|(\s*:?-+:?\s*\|)+\s*$/;
const TOP_LEVEL_ITEM = /^(\d+)\.\s+(.*)$/;
const NESTED_ITEM = /^\d+\.\s+/;

function splitLines(text: string): string[] {
  return text.replace(/\r\n?/g, '\n').split('\n');
}

function stripBold(text: string): string {
  return text.replace(/\*\*/g, '').trim();
}

function frontMatter(lines: readonly string[]): { fields: Map<string, string>; end: number } {
  const fields = new Map<string, string>();
  if (lines[0]?.trim() !== '---') return { fields, end: 0 };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === '---') return { fields, end: i + 1 };
    const m = /^([\w-]+):\s*(.*)$/.exec(line);
    if (m) fields.set(m[1] as string, (m[2] as string).replace(/^(['"])(.*)\1$/, '$2'));
  }
  throw new SeedFormatError('front matter opened with --- is never closed');
}

/** Splits a document into its headings, skipping the front matter. */
export function parseSections(text: string): SeedSection[] {
  const lines = splitLines(text);
  const start = frontMatter(lines).end;
  const headings: Array<{ index: number; level: number; heading: string }> = [];
  for (let i = start; i < lines.length; i++) {
    const m = HEADING.exec(lines[i] as string);
    if (m) headings.push({ index: i, level: (m[1] as string).length, heading: stripBold(m[2] as string) });
  }
  const stack: Array<{ level: number; heading: string }> = [];
  return headings.map((h, n) => {
    while (stack.length > 0 && (stack[stack.length - 1] as { level: number }).level >= h.level) stack.pop();
    stack.push(h);
    const nested = stack.filter((s) => s.level >= 2).map((s) => s.heading);
    const next = headings[n + 1]?.index ?? lines.length;
    const nextSibling = headings.slice(n + 1).find((o) => o.level <= h.level)?.index ?? lines.length;
    return {
      level: h.level,
      heading: h.heading,
      path: h.level === 1 ? h.heading : nested.join(' / '),
      body: lines.slice(h.index + 1, next),
      subtree: lines.slice(h.index + 1, nextSibling),
    };
  });
}

function splitCells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((c) => stripBold(c));
}

/** The pipe table of a section: its header and its data rows, separator rows skipped. */
export function parseTable(
  section: SeedSection,
): { header: string[]; rows: Array<Record<string, string>> } | undefined {
  const blocks: string[][] = [];
  let current: string[] | undefined;
  for (const line of section.body) {
    if (TABLE_LINE.test(line)) {
      if (!current) blocks.push((current = []));
      current.push(line);
    } else {
      current = undefined;
    }
  }
  if (blocks.length === 0) return undefined;
  if (blocks.length > 1) {
    throw new SeedFormatError(
      `section "${section.path}" holds ${blocks.length} tables; its row numbers are ambiguous`,
    );
  }
  const [headerLine, separator, ...rest] = blocks[0] as string[];
  if (headerLine === undefined || separator === undefined || !SEPARATOR_ROW.test(separator)) {
    throw new SeedFormatError(`section "${section.path}": the table has no header and separator row`);
  }
  const header = splitCells(headerLine);
  const rows = rest
    .filter((line) => !SEPARATOR_ROW.test(line))
    .map((line) => {
      const cells = splitCells(line);
      if (cells.length !== header.length) {
        throw new SeedFormatError(
          `section "${section.path}": row ${JSON.stringify(line)} has ${cells.length} cells, the header ${header.length}`,
        );
      }
      return Object.fromEntries(header.map((h, i) => [h, cells[i] as string]));
    });
  return { header, rows };
}

/**
 * The top-level items of the numbered lists in `lines`, numbered by position: the documents write
 * every item as `1.` and let markdown count, so the n-th item is item n.
 */
export function parseNumberedItems(lines: readonly string[]): Array<{ title: string; details: string[] }> {
  const items: Array<{ title: string; details: string[] }> = [];
  let current: { title: string; details: string[] } | undefined;
  for (const line of lines) {
    const top = TOP_LEVEL_ITEM.exec(line);
    if (top) {
      current = { title: stripBold(top[2] as string), details: [] };
      items.push(current);
    } else if (line.trim() === '') {
      continue;
    } else if (/^\s/.test(line) && current) {
      current.details.push(line.trim().replace(NESTED_ITEM, '').trim());
    } else {
      // An unindented paragraph ends the list; a later `1.` starts a new one, which we would count on.
      current = undefined;
    }
  }
  return items;
}

function portRange(
  fromText: string,
  toText: string | undefined,
  protocol: string,
  input: string,
): SeedPortRange {
  const from = Number(fromText);
  const to = toText === undefined ? from : Number(toText);
  if (!(from >= 1 && to <= 65535 && from <= to))
    throw new SeedFormatError(`${JSON.stringify(input)}: bad port range`);
  return { from, to, protocol: protocol.toLowerCase() as SeedProtocol };
}

/** `443/TCP`, or `443/TCP, 8443/TCP`. */
export function parseSlashPorts(cell: string): SeedPortRange[] {
  return cell.split(',').map((item) => {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?\/(TCP|UDP)$/i.exec(item.trim());
    if (!m)
      throw new SeedFormatError(
        `${JSON.stringify(cell)}: ${JSON.stringify(item.trim())} is not PORT/PROTOCOL`,
      );
    return portRange(m[1] as string, m[2], m[3] as string, cell);
  });
}

/** `22 (TCP), 443 (TCP), 8000-8010 (TCP)`. */
export function parseParenPorts(text: string): SeedPortRange[] {
  return text
    .trim()
    .split(',')
    .map((item) => {
      const m = /^(\d{1,5})(?:-(\d{1,5}))?\s*\((TCP|UDP)\)$/i.exec(item.trim());
      if (!m)
        throw new SeedFormatError(
          `${JSON.stringify(text)}: ${JSON.stringify(item.trim())} is not PORT (PROTOCOL)`,
        );
      return portRange(m[1] as string, m[2], m[3] as string, text);
    });
}

/** A bare `18080` or `6780-6781`, with the protocol the document states elsewhere. */
export function parseBarePorts(cell: string, protocol: SeedProtocol): SeedPortRange[] {
  return cell.split(',').map((item) => {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(item.trim());
    if (!m)
      throw new SeedFormatError(`${JSON.stringify(cell)}: ${JSON.stringify(item.trim())} is not a port`);
    return portRange(m[1] as string, m[2], protocol, cell);
  });
}

function documentTitle(text: string, sections: readonly SeedSection[]): string {
  const title =
    frontMatter(splitLines(text)).fields.get('title') ?? sections.find((s) => s.level === 1)?.heading;
  if (title === undefined)
    throw new SeedFormatError('the document has neither a front-matter title nor a # heading');
  return title;
}

function tableRows(
  file: string,
  sections: readonly SeedSection[],
  titleColumn: string,
  portsOf: (cells: Record<string, string>) => SeedPortRange[],
): SeedRow[] {
  return sections.flatMap((section) => {
    const table = parseTable(section);
    if (!table) return [];
    if (!table.header.includes(titleColumn)) {
      throw new SeedFormatError(
        `${file} "${section.path}": no ${titleColumn} column in ${table.header.join(' | ')}`,
      );
    }
    return table.rows.map((cells, i) => ({
      file,
      section: section.path,
      row: i + 1,
      title: cells[titleColumn] as string,
      cells,
      details: [],
      ports: portsOf(cells),
    }));
  });
}

function column(cells: Record<string, string>, name: string): string {
  const value = cells[name];
  if (value === undefined) throw new SeedFormatError(`no ${name} column in ${JSON.stringify(cells)}`);
  return value;
}

/** RiverMeadow: every table row, ports from its `Port/Protocol` column. */
export function parseRiverMeadow(text: string, file = RIVERMEADOW_FILE): SeedDocument {
  const sections = parseSections(text);
  return {
    file,
    title: documentTitle(text, sections),
    text,
    sections,
    rows: tableRows(file, sections, 'Name', (cells) => parseSlashPorts(column(cells, 'Port/Protocol'))),
    prose: [],
  };
}

/**
 * LiveData Migrator: every table row, ports from its `Port` column. The tables carry no protocol; the
 * document says once that "the required connectivity uses TCP connections", which is read here.
 */
export function parseLiveDataMigrator(text: string, file = LDM_FILE): SeedDocument {
  const sections = parseSections(text);
  if (!/\buses TCP connections\b/.test(text)) {
    throw new SeedFormatError(`${file}: the document no longer says which protocol its ports use`);
  }
  const architecture = sections.find((s) => s.path === LDM_ARCHITECTURE_SECTION);
  if (!architecture) throw new SeedFormatError(`${file}: no section "${LDM_ARCHITECTURE_SECTION}"`);
  return {
    file,
    title: documentTitle(text, sections),
    text,
    sections,
    rows: tableRows(file, sections, 'Description', (cells) => parseBarePorts(column(cells, 'Port'), 'tcp')),
    prose: parseNumberedItems(architecture.body).map((item, i) => ({
      file,
      section: architecture.path,
      row: i + 1,
      text: [item.title, ...item.details].join(' '),
    })),
  };
}

/** HDM: every top-level item under `# HDM - Component Interactions`, ports from its `Port(s) - …` line. */
export function parseHdm(text: string, file = HDM_FILE): SeedDocument {
  const sections = parseSections(text);
  const interactions = sections.find((s) => s.level === 1 && s.heading === HDM_SECTION);
  if (!interactions) throw new SeedFormatError(`${file}: no "# ${HDM_SECTION}" heading`);
  const rows = parseNumberedItems(interactions.subtree).map((item, i): SeedRow => {
    const portLines = item.details.filter((d) => /^Ports?\s+-\s+/.test(d));
    if (portLines.length !== 1) {
      throw new SeedFormatError(
        `${file} item ${i + 1} "${item.title}": ${portLines.length} Port(s) lines, expected 1`,
      );
    }
    return {
      file,
      section: HDM_SECTION,
      row: i + 1,
      title: item.title,
      cells: {},
      details: item.details,
      ports: parseParenPorts((portLines[0] as string).replace(/^Ports?\s+-\s+/, '')),
    };
  });
  return { file, title: documentTitle(text, sections), text, sections, rows, prose: [] };
}

export interface Seeds {
  readonly rivermeadow: SeedDocument;
  readonly ldm: SeedDocument;
  readonly hdm: SeedDocument;
  readonly all: readonly SeedDocument[];
}

/** Reads and parses the three seed documents. */
export function loadSeeds(dir = SEEDS_DIR): Seeds {
  const read = (file: string) => readFileSync(path.join(dir, file), 'utf8');
  const rivermeadow = parseRiverMeadow(read(RIVERMEADOW_FILE));
  const ldm = parseLiveDataMigrator(read(LDM_FILE));
  const hdm = parseHdm(read(HDM_FILE));
  return { rivermeadow, ldm, hdm, all: [rivermeadow, ldm, hdm] };
}

/** Every port number of the ranges with the given protocol, ascending and without repeats. */
export function seedPortNumbers(ranges: readonly SeedPortRange[], protocol: SeedProtocol): number[] {
  const ports = new Set<number>();
  for (const r of ranges) if (r.protocol === protocol) for (let p = r.from; p <= r.to; p++) ports.add(p);
  return [...ports].sort((a, b) => a - b);
}

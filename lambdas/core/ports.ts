/** An inclusive TCP/UDP port range; a single port has `from === to`. */
export interface PortRange {
  from: number;
  to: number;
}

/** Raised when a port list such as `22,443,8000-8010` cannot be read. */
export class PortListError extends Error {
  override readonly name = 'PortListError';
  constructor(
    readonly input: string,
    readonly reason: string,
  ) {
    super(`${JSON.stringify(input)} is not a port list (${reason}); write ports like "22,443,8000-8010"`);
  }
}

const PORT_TOKEN = /^(\d{1,5})(?:-(\d{1,5}))?$/;

function toPort(text: string, input: string): number {
  const n = Number(text);
  if (n < 1 || n > 65535) throw new PortListError(input, `port ${text} is outside 1-65535`);
  return n;
}

/**
 * Reads a port list such as `22,443,8000-8010` into sorted, merged ranges.
 * Whitespace around items is ignored; an empty list, a reversed range or a port outside 1-65535 is an error.
 */
export function parsePortList(input: string): PortRange[] {
  const items = input.split(',').map((s) => s.trim());
  if (items.length === 0 || items.every((s) => s === '')) throw new PortListError(input, 'it is empty');
  const ranges: PortRange[] = [];
  for (const item of items) {
    const m = PORT_TOKEN.exec(item);
    if (!m) throw new PortListError(input, `${JSON.stringify(item)} is neither a port nor a range`);
    const from = toPort(m[1] as string, input);
    const to = m[2] === undefined ? from : toPort(m[2], input);
    if (from > to) throw new PortListError(input, `range ${item} runs backwards`);
    ranges.push({ from, to });
  }
  return mergePortRanges(ranges);
}

/** Sorts ranges and merges the ones that overlap or touch (`22-23` and `24` become `22-24`). */
export function mergePortRanges(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a.from - b.from || a.to - b.to);
  const out: PortRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.from <= last.to + 1) last.to = Math.max(last.to, r.to);
    else out.push({ from: r.from, to: r.to });
  }
  return out;
}

/** Formats ranges back into the `22,443,8000-8010` notation. */
export function formatPortList(ranges: readonly PortRange[]): string {
  return ranges.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`)).join(',');
}

/** Every port of the ranges, in ascending order. */
export function expandPorts(ranges: readonly PortRange[]): number[] {
  const out: number[] = [];
  for (const r of mergePortRanges(ranges)) for (let p = r.from; p <= r.to; p++) out.push(p);
  return out;
}

/** The number of ports the ranges cover (overlaps counted once). */
export function countPorts(ranges: readonly PortRange[]): number {
  return mergePortRanges(ranges).reduce((n, r) => n + r.to - r.from + 1, 0);
}

/** Collapses a list of ports into ranges (the inverse of {@link expandPorts}). */
export function portsToRanges(ports: readonly number[]): PortRange[] {
  return mergePortRanges(ports.map((p) => ({ from: p, to: p })));
}

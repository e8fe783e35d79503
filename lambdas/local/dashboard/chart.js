// A flow's verdict over time as an inline SVG step chart: one lane per verdict the flow has had (best at the
// top), one point per run placed by its time, the symbol of its verdict inside the point and a link to the run.
import { s } from './dom.js';
import { verdictInfo, verdictRank } from './verdicts.js';

const LANE = 34;
const LEFT = 170;
const RIGHT = 24;
const TOP = 14;
const BOTTOM = 40;
const WIDTH = 760;
const RADIUS = 10;

function shortTime(ms) {
  return new Date(ms).toLocaleString(undefined, {
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

/**
 * The chart of `items` (a flow's findings across runs, any order).
 * @param items - `{ checkId, createdAt, verdict, cause }`
 * @param runHref - the link of a run's point
 */
export function historyChart(items, runHref) {
  const points = items
    .map((item) => ({ ...item, ms: new Date(item.createdAt).getTime() }))
    .filter((p) => Number.isFinite(p.ms))
    .sort((a, b) => a.ms - b.ms);
  const lanes = [...new Set(points.map((p) => p.verdict))].sort((a, b) => verdictRank(b) - verdictRank(a));
  const height = TOP + Math.max(lanes.length, 1) * LANE + BOTTOM;
  const first = points[0]?.ms ?? 0;
  const last = points[points.length - 1]?.ms ?? 0;
  const span = last - first;
  const plotLeft = LEFT + RADIUS + 4;
  const plotWidth = WIDTH - plotLeft - RIGHT - RADIUS;
  const x = (ms) => (span > 0 ? plotLeft + ((ms - first) / span) * plotWidth : plotLeft + plotWidth / 2);
  const y = (verdict) => TOP + lanes.indexOf(verdict) * LANE + LANE / 2;

  const latest = points[points.length - 1];
  const summary = latest
    ? `Verdict of this flow over ${points.length} run(s): now ${verdictInfo(latest.verdict).label}; ` +
      `verdicts seen: ${lanes.map((v) => verdictInfo(v).label).join(', ')}`
    : 'No runs of this flow yet';

  const svg = s('svg', {
    class: 'chart',
    viewBox: `0 0 ${WIDTH} ${height}`,
    role: 'img',
    'aria-label': summary,
    'data-points': points.length,
  });
  svg.append(s('title', {}, summary));

  lanes.forEach((verdict, i) => {
    const info = verdictInfo(verdict);
    const top = TOP + i * LANE;
    svg.append(
      s('rect', {
        class: `lane tone-${info.tone}`,
        x: LEFT,
        y: top,
        width: WIDTH - LEFT - RIGHT,
        height: LANE,
      }),
      s(
        'text',
        { class: 'lane-label', x: LEFT - 10, y: top + LANE / 2, 'text-anchor': 'end' },
        `${info.symbol}  ${info.label}`,
      ),
    );
  });

  // The time axis: the first and last run, and the middle when there is room.
  const axisY = TOP + lanes.length * LANE;
  svg.append(s('line', { class: 'axis', x1: LEFT, x2: WIDTH - RIGHT, y1: axisY, y2: axisY }));
  const ticks = span > 0 ? [first, first + span / 2, last] : points.length > 0 ? [first] : [];
  ticks.forEach((ms, i) => {
    // The outer labels grow inwards, so that none is cut at the edges.
    const anchor =
      ticks.length === 1 ? 'middle' : i === 0 ? 'start' : i === ticks.length - 1 ? 'end' : 'middle';
    const labelX = anchor === 'start' ? x(ms) - RADIUS : anchor === 'end' ? x(ms) + RADIUS : x(ms);
    svg.append(
      s('line', { class: 'tick', x1: x(ms), x2: x(ms), y1: axisY, y2: axisY + 5 }),
      s('text', { class: 'tick-label', x: labelX, y: axisY + 20, 'text-anchor': anchor }, shortTime(ms)),
    );
  });

  // The step line: a verdict holds until the next run.
  if (points.length > 1) {
    let d = `M ${x(points[0].ms)} ${y(points[0].verdict)}`;
    for (const p of points.slice(1)) d += ` H ${x(p.ms)} V ${y(p.verdict)}`;
    svg.append(s('path', { class: 'step', d }));
  }

  for (const p of points) {
    const info = verdictInfo(p.verdict);
    const label = `${new Date(p.ms).toLocaleString()}: ${info.label}${p.cause ? ` (${p.cause})` : ''}`;
    svg.append(
      s(
        'a',
        {
          href: runHref(p.checkId),
          class: `point tone-${info.tone}`,
          'aria-label': label,
          'data-verdict': p.verdict,
        },
        s('title', {}, label),
        s('circle', { cx: x(p.ms), cy: y(p.verdict), r: RADIUS }),
        s(
          'text',
          { x: x(p.ms), y: y(p.verdict), 'text-anchor': 'middle', 'dominant-baseline': 'central' },
          info.symbol,
        ),
      ),
    );
  }
  return svg;
}

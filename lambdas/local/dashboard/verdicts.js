// How the dashboard shows verdicts and readiness. The verdict table itself (class, whether it keeps a run from
// GO, label, symbol, next step) is not copied here: it is read from the API (`GET /verdicts`) once at start, and
// readiness comes computed with each run. This file only maps a class or a decision to a tone (the colour).

/** Tones from worst to best. */
export const TONES = ['bad', 'warn', 'neutral', 'good'];

const CLASS_TONE = { fail: 'bad', warn: 'warn', 'not-verified': 'neutral', pass: 'good' };

/** @type {Array<{verdict: string, class: string, blocksGo: boolean, label: string, symbol: string, next: string}>} */
let table = [];
let byVerdict = new Map();

/** Loads the verdict table from the API; `fetchTable` resolves to `{ verdicts: [...] }`. */
export async function loadVerdicts(fetchTable) {
  const { verdicts } = await fetchTable();
  table = verdicts;
  byVerdict = new Map(verdicts.map((r) => [r.verdict, r]));
}

/** How to show `verdict`; never throws, whatever the text. Unknown verdicts are not verified, shown as `?`. */
export function verdictInfo(verdict) {
  const rule = byVerdict.get(verdict);
  if (!rule) return { tone: 'neutral', symbol: '?', label: String(verdict), next: '', class: 'not-verified' };
  return { ...rule, tone: CLASS_TONE[rule.class] ?? 'neutral' };
}

/** Sort key: the table's order (what keeps a run from GO first), unknown verdicts after known ones. */
export function verdictRank(verdict) {
  const index = table.findIndex((r) => r.verdict === verdict);
  return index === -1 ? table.length : index;
}

/** The known verdicts in display order, for the legend. */
export function knownVerdicts() {
  return table.map((r) => r.verdict);
}

/** Run statuses that will still change. */
export const OPEN_STATUSES = ['queued', 'running'];

const DECISION_SHOW = {
  GO: { tone: 'good', symbol: '✓' },
  'NO-GO': { tone: 'bad', symbol: '✗' },
  INCOMPLETE: { tone: 'warn', symbol: '◐' },
};

/** How to show a readiness decision (GO, NO-GO, INCOMPLETE); unknown ones are neutral. */
export function decisionInfo(decision) {
  return DECISION_SHOW[decision] ?? { tone: 'neutral', symbol: '?' };
}

/** What answered on a finding's ports, as the service worded it (older findings: the kind only). */
export function answeredText(finding) {
  const answered = finding.detail?.answered;
  if (Array.isArray(answered) && answered.length > 0) return answered.join('; ');
  return (finding.services ?? []).map((s) => `${s.port}: ${s.service?.kind ?? '?'}`).join('; ');
}

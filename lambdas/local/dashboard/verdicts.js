// Verdicts as the dashboard shows them: a tone (the colour), a symbol (so that no reader depends on colour),
// a label and the next step for a person. Unknown verdicts (added to the service later) get a neutral tone,
// the symbol "?" and their own text, so nothing is hidden.

/** Tones from worst to best; the order also sorts findings (worst first). */
export const TONES = ['bad', 'warn', 'neutral', 'good'];

/** @type {Record<string, {tone: string, symbol: string, label: string, next: string}>} */
const VERDICTS = {
  'blocked-aws': {
    tone: 'bad',
    symbol: 'B',
    label: 'blocked by AWS',
    next: 'Add the Security Group, network ACL or route rule shown under Remediation.',
  },
  'timeout-aws-allows': {
    tone: 'bad',
    symbol: 'F',
    label: 'timed out, AWS allows it',
    next: 'AWS lets it through: ask for the on-premises firewall rule, or check the VPN and the route back to the VPC.',
  },
  timeout: {
    tone: 'bad',
    symbol: 'T',
    label: 'timed out',
    next: 'Something drops the packets; audit the AWS side (serve --inventory) to tell AWS from on-premises.',
  },
  unreachable: {
    tone: 'bad',
    symbol: 'U',
    label: 'unreachable',
    next: 'A route is missing or a firewall rejects it (ICMP unreachable).',
  },
  refused: {
    tone: 'bad',
    symbol: 'R',
    label: 'refused',
    next: 'The host answered but nothing listens on the port: start the service or correct the port.',
  },
  'dns-error': {
    tone: 'bad',
    symbol: 'D',
    label: 'DNS error',
    next: 'The name does not resolve from the vantage: fix the DNS record or the resolver (Route 53 Resolver rules).',
  },
  error: { tone: 'bad', symbol: 'E', label: 'error', next: 'The probe failed; see the cause.' },
  warn: {
    tone: 'warn',
    symbol: '!',
    label: 'warning',
    next: 'Open, but something other than the expected service answered: see the cause.',
  },
  skipped: {
    tone: 'warn',
    symbol: 'S',
    label: 'skipped',
    next: 'Not probed (time budget or probe problem): run the check again.',
  },
  'audited-only': {
    tone: 'neutral',
    symbol: 'A',
    label: 'audited only',
    next: 'Cannot be probed from the VPC (ingress or a CIDR); the audit result is shown.',
  },
  'not-checkable': {
    tone: 'neutral',
    symbol: 'N',
    label: 'not checkable',
    next: 'Both ends are outside the VPC: check it on-premises.',
  },
  pass: { tone: 'good', symbol: '✓', label: 'pass', next: '' },
};

/** How to show `verdict`; never throws, whatever the text. */
export function verdictInfo(verdict) {
  const known = Object.prototype.hasOwnProperty.call(VERDICTS, verdict) ? VERDICTS[verdict] : undefined;
  return known ?? { tone: 'neutral', symbol: '?', label: String(verdict), next: '' };
}

/** Sort key: bad verdicts first, then by their order in the table above, unknown ones after known ones. */
export function verdictRank(verdict) {
  const order = Object.keys(VERDICTS);
  const info = verdictInfo(verdict);
  const index = order.indexOf(verdict);
  return TONES.indexOf(info.tone) * 100 + (index === -1 ? 99 : index);
}

/** The known verdicts in display order, for the legend. */
export function knownVerdicts() {
  return Object.keys(VERDICTS);
}

/** Run statuses that will still change. */
export const OPEN_STATUSES = ['queued', 'running'];

/** What answered on an open port (a finding's `services` entry), in words; unknown kinds are named as such. */
export function serviceText({ port, service }) {
  const s = service ?? {};
  const warning = s.warning ? `: ${s.warning}` : '';
  let text;
  switch (s.kind) {
    case 'tls':
      text =
        `TLS ${s.version}, subject ${s.subject}, issuer ${s.issuer}, valid until ${s.notAfter}` +
        `${s.selfSigned ? ', self-signed' : ''}, host name ${s.hostnameMatch}${warning}`;
      break;
    case 'http':
      text = `HTTP ${s.status}${s.server ? ` (${s.server})` : ''}${warning}`;
      break;
    case 'ssh':
      text = `SSH ${s.banner}`;
      break;
    case 'smb':
      text = `SMB dialect ${s.dialect}`;
      break;
    case 'none':
      text = `no ${s.expected} answered: ${s.reason}`;
      break;
    case 'skipped':
      text = `${s.expected} not identified: ${s.reason}`;
      break;
    default:
      text = `${String(s.kind)} (not shown by this dashboard)`;
  }
  return `${port}: ${text}`;
}

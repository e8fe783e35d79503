import { type Catalog, defaultCatalog } from '../../core/catalog';
import { describeParty, type Direction, type Flow, plan } from '../../core/plan';
import { formatPortList } from '../../core/ports';
import { parseCommandArgs, UsageError } from '../args';
import { readEnvironmentFile } from '../env-file';
import { type Io, type Paint, painter, table } from '../output';

export const planHelp = `Usage: preflight plan --config FILE [--json]

Turns an environment file (YAML or JSON) into flows: every requirement of its profiles between the
vantages and endpoints it names, plus its own flows. Each flow has a direction as seen from the VPC
(egress, ingress, intra-vpc, outside) and says how it will be checked: probed live from the vantage
that holds its source (a prober in the VPC, or \`preflight agent\` on an on-prem vantage), audited
statically (Security Groups, network ACLs, routes), or not checkable, and then which vantage would
make it checkable.

Options:
  --config FILE  the environment file (see examples/)
  --json         machine-readable output
  -h, --help     show this help

Example:
  preflight plan --config examples/wave-1.yaml`;

const HEADINGS: Record<Direction, string> = {
  egress: 'egress: from the VPC outwards',
  'intra-vpc': 'intra-vpc: within the VPC',
  ingress: 'ingress: into the VPC (probed by the agent of an on-prem vantage; audited at the destination)',
  outside: 'outside: both ends outside the VPC (probed by the agent of an on-prem vantage)',
};

function checkLabel(f: Flow, paint: Paint): string {
  if (f.probe) return paint('green', f.audit ? 'probe+audit' : 'probe');
  if (f.audit) return paint('yellow', 'audit only');
  return paint('grey', 'not checkable');
}

/** `preflight plan`: an environment's flows and how each will be checked. */
export async function planCommand(argv: string[], io: Io, injected?: Catalog): Promise<number> {
  const { values } = parseCommandArgs('plan', argv, {
    config: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const catalog = injected ?? defaultCatalog();
  if (values.config === undefined) throw new UsageError('--config FILE is required', 'plan');
  const env = readEnvironmentFile(values.config, io.cwd, catalog);
  const p = plan(env, catalog);
  if (values.json) {
    io.stdout.write(`${JSON.stringify(p, null, 2)}\n`);
    return 0;
  }
  const paint = painter(io.stdout, io.env);
  const s = p.summary;
  const out: string[] = [
    `${paint('bold', `Plan for ${p.environment}`)} (profiles: ${p.profiles.join(', ') || 'none'}): ` +
      `${s.flows} flows: ${s.probed} probed live, ${s.auditOnly} audited only, ${s.notCheckable} not checkable` +
      (s.unplaced ? `; ${s.unplaced} requirements unplaced` : '') +
      (s.excluded ? `; ${s.excluded} excluded` : ''),
  ];
  for (const direction of Object.keys(HEADINGS) as Direction[]) {
    const flows = p.flows.filter((f) => f.direction === direction);
    if (flows.length === 0) continue;
    const rows = [
      ['CHECK', 'FROM', 'TO', 'PORTS', 'REQUIREMENTS', 'FLOW'].map((h) => paint('bold', h)),
      ...flows.map((f) => [
        checkLabel(f, paint),
        describeParty(f.source),
        describeParty(f.destination),
        `${formatPortList(f.ports)}/${f.protocol}`,
        f.requirements.join(', ') + (f.optional ? paint('grey', ' (optional)') : ''),
        paint('grey', f.id),
      ]),
    ];
    out.push('', paint('bold', HEADINGS[direction]), table(rows, '  '));
  }
  const unchecked = p.flows.filter((f) => !f.probe);
  if (unchecked.length > 0) {
    out.push('', paint('bold', 'not probed live: why, and what would make it checkable'));
    out.push(
      table(
        unchecked.map((f) => [paint('grey', f.id), f.why]),
        '  ',
      ),
    );
  }
  if (p.unplaced.length > 0) {
    out.push('', paint('bold', 'unplaced: requirements with no flow'));
    out.push(
      table(
        p.unplaced.map((u) => [u.requirement, u.reason]),
        '  ',
      ),
    );
  }
  if (p.excluded.length > 0) out.push('', `${paint('bold', 'excluded:')} ${p.excluded.join(', ')}`);
  io.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

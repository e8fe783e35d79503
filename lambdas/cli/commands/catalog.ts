import type { Catalog } from '../../core/catalog/assemble';
import type { Requirement } from '../../core/catalog/schema';
import { snapshotCatalog } from '../../core/catalog/snapshot';
import { formatPortList } from '../../core/ports';
import { InputError, parseCommandArgs } from '../args';
import { type Io, painter, table } from '../output';

export const catalogHelp = `Usage: preflight catalog [--profile ID] [--json]

Lists the migration tools' port requirements: each profile (a tool's set of requirements), its
requirements (from role → to role, protocol, ports, purpose, optional, where it is documented) and
the roles with their default placement (cloud, on-prem or internet).

Options:
  --profile ID   only this profile (and the roles it uses)
  --json         machine-readable output
  -h, --help     show this help

Examples:
  preflight catalog
  preflight catalog --profile primaryio-hdm --json`;

function requirementJson(r: Requirement) {
  return {
    id: r.id,
    from: r.from,
    to: r.to,
    protocol: r.protocol,
    ports: r.ports.map((p) => ({ from: p.from, to: p.to })),
    optional: r.optional,
    purpose: r.purpose,
    source: r.source,
    ...(r.reading ? { reading: r.reading } : {}),
  };
}

/** `preflight catalog`: the profiles, their requirements and the roles. */
export async function catalogCommand(argv: string[], io: Io, injected?: Catalog): Promise<number> {
  const { values } = parseCommandArgs('catalog', argv, {
    profile: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  // The build's validated copy when the data files are those it was made from (no schema code to load), else
  // the files validated as they are.
  const catalog =
    injected ?? snapshotCatalog() ?? (await import('../../core/catalog/index.js')).defaultCatalog();
  let profiles = catalog.profiles;
  if (values.profile !== undefined) {
    const one = catalog.profile(values.profile);
    if (!one) {
      throw new InputError(
        `--profile: "${values.profile}" is not a profile (known: ${catalog.profiles.map((p) => p.id).join(', ')})`,
      );
    }
    profiles = [one];
  }
  const used = new Set(profiles.flatMap((p) => p.requirements.flatMap((r) => [r.from, r.to])));
  const roles = catalog.roles.filter((r) => values.profile === undefined || used.has(r.id));

  if (values.json) {
    const out = {
      profiles: profiles.map((p) => ({
        id: p.id,
        name: p.name,
        vendor: p.vendor,
        description: p.description,
        requirements: p.requirements.map(requirementJson),
      })),
      roles: roles.map((r) => ({
        id: r.id,
        name: r.name,
        placement: r.placement,
        ...(r.kindOf ? { kindOf: r.kindOf } : {}),
        ...(r.description ? { description: r.description } : {}),
      })),
    };
    io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }

  const paint = painter(io.stdout, io.env);
  const blocks: string[] = [];
  for (const p of profiles) {
    const rows = [
      ['REQUIREMENT', 'FROM', 'TO', 'PORTS', 'PURPOSE'].map((h) => paint('bold', h)),
      ...p.requirements.map((r) => [
        r.id,
        r.from,
        r.to,
        `${formatPortList(r.ports)}/${r.protocol}`,
        (r.optional ? paint('grey', '(optional) ') : '') + r.purpose.split(':')[0],
      ]),
    ];
    blocks.push(
      `${paint('bold', p.id)}  ${p.name} (${p.vendor}), ${p.requirements.length} requirements\n${table(rows, '  ')}`,
    );
  }
  const roleRows = [
    ['ROLE', 'PLACEMENT', 'NAME'].map((h) => paint('bold', h)),
    ...roles.map((r) => [
      r.id,
      r.placement,
      r.name + (r.kindOf ? paint('grey', ` (a kind of ${r.kindOf})`) : ''),
    ]),
  ];
  blocks.push(`${paint('bold', 'roles')}\n${table(roleRows, '  ')}`);
  blocks.push(paint('grey', 'Sources and direction notes: preflight catalog --json'));
  io.stdout.write(`${blocks.join('\n\n')}\n`);
  return 0;
}

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  buildCatalog,
  CatalogError,
  type CatalogSource,
  DEFAULT_CATALOG_DIR,
  defaultCatalog,
  loadCatalog,
  type Requirement,
  type SourceRef,
} from '../../lambdas/core/catalog';
import { expandPorts } from '../../lambdas/core/ports';
import {
  COPIED_SEEDS_DIR,
  HDM_FILE,
  HDM_SECTION,
  LDM_ARCHITECTURE_SECTION,
  LDM_FILE,
  loadSeeds,
  RIVERMEADOW_FILE,
  type SeedDocument,
  type SeedProtocol,
  type SeedRow,
  seedPortNumbers,
  SHARED_SEEDS_DIR,
} from './seeds';

const seeds = loadSeeds();
const catalog = defaultCatalog();
const seedRows: readonly SeedRow[] = seeds.all.flatMap((doc) => doc.rows);

const RM_GENERAL = 'General Ports and Protocols';
const RM_OS = 'OS Based Migration Ports and Protocols';
const RM_VM = 'VM Based Migration Ports and Protocols';

type Citation = Pick<SourceRef, 'file' | 'section' | 'row'>;

function citationKey(c: Citation): string {
  return `${c.file} "${c.section}" row ${c.row}`;
}

function citing(c: Citation): Requirement[] {
  return catalog.requirements.filter((r) => citationKey(r.source) === citationKey(c));
}

function seedRowFor(c: Citation): SeedRow | undefined {
  return seedRows.find((row) => citationKey(row) === citationKey(c));
}

/** The catalog's ports of the requirements, by protocol, as sorted port numbers. */
function catalogPortsByProtocol(requirements: readonly Requirement[]): Record<string, number[]> {
  const out: Record<string, Set<number>> = {};
  for (const r of requirements) {
    const ports = (out[r.protocol] ??= new Set<number>());
    for (const p of expandPorts(r.ports)) ports.add(p);
  }
  return Object.fromEntries(
    Object.entries(out).map(([protocol, set]) => [protocol, [...set].sort((a, b) => a - b)]),
  );
}

/** The seed row's ports, by protocol, as sorted port numbers. */
function seedPortsByProtocol(row: SeedRow): Record<string, number[]> {
  const protocols = new Set<SeedProtocol>(row.ports.map((p) => p.protocol));
  return Object.fromEntries(
    [...protocols].map((protocol) => [protocol, seedPortNumbers(row.ports, protocol)]),
  );
}

function rowsPerSection(doc: SeedDocument): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const row of doc.rows) counts[row.section] = (counts[row.section] ?? 0) + 1;
  return counts;
}

function requirementsOf(file: string): Requirement[] {
  return catalog.requirements.filter((r) => r.source.file === file);
}

describe('seed documents as read by test/unit/seeds.ts', () => {
  it('finds the number of table rows and list items that a reader counts by hand', () => {
    // Arrange
    const { rivermeadow, ldm, hdm } = seeds;

    // Act
    const counts = {
      rivermeadow: rowsPerSection(rivermeadow),
      ldm: rowsPerSection(ldm),
      ldmArchitectureItems: ldm.prose.length,
      hdm: rowsPerSection(hdm),
    };

    // Assert
    expect(counts).toEqual({
      rivermeadow: { [RM_GENERAL]: 4, [RM_OS]: 4, [RM_VM]: 9 },
      ldm: { 'LiveData Migrator port requirements': 2, 'LiveData UI': 1 },
      ldmArchitectureItems: 2,
      hdm: { [HDM_SECTION]: 15 },
    });
  });

  it('keeps HDM port ranges as ranges and reads every port of an item', () => {
    // Arrange
    const item = (n: number) => seeds.hdm.rows.find((row) => row.row === n);

    // Act
    const item4 = item(4);
    const item12 = item(12);

    // Assert
    expect(item4?.title).toBe('HDM PIO Appliance to HDM Prem Manager');
    expect(item4?.ports).toEqual([
      { from: 22, to: 22, protocol: 'tcp' },
      { from: 443, to: 443, protocol: 'tcp' },
      { from: 2376, to: 2376, protocol: 'tcp' },
      { from: 8000, to: 8010, protocol: 'tcp' },
      { from: 32820, to: 32820, protocol: 'tcp' },
    ]);
    expect(item12?.ports.map((p) => p.from)).toEqual([3260, 9001, 9002]);
  });
});

describe('catalog requirements against the seed documents', () => {
  it.each(seedRows.map((row) => ({ ...row, key: citationKey(row) })))(
    '$key ($title) is cited, and the citing requirements carry exactly its ports and protocol',
    (row) => {
      // Arrange
      const cited = citing(row);

      // Act
      const catalogPorts = catalogPortsByProtocol(cited);

      // Assert
      expect(cited.map((r) => r.id)).not.toEqual([]);
      expect(catalogPorts).toEqual(seedPortsByProtocol(row));
    },
  );

  it('cites no table row or list item that the seed documents do not have', () => {
    // Arrange
    const known = new Set([...seedRows, ...seeds.ldm.prose].map(citationKey));

    // Act
    const dangling = catalog.requirements
      .filter((r) => !known.has(citationKey(r.source)))
      .map((r) => `${r.id} → ${citationKey(r.source)}`);

    // Assert
    expect(dangling).toEqual([]);
  });

  it('takes the LDM architecture-prose requirements only from ports the cited prose item names', () => {
    // Arrange
    const prose = requirementsOf(LDM_FILE).filter((r) => r.source.section === LDM_ARCHITECTURE_SECTION);
    const sectionText =
      seeds.ldm.sections.find((s) => s.path === LDM_ARCHITECTURE_SECTION)?.body.join('\n') ?? '';
    const names = (text: string, port: number) => new RegExp(`\\b${port}\\b`).test(text);

    // Act
    const ports = [...new Set(prose.flatMap((r) => expandPorts(r.ports)))].sort((a, b) => a - b);
    const unsupported = prose.flatMap((r) => {
      const item = seeds.ldm.prose.find((p) => p.row === r.source.row);
      return expandPorts(r.ports)
        .filter((port) => !item || !names(item.text, port) || !names(sectionText, port))
        .map((port) => `${r.id}: ${port} not in item ${r.source.row}`);
    });

    // Assert
    expect(ports).toEqual([6780, 6781, 8081]);
    expect(unsupported).toEqual([]);
  });

  it('names each seed document by its own title', () => {
    // Arrange
    const titleOf = new Map(seeds.all.map((doc) => [doc.file, doc.title]));

    // Act
    const misnamed = catalog.requirements
      .filter((r) => !r.source.document.includes(titleOf.get(r.source.file) ?? '\u0000'))
      .map((r) => `${r.id}: "${r.source.document}"`);

    // Assert
    expect(misnamed).toEqual([]);
  });

  it('puts RiverMeadow general rows in both profiles, OS rows only in rivermeadow-os and VM rows only in rivermeadow-vm', () => {
    // Arrange
    const expected: Record<string, string[]> = {
      [RM_GENERAL]: ['rivermeadow-os', 'rivermeadow-vm'],
      [RM_OS]: ['rivermeadow-os'],
      [RM_VM]: ['rivermeadow-vm'],
    };
    const rm = requirementsOf(RIVERMEADOW_FILE);
    const idsIn = (...sections: string[]) =>
      rm
        .filter((r) => sections.includes(r.source.section))
        .map((r) => r.id)
        .sort();

    // Act
    const misplaced = rm
      .filter((r) => JSON.stringify([...r.profiles].sort()) !== JSON.stringify(expected[r.source.section]))
      .map((r) => `${r.id} (${r.source.section}): ${r.profiles.join(', ')}`);
    const osIds = catalog
      .profile('rivermeadow-os')
      ?.requirements.map((r) => r.id)
      .sort();
    const vmIds = catalog
      .profile('rivermeadow-vm')
      ?.requirements.map((r) => r.id)
      .sort();

    // Assert
    expect(misplaced).toEqual([]);
    expect(osIds).toEqual(idsIn(RM_GENERAL, RM_OS));
    expect(vmIds).toEqual(idsIn(RM_GENERAL, RM_VM));
  });

  it.each([
    { from: 8000, to: 8010 },
    { from: 5000, to: 5010 },
    { from: 12000, to: 12010 },
    { from: 6000, to: 6010 },
    { from: 7000, to: 7010 },
  ])('keeps the HDM range $from-$to as one range, as the document writes it', (range) => {
    // Arrange
    const hdm = requirementsOf(HDM_FILE);

    // Act
    const inDocument = seeds.hdm.rows.some((row) =>
      row.ports.some((p) => p.from === range.from && p.to === range.to),
    );
    const inCatalog = hdm.filter((r) => r.ports.some((p) => p.from === range.from && p.to === range.to));

    // Assert
    expect(inDocument).toBe(true);
    expect(inCatalog.map((r) => r.id)).not.toEqual([]);
  });

  it('keeps the HDM prepare-to-migrate guest access of item 15', () => {
    // Arrange
    const item15 = seeds.hdm.rows.find((row) => row.row === 15);

    // Act
    const prepare = citing({ file: HDM_FILE, section: HDM_SECTION, row: 15 });

    // Assert
    expect(item15?.title).toBe('PIO Appliance to Virtual machines on premise');
    expect(prepare).toEqual([
      expect.objectContaining({
        from: 'hdm-appliance',
        to: 'source-server',
        protocol: 'tcp',
        ports: [{ from: 443, to: 443 }],
        optional: false,
      }),
    ]);
    expect(prepare[0]?.purpose).toMatch(/prepare to migrate/i);
  });

  it('marks a requirement optional exactly where its table row or list item says so', () => {
    // Arrange
    // RiverMeadow marks whole rows "(OPTIONAL)"; HDM calls one detail line optional, and that line is about SSH.
    const optionalRmRows = seeds.rivermeadow.rows.filter((row) => /\(OPTIONAL\)/.test(row.title));
    const optionalHdmLines = seeds.hdm.rows.flatMap((row) =>
      row.details.filter((d) => /\boptional\b/i.test(d)).map((line) => ({ row: row.row, line })),
    );
    const documentedOptional = (r: Requirement, row: SeedRow): boolean => {
      if (row.file === RIVERMEADOW_FILE) return optionalRmRows.includes(row);
      if (row.file === HDM_FILE) {
        const sshOnly = JSON.stringify(expandPorts(r.ports)) === JSON.stringify([22]);
        return sshOnly && optionalHdmLines.some((o) => o.row === row.row && /\bSSH\b/.test(o.line));
      }
      return Object.values(row.cells).some((cell) => /\boptional\b/i.test(cell));
    };

    // Act
    const wrong = catalog.requirements.flatMap((r) => {
      const row = seedRowFor(r.source);
      if (!row || r.optional === documentedOptional(r, row)) return [];
      return [`${r.id}: optional is ${r.optional}, the document says ${!r.optional}`];
    });
    const optionalIds = catalog.requirements
      .filter((r) => r.optional && seedRowFor(r.source))
      .map((r) => r.id);

    // Assert
    expect(optionalRmRows.map((row) => `${row.section} row ${row.row}`)).toEqual([
      `${RM_OS} row 2`,
      `${RM_OS} row 3`,
      `${RM_OS} row 4`,
    ]);
    expect(optionalHdmLines).toEqual([
      { row: 1, line: 'SSH for optional PrimaryIO customer support access.' },
    ]);
    expect(wrong).toEqual([]);
    expect(optionalIds).toHaveLength(4);
  });

  it('marks an LDM architecture-prose requirement optional only with a reading that says why', () => {
    // Arrange
    const prose = requirementsOf(LDM_FILE).filter((r) => r.source.section === LDM_ARCHITECTURE_SECTION);

    // Act
    const unexplained = prose
      .filter((r) => r.optional && !/\boptional\b/i.test(r.reading ?? ''))
      .map((r) => r.id);

    // Assert
    expect(unexplained).toEqual([]);
  });
});

describe('catalog roles', () => {
  it('places every role in the cloud, on premises or on the internet', () => {
    // Arrange
    const placements = ['cloud', 'on-prem', 'internet'];

    // Act
    const misplaced = catalog.roles
      .filter((role) => !placements.includes(role.placement))
      .map((role) => role.id);

    // Assert
    expect(catalog.roles.length).toBeGreaterThan(0);
    expect(misplaced).toEqual([]);
  });

  it('connects every requirement between known roles', () => {
    // Arrange
    const ends = catalog.requirements.flatMap((r) => [
      { id: r.id, role: r.from },
      { id: r.id, role: r.to },
    ]);

    // Act
    const unknown = ends
      .filter((end) => catalog.role(end.role) === undefined)
      .map((e) => `${e.id}: ${e.role}`);

    // Assert
    expect(unknown).toEqual([]);
  });

  it('counts the Windows and Linux source servers as specializations of source-server', () => {
    // Arrange
    const roleId = 'source-server';

    // Act
    const specializations = catalog.specializations(roleId);

    // Assert
    expect(specializations).toEqual(
      expect.arrayContaining(['source-server', 'source-server-windows', 'source-server-linux']),
    );
    expect(catalog.role('source-server-windows')?.kindOf).toBe(roleId);
    expect(catalog.role('source-server-linux')?.kindOf).toBe(roleId);
  });
});

describe('catalog loader validation', () => {
  /** A small, valid vendor file; each test copies it with structuredClone before breaking it. */
  const acme = {
    roles: [
      { id: 'acme-client', name: 'Acme client', placement: 'on-prem' },
      { id: 'acme-server', name: 'Acme server', placement: 'cloud' },
    ],
    profiles: [
      { id: 'acme', name: 'Acme migration', vendor: 'Acme', description: 'Moves things with Acme.' },
    ],
    requirements: [
      {
        id: 'acme-https',
        profiles: ['acme'],
        from: 'acme-client',
        to: 'acme-server',
        protocol: 'tcp',
        ports: '443',
        purpose: 'Acme control plane over HTTPS',
        optional: false,
        source: { file: 'acme.txt', document: 'Acme: Ports', section: 'Ports', row: 1 },
      },
    ],
  };
  type AcmeFile = typeof acme & Record<string, unknown>;

  const source = (name: string, data: unknown): CatalogSource => ({ name, text: JSON.stringify(data) });

  function broken(change: (file: AcmeFile) => void): CatalogSource[] {
    const file = structuredClone(acme) as AcmeFile;
    change(file);
    return [source('acme.json', file)];
  }

  function catalogErrorOf(build: () => unknown): CatalogError {
    try {
      build();
    } catch (err) {
      if (err instanceof CatalogError) return err;
      throw err;
    }
    throw new Error('expected a CatalogError, but the catalog was built');
  }

  let tempDirs: string[] = [];
  afterEach(() => {
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    tempDirs = [];
  });

  it('builds the unbroken example file', () => {
    // Arrange
    const sources = [source('acme.json', acme)];

    // Act
    const built = buildCatalog(sources);

    // Assert
    expect(built.profile('acme')?.requirements.map((r) => r.id)).toEqual(['acme-https']);
    expect(built.requirements[0]?.ports).toEqual([{ from: 443, to: 443 }]);
  });

  it.each(['22,70000', '8010-8000', 'https', '22;443', ''])(
    'rejects the port list %j, naming the file and the list',
    (ports) => {
      // Arrange
      const sources = broken((f) => {
        (f.requirements[0] as { ports: string }).ports = ports;
      });

      // Act
      const error = catalogErrorOf(() => buildCatalog(sources));

      // Assert
      expect(error.message).toContain('acme.json');
      expect(error.message).toContain('requirements[0].ports');
      expect(error.message).toContain(JSON.stringify(ports));
    },
  );

  it('rejects a requirement whose role is unknown, naming the file and the role', () => {
    // Arrange
    const sources = broken((f) => {
      (f.requirements[0] as { to: string }).to = 'acme-nowhere';
    });

    // Act
    const error = catalogErrorOf(() => buildCatalog(sources));

    // Assert
    expect(error.message).toContain('acme.json');
    expect(error.message).toContain('"acme-nowhere"');
  });

  it('rejects a requirement whose profile is unknown, naming the file and the profile', () => {
    // Arrange
    const sources = broken((f) => {
      (f.requirements[0] as { profiles: string[] }).profiles = ['acme', 'acme-ghost'];
    });

    // Act
    const error = catalogErrorOf(() => buildCatalog(sources));

    // Assert
    expect(error.message).toContain('acme.json');
    expect(error.message).toContain('"acme-ghost"');
  });

  it('rejects an id defined in two files, naming both files and the id', () => {
    // Arrange
    const second = { requirements: [structuredClone(acme.requirements[0])] };
    const sources = [source('acme.json', acme), source('acme-extra.json', second)];

    // Act
    const error = catalogErrorOf(() => buildCatalog(sources));

    // Assert
    expect(error.message).toContain('acme-extra.json');
    expect(error.message).toContain('acme.json');
    expect(error.message).toContain('"acme-https"');
  });

  it('rejects a kindOf cycle, naming the file and the roles in it', () => {
    // Arrange
    const sources = broken((f) => {
      (f.roles[0] as { kindOf?: string }).kindOf = 'acme-server';
      (f.roles[1] as { kindOf?: string }).kindOf = 'acme-client';
    });

    // Act
    const error = catalogErrorOf(() => buildCatalog(sources));

    // Assert
    expect(error.message).toContain('acme.json');
    expect(error.message).toMatch(/cycle/);
    expect(error.message).toContain('"acme-client"');
  });

  it('rejects a kindOf that names no role, naming the file and the missing role', () => {
    // Arrange
    const sources = broken((f) => {
      (f.roles[0] as { kindOf?: string }).kindOf = 'acme-phantom';
    });

    // Act
    const error = catalogErrorOf(() => buildCatalog(sources));

    // Assert
    expect(error.message).toContain('acme.json');
    expect(error.message).toContain('"acme-phantom"');
  });

  it('rejects an unknown field, naming the file, its path and the field', () => {
    // Arrange
    const sources = broken((f) => {
      (f.requirements[0] as Record<string, unknown>).optinal = true;
    });

    // Act
    const error = catalogErrorOf(() => buildCatalog(sources));

    // Assert
    expect(error.message).toContain('acme.json');
    expect(error.message).toContain('requirements[0].optinal');
    expect(error.message).toContain('unknown field "optinal"');
  });

  it('rejects text that is not JSON, naming the file and where the JSON breaks', () => {
    // Arrange
    const sources = [{ name: 'acme.json', text: '{ "roles": [], }' }];

    // Act
    const error = catalogErrorOf(() => buildCatalog(sources));

    // Assert
    expect(error.message).toContain('acme.json');
    expect(error.message).toContain('not valid JSON');
    expect(error.message).toMatch(/position \d+/);
  });

  it('adds a vendor when a folder with one more data file is loaded after the built-in one', () => {
    // Arrange
    const dir = mkdtempSync(path.join(tmpdir(), 'preflight-catalog-'));
    tempDirs.push(dir);
    const vendor = structuredClone(acme);
    // Reuse a shared role from the built-in common.json: files see each other's roles.
    (vendor.requirements[0] as { from: string }).from = 'admin-workstation';
    writeFileSync(path.join(dir, 'acme.json'), JSON.stringify(vendor, null, 2));
    const builtIn = loadCatalog([DEFAULT_CATALOG_DIR]);

    // Act
    const extended = loadCatalog([DEFAULT_CATALOG_DIR, dir]);

    // Assert
    expect(builtIn.profile('acme')).toBeUndefined();
    expect(extended.profile('acme')?.requirements.map((r) => r.id)).toEqual(['acme-https']);
    expect(extended.profiles.map((p) => p.id)).toEqual([...builtIn.profiles.map((p) => p.id), 'acme']);
    expect(extended.requirements).toHaveLength(builtIn.requirements.length + 1);
  });
});

describe('the copy of the seed documents in test/fixtures/seeds', () => {
  it('matches shared/seeds wherever those are beside the repository (copy them over when the team updates them)', () => {
    // Arrange
    const files = [RIVERMEADOW_FILE, LDM_FILE, HDM_FILE];
    // Act
    const copy = files.map((f) => readFileSync(path.join(COPIED_SEEDS_DIR, f), 'utf8'));
    const shared = existsSync(SHARED_SEEDS_DIR)
      ? files.map((f) => readFileSync(path.join(SHARED_SEEDS_DIR, f), 'utf8'))
      : copy;
    // Assert
    expect(copy).toEqual(shared);
  });
});

describe('the catalog module and the environment', () => {
  it('reads PREFLIGHT_CATALOG_DIR when the catalog is first asked for, never when the module is imported', () => {
    // Arrange
    const dir = mkdtempSync(path.join(tmpdir(), 'preflight-catalog-env-'));
    const saved = process.env.PREFLIGHT_CATALOG_DIR;
    process.env.PREFLIGHT_CATALOG_DIR = dir;
    try {
      jest.isolateModules(() => {
        // Act: importing with the variable set changes nothing
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const fresh = require('../../lambdas/core/catalog') as typeof import('../../lambdas/core/catalog');
        // Assert
        expect(fresh.DEFAULT_CATALOG_DIR).toBe(DEFAULT_CATALOG_DIR);
        // Act: the first call with an environment naming an empty folder builds an empty catalog from it
        const fromEnv = fresh.defaultCatalog({ PREFLIGHT_CATALOG_DIR: dir });
        // Assert
        expect(fromEnv.profiles).toEqual([]);
      });
    } finally {
      if (saved === undefined) delete process.env.PREFLIGHT_CATALOG_DIR;
      else process.env.PREFLIGHT_CATALOG_DIR = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The build's validated copy of the built-in catalog: taken only when the data files are exactly those it was
// made from.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildCatalog,
  CATALOG_SNAPSHOT,
  DEFAULT_CATALOG_DIR,
  makeSnapshot,
  readCatalogSources,
  validateCatalogFiles,
} from '../../lambdas/core/catalog';
import { snapshotCatalog } from '../../lambdas/core/catalog/snapshot';

let dir: string;
let dataDir: string;

beforeEach(() => {
  // Arrange: a copy of the data files and a snapshot made from them, as the build makes it.
  dir = mkdtempSync(join(tmpdir(), 'pf-catalog-snapshot-'));
  dataDir = join(dir, 'data');
  cpSync(DEFAULT_CATALOG_DIR, dataDir, { recursive: true });
  const sources = readCatalogSources([dataDir]);
  writeFileSync(
    join(dir, CATALOG_SNAPSHOT),
    JSON.stringify(makeSnapshot(sources, validateCatalogFiles(sources))),
  );
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

const shape = (c: ReturnType<typeof buildCatalog>) => ({
  roles: c.roles,
  profiles: c.profiles,
  requirements: c.requirements,
});

describe('the validated copy of the catalog', () => {
  test('gives the same catalog as validating the files, when they are the ones it was made from', () => {
    const fromCopy = snapshotCatalog({}, { snapshotDir: dir, dataDir });
    expect(fromCopy).toBeDefined();
    expect(shape(fromCopy!)).toEqual(shape(buildCatalog(readCatalogSources([dataDir]))));
    expect(fromCopy!.specializations('source-server')).toEqual(
      buildCatalog(readCatalogSources([dataDir])).specializations('source-server'),
    );
  });

  test('is not taken once a data file is edited, added or removed, nor with PREFLIGHT_CATALOG_DIR', () => {
    const common = join(dataDir, 'common.json');
    const text = readFileSync(common, 'utf8');
    writeFileSync(common, text.replace('"roles"', '"roles" ')); // the same data, other bytes
    expect(snapshotCatalog({}, { snapshotDir: dir, dataDir })).toBeUndefined();
    writeFileSync(common, text);
    expect(snapshotCatalog({}, { snapshotDir: dir, dataDir })).toBeDefined();

    writeFileSync(join(dataDir, 'zz-extra.json'), text);
    expect(snapshotCatalog({}, { snapshotDir: dir, dataDir })).toBeUndefined();
    rmSync(join(dataDir, 'zz-extra.json'));

    expect(
      snapshotCatalog({ PREFLIGHT_CATALOG_DIR: dataDir }, { snapshotDir: dir, dataDir }),
    ).toBeUndefined();
  });

  test('is not taken when there is no copy or it is not one', () => {
    expect(snapshotCatalog({}, { snapshotDir: join(dir, 'nowhere'), dataDir })).toBeUndefined();
    writeFileSync(join(dir, CATALOG_SNAPSHOT), '{"snapshotVersion":2}');
    expect(snapshotCatalog({}, { snapshotDir: dir, dataDir })).toBeUndefined();
  });
});

/**
 * The build's validated copy of the built-in catalog. `npm run build` (bin/build-cli.js) validates the data files
 * against the schema and writes them, with their exact text, beside the CLI bundle as {@link CATALOG_SNAPSHOT}.
 * A command then reads the data files, and when they are exactly those the copy was made from, takes the
 * validated data from it instead of validating again: the same catalog without loading zod and the schema
 * (which `preflight catalog` otherwise spends most of its time on). A data file edited since, added or removed
 * means no copy: the files are validated as they are. Lambda bundles and the TypeScript sources have no copy.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  assembleCatalog,
  type Catalog,
  type CatalogSource,
  DEFAULT_CATALOG_DIR,
  readCatalogSources,
  type ValidatedCatalogFile,
} from './assemble';

/** The copy's file name, in the folder of the bundle that reads it. */
export const CATALOG_SNAPSHOT = 'preflight-catalog.json';

/** What the copy holds: each data file's name and exact text, and its validated data. */
export interface CatalogSnapshot {
  readonly snapshotVersion: 1;
  readonly files: ReadonlyArray<ValidatedCatalogFile & { readonly text: string }>;
}

/** The copy of validated files, as the build writes it. */
export function makeSnapshot(
  sources: readonly CatalogSource[],
  validated: readonly ValidatedCatalogFile[],
): CatalogSnapshot {
  return {
    snapshotVersion: 1,
    files: sources.map((s, i) => ({ name: s.name, text: s.text, data: validated[i]!.data })),
  };
}

/** What the copy beside this module and the built-in folder gave, once read (a process reads them once). */
let fromDefaults: { readonly catalog: Catalog | undefined } | undefined;

/**
 * The built-in catalog from the copy beside this module, or undefined when `PREFLIGHT_CATALOG_DIR` is set, there
 * is no readable copy, or the data files differ from those it was made from in any way. With the default folders
 * the answer is read once per process (`preflight catalog` asks before it falls back to `defaultCatalog`, which
 * asks again).
 */
export function snapshotCatalog(
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: { readonly snapshotDir?: string; readonly dataDir?: string } = {},
): Catalog | undefined {
  if (env.PREFLIGHT_CATALOG_DIR) return undefined;
  if (options.snapshotDir !== undefined || options.dataDir !== undefined) return readSnapshot(options);
  fromDefaults ??= { catalog: readSnapshot(options) };
  return fromDefaults.catalog;
}

function readSnapshot(options: {
  readonly snapshotDir?: string;
  readonly dataDir?: string;
}): Catalog | undefined {
  let snapshot: CatalogSnapshot;
  let sources: CatalogSource[];
  try {
    snapshot = JSON.parse(
      readFileSync(join(options.snapshotDir ?? __dirname, CATALOG_SNAPSHOT), 'utf8'),
    ) as CatalogSnapshot;
    sources = readCatalogSources([options.dataDir ?? DEFAULT_CATALOG_DIR]);
  } catch {
    return undefined; // no copy, or the folder is unreadable: validating says why
  }
  if (snapshot?.snapshotVersion !== 1 || !Array.isArray(snapshot.files)) return undefined;
  if (sources.length !== snapshot.files.length) return undefined;
  for (let i = 0; i < sources.length; i++) {
    const file = snapshot.files[i]!;
    if (file.name !== sources[i]!.name || file.text !== sources[i]!.text) return undefined;
  }
  return assembleCatalog(snapshot.files);
}

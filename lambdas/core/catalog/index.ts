import type { z } from 'zod';
import { formatIssues } from '../errors';
import {
  assembleCatalog,
  type Catalog,
  CatalogError,
  type CatalogSource,
  DEFAULT_CATALOG_DIR,
  readCatalogSources,
  type ValidatedCatalogFile,
} from './assemble';
import { type CatalogFile, catalogFileSchema } from './schema';
import { snapshotCatalog } from './snapshot';

export * from './assemble';
export * from './schema';
export { CATALOG_SNAPSHOT, makeSnapshot } from './snapshot';

function parseFile(source: CatalogSource): CatalogFile {
  let raw: unknown;
  try {
    raw = JSON.parse(source.text);
  } catch (err) {
    throw new CatalogError(`${source.name}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = catalogFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new CatalogError(
      `${source.name}: ${formatIssues(parsed.error.issues as z.core.$ZodIssue[], raw).join('; ')}`,
    );
  }
  return parsed.data;
}

/** Validates each data file against the schema (a {@link CatalogError} names the file and the field). */
export function validateCatalogFiles(sources: readonly CatalogSource[]): ValidatedCatalogFile[] {
  return sources.map((s) => ({ name: s.name, data: parseFile(s) }));
}

/**
 * Builds the catalog from data files and checks that they agree: each file against the schema, then ids unique,
 * every requirement naming known roles and profiles, `kindOf` chains that end, no profile without requirements.
 */
export function buildCatalog(sources: readonly CatalogSource[]): Catalog {
  return assembleCatalog(validateCatalogFiles(sources));
}

/** Reads every `*.json` data file of the given folders (sorted by name) and builds the catalog. */
export function loadCatalog(dirs: readonly string[] = [DEFAULT_CATALOG_DIR]): Catalog {
  return buildCatalog(readCatalogSources(dirs));
}

let cached: Catalog | undefined;

/**
 * The catalog, loaded and validated once per process: the built-in folder, or `PREFLIGHT_CATALOG_DIR` when
 * set. The setting is read on the first call, never when the module is imported, so importing the catalog
 * has no effect that depends on the environment.
 */
export function defaultCatalog(env: Readonly<Record<string, string | undefined>> = process.env): Catalog {
  cached ??= snapshotCatalog(env) ?? loadCatalog([env.PREFLIGHT_CATALOG_DIR || DEFAULT_CATALOG_DIR]);
  return cached;
}

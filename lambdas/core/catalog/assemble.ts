/**
 * The catalog put together from data files already validated against the schema (see `index.ts`, which
 * validates them, and `snapshot.ts`, which reads the build's validated copy): this module holds no schema code,
 * so a command that reads a validated copy does not load zod.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CatalogFile, Profile, Requirement, Role } from './schema';

/**
 * The folder holding the built-in catalog's data files; adding a vendor is adding a `.json` file here.
 * Bundled code (the CLI in `dist/`, Lambda bundles) finds the same folder from the package root, or a
 * `catalog/` folder shipped beside the bundle.
 */
export const DEFAULT_CATALOG_DIR =
  [
    join(__dirname, 'data'),
    join(__dirname, '..', 'lambdas', 'core', 'catalog', 'data'),
    join(__dirname, 'catalog'),
  ].find((dir) => existsSync(dir)) ?? join(__dirname, 'data');

/** Raised when a catalog data file is malformed or the files contradict each other. */
export class CatalogError extends Error {
  override readonly name = 'CatalogError';
}

/** A profile together with its requirements, in data-file order. */
export interface CatalogProfile extends Profile {
  readonly requirements: readonly Requirement[];
}

/** The validated port catalog: every role, profile and requirement of every vendor. */
export interface Catalog {
  readonly roles: readonly Role[];
  readonly profiles: readonly CatalogProfile[];
  readonly requirements: readonly Requirement[];
  role(id: string): Role | undefined;
  profile(id: string): CatalogProfile | undefined;
  /** The role and every role that is (transitively) a kind of it: `source-server` → itself, `-windows`, `-linux`. */
  specializations(roleId: string): readonly string[];
}

/** One catalog data file, by name, as text. */
export interface CatalogSource {
  readonly name: string;
  readonly text: string;
}

/** A data file that passed the schema. */
export interface ValidatedCatalogFile {
  readonly name: string;
  readonly data: CatalogFile;
}

/** Every `*.json` data file of the given folders, sorted by name within each, as text. */
export function readCatalogSources(dirs: readonly string[]): CatalogSource[] {
  const sources: CatalogSource[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir)
        .filter((n) => n.endsWith('.json'))
        .sort();
    } catch (err) {
      throw new CatalogError(
        `cannot read catalog folder ${dir}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      );
    }
    for (const name of names) sources.push({ name, text: readFileSync(join(dir, name), 'utf8') });
  }
  return sources;
}

function uniqueById<T extends { id: string }>(
  kind: string,
  items: Array<{ item: T; file: string }>,
): Map<string, T> {
  const byId = new Map<string, T>();
  const fileOf = new Map<string, string>();
  for (const { item, file } of items) {
    const earlier = fileOf.get(item.id);
    if (earlier !== undefined) {
      throw new CatalogError(
        `${file}: ${kind} id "${item.id}" is already defined in ${earlier}; ids must be unique`,
      );
    }
    byId.set(item.id, item);
    fileOf.set(item.id, file);
  }
  return byId;
}

/**
 * Builds the catalog from validated data files and checks that they agree: ids are unique, every requirement
 * names known roles and profiles, `kindOf` chains end, and every profile has at least one requirement.
 */
export function assembleCatalog(files: readonly ValidatedCatalogFile[]): Catalog {
  const roles = uniqueById(
    'role',
    files.flatMap((f) => f.data.roles.map((item) => ({ item, file: f.name }))),
  );
  const profiles = uniqueById(
    'profile',
    files.flatMap((f) => f.data.profiles.map((item) => ({ item, file: f.name }))),
  );
  const requirementList = files.flatMap((f) => f.data.requirements.map((item) => ({ item, file: f.name })));
  uniqueById('requirement', requirementList);

  const known = (ids: Iterable<string>) => [...ids].sort().join(', ');
  for (const { item: role, file } of files.flatMap((f) =>
    f.data.roles.map((item) => ({ item, file: f.name })),
  )) {
    const seen = new Set<string>([role.id]);
    let parent = role.kindOf;
    while (parent !== undefined) {
      const next = roles.get(parent);
      if (!next)
        throw new CatalogError(
          `${file}: role "${role.id}": kindOf "${parent}" is not a role (known: ${known(roles.keys())})`,
        );
      if (seen.has(parent))
        throw new CatalogError(`${file}: role "${role.id}": kindOf forms a cycle through "${parent}"`);
      seen.add(parent);
      parent = next.kindOf;
    }
  }
  for (const { item: req, file } of requirementList) {
    for (const end of ['from', 'to'] as const) {
      if (!roles.has(req[end])) {
        throw new CatalogError(
          `${file}: requirement "${req.id}": ${end} "${req[end]}" is not a role (known: ${known(roles.keys())})`,
        );
      }
    }
    for (const p of req.profiles) {
      if (!profiles.has(p)) {
        throw new CatalogError(
          `${file}: requirement "${req.id}": profile "${p}" is not defined (known: ${known(profiles.keys())})`,
        );
      }
    }
  }

  const requirements = requirementList.map((r) => r.item);
  const profileFiles = files.flatMap((f) => f.data.profiles.map((p) => ({ p, file: f.name })));
  const catalogProfiles: CatalogProfile[] = profileFiles.map(({ p, file }) => {
    const own = requirements.filter((r) => r.profiles.includes(p.id));
    if (own.length === 0) throw new CatalogError(`${file}: profile "${p.id}" has no requirements`);
    return { ...p, requirements: own };
  });
  const profileById = new Map(catalogProfiles.map((p) => [p.id, p]));

  const children = new Map<string, string[]>();
  for (const role of roles.values()) {
    if (role.kindOf) children.set(role.kindOf, [...(children.get(role.kindOf) ?? []), role.id]);
  }
  const specializations = (roleId: string): string[] => [
    roleId,
    ...(children.get(roleId) ?? []).flatMap((child) => specializations(child)),
  ];

  return {
    roles: [...roles.values()],
    profiles: catalogProfiles,
    requirements,
    role: (id) => roles.get(id),
    profile: (id) => profileById.get(id),
    specializations,
  };
}

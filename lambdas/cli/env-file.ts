import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Catalog } from '../core/catalog';
import { type Environment, EnvironmentError, parseEnvironmentText } from '../core/environment';
import { InputError } from './args';

/** Reads and validates an environment file named by `--config`; every problem becomes an {@link InputError}. */
export function readEnvironmentFile(file: string, cwd: string, catalog: Catalog): Environment {
  let text: string;
  try {
    text = readFileSync(resolve(cwd, file), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : (code ?? String(err));
    throw new InputError(`--config: cannot read ${JSON.stringify(file)}: ${why}`);
  }
  try {
    return parseEnvironmentText(text, catalog, file);
  } catch (err) {
    if (err instanceof EnvironmentError) throw new InputError(err.message);
    throw err;
  }
}

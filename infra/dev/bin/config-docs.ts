/**
 * Writes the README's configuration tables from the apps' configuration schemas, or with
 * `--check` exits 1 when the README is out of date (the unit tests run the same check):
 *
 *   pnpm config-docs [--check]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/stack.js';
import { renderConfigTables, replaceConfigTables } from '../src/docs/config-table.js';
import { loadAppConfigSchemas } from '../src/docs/app-schemas.js';

const readmePath = join(REPO_ROOT, 'README.md');
const readme = readFileSync(readmePath, 'utf8');
const next = replaceConfigTables(readme, renderConfigTables(await loadAppConfigSchemas()));
if (process.argv.includes('--check')) {
  if (next !== readme) {
    console.error('README.md configuration tables are out of date: run `pnpm config-docs`');
    process.exit(1);
  }
  console.log('README.md configuration tables are up to date');
} else if (next !== readme) {
  writeFileSync(readmePath, next);
  console.log('README.md configuration tables updated');
}

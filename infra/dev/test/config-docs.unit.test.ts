/** The README's configuration tables are what the apps' schemas say (`pnpm config-docs` writes them). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAppConfigSchemas } from '../src/docs/app-schemas.js';
import { renderConfigTables, replaceConfigTables } from '../src/docs/config-table.js';

const root = join(import.meta.dirname, '../../..');

describe('README configuration tables', () => {
  it('match the apps\' configuration schemas', async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const apps = await loadAppConfigSchemas();
    expect(apps.map((a) => a.app)).toEqual(['ingest', 'worker', 'api', 'edge', 'chat', 'projector']);
    const next = replaceConfigTables(readme, renderConfigTables(apps));
    // On failure: run `pnpm config-docs` and commit README.md.
    expect(next === readme).toBe(true);
  });

  it('document every variable with a meaning', async () => {
    for (const { app, schema } of await loadAppConfigSchemas()) {
      for (const [name, s] of Object.entries(schema.properties)) {
        expect(String((s as { description?: string }).description ?? ''), `${app} ${name}`).not.toBe('');
      }
    }
  });
});

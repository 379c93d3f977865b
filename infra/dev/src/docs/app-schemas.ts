/**
 * The configuration schemas of every deployable app, loaded from their source
 * (`apps/<app>/src/config.ts`, export `<app>ConfigSchema`) by path: a documentation tool reads
 * them; no package depends on the apps.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TObject } from '@sinclair/typebox';
import type { AppConfigSchema } from './config-table.js';

/** The apps with a configuration schema, in the order the README lists them. */
export const CONFIGURED_APPS = ['ingest', 'worker', 'api', 'edge', 'chat', 'projector'] as const;

/** Imports each app's schema (run under tsx or Vitest: the files are TypeScript). */
export async function loadAppConfigSchemas(): Promise<AppConfigSchema[]> {
  const root = join(import.meta.dirname, '../../../..');
  const out: AppConfigSchema[] = [];
  for (const app of CONFIGURED_APPS) {
    const mod = (await import(pathToFileURL(join(root, 'apps', app, 'src/config.ts')).href)) as Record<string, unknown>;
    const schema = mod[`${app}ConfigSchema`] as TObject | undefined;
    if (!schema) throw new Error(`apps/${app}/src/config.ts exports no ${app}ConfigSchema`);
    out.push({ app, schema });
  }
  return out;
}

/**
 * Writes the published event API, the AsyncAPI document of the event catalogue, to
 * `events/src/asyncapi.generated.ts`, or with `--check` exits 1 when that file is out of date
 * (the unit tests run the same check). Run it after changing an event's data, version or subject:
 *
 *   pnpm asyncapi [--check]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ASYNCAPI_MODULE_PATH, asyncApiModuleText } from '../src/docs/asyncapi.js';

const file = join(import.meta.dirname, '../../..', ASYNCAPI_MODULE_PATH);
const current = readFileSync(file, { encoding: 'utf8', flag: 'a+' });
const next = asyncApiModuleText();
if (process.argv.includes('--check')) {
  if (next !== current) {
    console.error(`${ASYNCAPI_MODULE_PATH} is out of date: run \`pnpm asyncapi\``);
    process.exit(1);
  }
  console.log(`${ASYNCAPI_MODULE_PATH} is up to date`);
} else if (next !== current) {
  writeFileSync(file, next);
  console.log(`${ASYNCAPI_MODULE_PATH} updated`);
}

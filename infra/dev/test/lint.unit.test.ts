/**
 * The workflow sandbox rule (eslint.config.js): code under workflows/src must not import Node
 * built-ins or I/O packages, because Temporal replays workflows deterministically.
 */
import { describe, expect, it } from 'vitest';
import { ESLint } from 'eslint';
import { REPO_ROOT } from '../src/stack.js';

const eslint = new ESLint({ cwd: REPO_ROOT });

async function ruleMessages(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${REPO_ROOT}/${filePath}` });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('workflow sandbox lint rule', () => {
  it.each([
    "import { readFileSync } from 'node:fs';",
    "import fs from 'fs';",
    "import { spawn } from 'child_process';",
    "import pg from 'pg';",
    "import { connect } from '@nats-io/transport-node';",
    "import { createDb } from '@live/db';",
  ])('refuses %s under workflows/', async (line) => {
    const messages = await ruleMessages(`${line}\nexport const x = 1;\n`, 'workflows/src/bad.ts');
    expect(messages.length).toBe(1);
  });

  it('allows the workflow SDK, events/ and type-only activity imports', async () => {
    const code = "import { proxyActivities } from '@temporalio/workflow';\nimport { streamEvent } from '@live/events';\nimport type { Db } from '@live/db';\nexport const x = [proxyActivities, streamEvent] as const;\nexport type D = Db;\n";
    expect(await ruleMessages(code, 'workflows/src/ok.ts')).toEqual([]);
  });

  it('does not apply outside workflows/', async () => {
    expect(await ruleMessages("import fs from 'node:fs';\nexport const x = fs;\n", 'apps/worker/src/x.ts')).toEqual([]);
  });
});

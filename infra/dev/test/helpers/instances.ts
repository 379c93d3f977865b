/**
 * Finding the instance a chaos step kills, in a running cluster stack: an app's own HTTP base
 * (read from its process environment, `/proc/<pid>/environ`, since `StackInfo` lists only the
 * edges and ingest nodes directly), the projector holding a projection (`/healthz`), the chat
 * gateway with the most connections (`/healthz`), and SIGKILL by pid. Linux only (procfs, proc(5)).
 */
import { readFileSync } from 'node:fs';
import type { RunningStack } from '../../src/stack.js';

/**
 * The environment a process was started with (`/proc/<pid>/environ`, NUL-separated).
 * @throws when the process does not exist.
 */
export function processEnv(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

/** The running process of app instance `name` (`projector-1`, …). @throws when the stack has no such app or it is not running. */
export function appPid(stack: RunningStack, name: string): number {
  const proc = stack.apps.get(name);
  if (!proc || !proc.isAlive()) throw new Error(`app ${name} is not running`);
  return proc.pid;
}

/** `http://127.0.0.1:<port>` of app instance `name`, the port from its environment variable `portVariable` (`HTTP_PORT`, `CHAT_PORT`). */
export function appHttpUrl(stack: RunningStack, name: string, portVariable: string): string {
  const port = processEnv(appPid(stack, name))[portVariable];
  if (!port) throw new Error(`${name} has no ${portVariable}`);
  return `http://127.0.0.1:${port}`;
}

/** SIGKILLs app instance `name` and resolves when it has exited; returns when the signal was sent (ms). */
export async function killApp(stack: RunningStack, name: string): Promise<number> {
  const proc = stack.apps.get(name)!;
  const at = Date.now();
  process.kill(appPid(stack, name), 'SIGKILL');
  await proc.exited;
  return at;
}

/** A projector's `/healthz`: its lease holder id and, per projection, `holder` / `standby` (apps/projector/src/leases.ts). */
export interface ProjectorHealth {
  readonly holder: string;
  readonly projections: Record<string, { state: string; heldBy: string | null }>;
}

/** `/healthz` of `url` as JSON. @throws on a non-2xx answer or a network error. */
export async function healthOf<T>(url: string): Promise<T> {
  const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
  if (!r.ok) throw new Error(`${url}/healthz: HTTP ${r.status}`);
  return await r.json() as T;
}

/** The projections `health` holds (runs). */
export function heldProjections(health: ProjectorHealth): string[] {
  return Object.entries(health.projections).filter(([, l]) => l.state === 'holder').map(([p]) => p);
}

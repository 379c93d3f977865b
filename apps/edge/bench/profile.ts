/**
 * Prints the functions with the most self time of V8 CPU profiles (`node --cpu-prof`, e.g. the
 * ones `bench/edge.ts --cpu-prof <dir>` makes the edge write): one table per profile, the top
 * `--top` (30) functions by self time, with their share of the sampled (non-idle) time.
 *
 * Usage: pnpm --filter @live/edge exec tsx bench/profile.ts <dir or .cpuprofile files> [--top 30]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The parts of a `.cpuprofile` (Chrome DevTools Protocol `Profiler.Profile`) this script reads. */
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>;
  samples?: number[];
  timeDeltas?: number[];
}

const argv = process.argv.slice(2);
const topIndex = argv.indexOf('--top');
const TOP = topIndex >= 0 ? Number(argv[topIndex + 1]) : 30;
const inputs = argv.filter((a, i) => a !== '--top' && i !== topIndex + 1);
const files = inputs.flatMap((p) => (statSync(p).isDirectory() ? readdirSync(p).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(p, f)) : [p]));

for (const file of files) {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const samples = prof.samples ?? [];
  const deltas = prof.timeDeltas ?? [];
  let total = 0;
  samples.forEach((id, i) => {
    const n = byId.get(id);
    if (!n) return;
    const name = n.callFrame.functionName || '(anonymous)';
    if (name === '(idle)' || name === '(program)') return;
    const us = deltas[i] ?? 0;
    const where = n.callFrame.url ? `${n.callFrame.url.replace(/^.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, '').replace(/^file:\/\/.*?\/(apps|infra)\//, '$1/')}:${n.callFrame.lineNumber + 1}` : '';
    const key = `${name} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + us);
    total += us;
  });
  console.log(`\n${file}: ${(total / 1e6).toFixed(2)} s sampled (idle excluded)`);
  console.log('| self ms | share | function |');
  console.log('|---:|---:|---|');
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    console.log(`| ${(us / 1000).toFixed(0)} | ${((us / total) * 100).toFixed(1)}% | ${k} |`);
  }
}

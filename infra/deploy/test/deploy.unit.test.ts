/**
 * The operations artefacts parse and match the code: the Prometheus rules are valid YAML of the
 * rule-file shape and use only metrics (and labels, and label values) the apps register; the
 * Grafana dashboard is a ClickHouse dashboard with the panels analysts need, reading only
 * tables the migrations create; ANALYTICS.md documents every table and column.
 * (The SQL itself runs against a real chDB in deploy.int.test.ts.) The rules are also checked
 * with Prometheus' `promtool` and their unit tests (prometheus/alerts.test.yml: which alert
 * fires on which series) run; `npm test`'s bootstrap installs promtool (Debian package
 * `prometheus`).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const deployDir = fileURLToPath(new URL('..', import.meta.url));
const root = join(deployDir, '..', '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (name === 'node_modules') return [];
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** Every app's source, concatenated (for metric names and label values). */
const appSources = readdirSync(join(root, 'apps'))
  .filter((a) => statSync(join(root, 'apps', a, 'src'), { throwIfNoEntry: false })?.isDirectory())
  .flatMap((a) => tsFiles(join(root, 'apps', a, 'src')))
  .map((f) => readFileSync(f, 'utf8'))
  .join('\n');

/** Metric name → label names, from every prom-client constructor in the apps' source. */
function registeredMetrics(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const ctor = /new (?:Counter|Gauge|Histogram|Summary)\(\{([^]*?)\}\)/g;
  for (const m of appSources.matchAll(ctor)) {
    const body = m[1]!;
    const name = /name: '([a-zA-Z_:][a-zA-Z0-9_:]*)'/.exec(body)?.[1];
    if (!name) continue;
    const labels = /labelNames: \[([^\]]*)\]/.exec(body)?.[1] ?? '';
    out.set(name, [...labels.matchAll(/'([^']+)'/g)].map((l) => l[1]!));
  }
  return out;
}

/** Series Prometheus itself adds to every scrape target (not registered by app code). */
const PROMETHEUS_BUILTINS = new Map([['up', [] as string[]]]);
/** Target labels Prometheus attaches from the scrape configuration. */
const TARGET_LABELS = new Set(['job', 'instance']);
const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

interface Selector { metric: string; matchers: Array<{ label: string; op: string; value: string }> }

/** The metric selectors of a PromQL expression (a small tokenizer: enough for rule files). */
function selectors(expr: string): Selector[] {
  const out: Selector[] = [];
  const cleaned = expr
    .replace(/\[[^\]]*\]/g, ' ') // range and subquery durations
    .replace(/\boffset\s+[0-9smhdwy]+/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const re = /([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?|"(?:[^"\\]|\\.)*"|\{[^}]*\}/g;
  for (const m of cleaned.matchAll(re)) {
    const [, ident, braces, call] = m;
    if (!ident || call || PROMQL_WORDS.has(ident)) continue;
    const matchers = [...(braces ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)]
      .map((x) => ({ label: x[1]!, op: x[2]!, value: x[3]! }));
    out.push({ metric: ident, matchers });
  }
  return out;
}

interface Rule { alert: string; expr: string; for?: string; labels: Record<string, string>; annotations: Record<string, string> }

describe('prometheus/alerts.yml', () => {
  const doc = parse(read('infra/deploy/prometheus/alerts.yml')) as { groups: Array<{ name: string; rules: Rule[] }> };
  const rules = doc.groups.flatMap((g) => g.rules);
  const metrics = registeredMetrics();

  it('is a rule file: named groups of alerts with expr, severity, summary and description', () => {
    expect(doc.groups.length).toBeGreaterThan(0);
    for (const g of doc.groups) {
      expect(g.name).toMatch(/^[a-z0-9-]+$/);
      expect(g.rules.length).toBeGreaterThan(0);
    }
    for (const r of rules) {
      expect(r.alert, JSON.stringify(r)).toMatch(/^[A-Z][A-Za-z0-9]+$/);
      expect(typeof r.expr).toBe('string');
      expect(['info', 'warning', 'critical']).toContain(r.labels.severity);
      expect(r.annotations.summary, r.alert).toBeTruthy();
      expect(r.annotations.description, r.alert).toBeTruthy();
      if (r.for !== undefined) expect(r.for).toMatch(/^\d+[smh]$/);
      // Balanced brackets (a cheap syntax check of the PromQL).
      for (const [open, close] of [['(', ')'], ['{', '}'], ['[', ']']] as const) {
        expect(r.expr.split(open).length, `${r.alert}: ${open}${close}`).toBe(r.expr.split(close).length);
      }
    }
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
  });

  it('covers stream drop, ingest bitrate collapse, rebuffering spike and authentication failure spike', () => {
    const names = rules.map((r) => r.alert);
    expect(names).toEqual(expect.arrayContaining(['StreamsDroppedAbnormally', 'LiveStreamsFell', 'IngestBitrateCollapse', 'RebufferingSpike', 'SignInFailureSpike']));
  });

  it('uses only metrics, labels and label values the apps register', () => {
    expect(metrics.size).toBeGreaterThan(10); // the grep found the registrations
    const used = new Set<string>();
    for (const r of rules) {
      const sel = selectors(r.expr);
      expect(sel.length, r.alert).toBeGreaterThan(0);
      for (const s of sel) {
        used.add(s.metric);
        const labels = metrics.get(s.metric) ?? PROMETHEUS_BUILTINS.get(s.metric);
        expect(labels, `${r.alert}: metric ${s.metric} is not registered by any app`).toBeDefined();
        for (const m of s.matchers) {
          if (TARGET_LABELS.has(m.label)) continue;
          expect(labels, `${r.alert}: ${s.metric} has no label ${m.label}`).toContain(m.label);
          for (const v of m.value.split('|')) {
            expect(appSources.includes(`'${v}'`) || appSources.includes(`"${v}"`), `${r.alert}: ${s.metric}{${m.label}} value ${v} never appears in the apps' source`).toBe(true);
          }
        }
      }
    }
    expect([...used].sort()).toEqual(expect.arrayContaining([
      'api_auth_failures_total', 'beacons_playing_seconds_total', 'beacons_rebuffer_seconds_total',
      'ingest_publishes_ended_total', 'ingest_session_bitrate_kbps', 'ingest_sessions_live',
    ]));
  });

  it('passes promtool check rules and its unit tests (alerts.test.yml)', { timeout: 60_000 }, () => {
    expect(spawnSync('promtool', ['--version']).status, 'promtool is missing: run `bash infra/dev/bin/ensure.sh` (Debian package prometheus)').toBe(0);
    for (const args of [['check', 'rules', 'alerts.yml'], ['test', 'rules', 'alerts.test.yml']]) {
      const r = spawnSync('promtool', args, { cwd: join(deployDir, 'prometheus'), encoding: 'utf8' });
      expect(r.status, `promtool ${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
    }
  });

  it('reads selectors out of PromQL', () => {
    expect(selectors('sum by (code) (rate(beacons_refused_total{code=~"A|B"}[5m])) > 1 and up{job="x"} offset 5m == 0')).toEqual([
      { metric: 'beacons_refused_total', matchers: [{ label: 'code', op: '=~', value: 'A|B' }] },
      { metric: 'up', matchers: [{ label: 'job', op: '=', value: 'x' }] },
    ]);
  });
});

interface Target { datasource: { type: string; uid: string }; rawSql: string; refId: string; format: number; queryType: string }
interface Panel { id: number; type: string; title: string; datasource?: { type: string }; targets?: Target[]; gridPos: { h: number; w: number; x: number; y: number } }

/** Tables the ClickHouse migrations create, with their columns (grep of migrations.ts). */
function migrationTables(): Map<string, string[]> {
  const src = read('infra/analytics/src/migrations.ts');
  const out = new Map<string, string[]>();
  for (const m of src.matchAll(/CREATE TABLE IF NOT EXISTS (\w+)\s*\(([^]*?)\n\)/g)) {
    const cols = [...m[2]!.matchAll(/^\s{4}(\w+)\s+(?!TYPE)[A-Z]/gm)].map((c) => c[1]!).filter((c) => c !== 'INDEX');
    out.set(m[1]!, cols);
  }
  // The migrations bookkeeping table (created by migrateAnalytics, not a migration).
  if (/CREATE TABLE IF NOT EXISTS \$\{MIGRATIONS_TABLE\} \(name String, applied_at/.test(src)) out.set('analytics_migrations', ['name', 'applied_at']);
  return out;
}

describe('grafana/analytics-dashboard.json', () => {
  const dash = JSON.parse(read('infra/deploy/grafana/analytics-dashboard.json')) as { uid: string; title: string; panels: Panel[]; templating: { list: Array<{ name: string; type: string; query: unknown }> } };
  const panels = dash.panels.filter((p) => p.type !== 'row');
  const tables = migrationTables();

  it('is a dashboard of ClickHouse panels with a data source variable', () => {
    expect(dash.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(dash.templating.list.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'grafana-clickhouse-datasource' });
    expect(new Set(dash.panels.map((p) => p.id)).size).toBe(dash.panels.length);
    for (const p of panels) {
      expect(p.datasource?.type, p.title).toBe('grafana-clickhouse-datasource');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets!) {
        expect(t.datasource).toEqual({ type: 'grafana-clickhouse-datasource', uid: '${datasource}' });
        expect(t.rawSql, p.title).toMatch(/\bFINAL\b/); // replayed records count once
      }
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    }
  });

  it('has the panels of issue 6', () => {
    const titles = panels.map((p) => p.title.toLowerCase()).join('\n');
    for (const want of ['concurrent viewers', 'watch time', 'time to first frame p50 / p95', 'rebuffering ratio', 'rendition distribution', 'errors per 1,000', 'chat messages per minute', 'ingest bitrate', 'ingest frame rate']) {
      expect(titles).toContain(want);
    }
  });

  it('reads only tables the migrations create', () => {
    expect([...tables.keys()]).toEqual(expect.arrayContaining(['playback_beacons', 'chat_messages', 'ingest_health', 'domain_events']));
    for (const p of panels) {
      for (const t of p.targets!) {
        for (const m of t.rawSql.matchAll(/\b(?:FROM|JOIN)\s+(\w+)/gi)) expect(tables.has(m[1]!), `${p.title}: table ${m[1]}`).toBe(true);
      }
    }
  });
});

describe('ANALYTICS.md', () => {
  const doc = read('infra/deploy/ANALYTICS.md');
  it('documents every table and column of the ClickHouse schema', () => {
    for (const [table, cols] of migrationTables()) {
      expect(doc, table).toContain(`\`${table}\``);
      for (const c of cols) expect(doc, `${table}.${c}`).toMatch(new RegExp(`\`[^\`]*\\b${c}\\b[^\`]*\``));
    }
  });

  it('has example queries', () => {
    expect([...doc.matchAll(/```sql\n/g)].length).toBeGreaterThanOrEqual(8);
  });
});

/**
 * prometheus/scrape.yml matches the apps and the alert rules: every app that serves `/metrics`
 * has a scrape job named after it, on the port the app (or its systemd unit) listens on; every
 * `job` an alert selects, and every app whose metrics an alert uses, is scraped; and a
 * prometheus.yml made of these scrape jobs plus `rule_files: [alerts.yml]` passes
 * `promtool check config` (`npm test`'s bootstrap installs promtool: Debian package prometheus).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

const deployDir = fileURLToPath(new URL('..', import.meta.url));
const root = join(deployDir, '..', '..');
const readIf = (p: string): string => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
};

interface ScrapeConfig { job_name: string; metrics_path?: string; scheme?: string; static_configs: Array<{ targets: string[]; labels?: Record<string, string> }> }
const scrape = parse(readFileSync(join(deployDir, 'prometheus', 'scrape.yml'), 'utf8')) as { scrape_configs: ScrapeConfig[] };
const jobs = new Map(scrape.scrape_configs.map((j) => [j.job_name, j]));

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (name === 'node_modules') return [];
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** Each app's source (apps/<app>/src/**), concatenated. */
const appSources = new Map(readdirSync(join(root, 'apps'))
  .filter((a) => statSync(join(root, 'apps', a, 'src'), { throwIfNoEntry: false })?.isDirectory())
  .map((a) => [a, tsFiles(join(root, 'apps', a, 'src')).map((f) => readFileSync(f, 'utf8')).join('\n')]));

/** Apps whose own code answers `GET /metrics` (a route registration or a URL comparison, not a comment). */
const appsWithMetrics = [...appSources].filter(([, src]) => /(?:\.get\(\s*|req\.url\s*===\s*)['"]\/metrics['"]/.test(src)).map(([a]) => a).sort();

/** The variable holding the port each app serves `/metrics` on. */
const METRICS_PORT_VAR: Record<string, string> = { api: 'API_PORT', edge: 'EDGE_PORT', chat: 'CHAT_PORT', ingest: 'HTTP_PORT', worker: 'HTTP_PORT', projector: 'HTTP_PORT' };

/**
 * The port `app` listens on for `/metrics` when nothing overrides it: the systemd unit's
 * `Environment=VAR=…` default, else the default in the app's config.ts schema
 * (`VAR: Port('…', 8080)`), else the fallback in its main.ts (`process.env.VAR ?? 8090`,
 * `num('VAR', 8082)`). Undefined when none is found; 0 (any free port) counts as none.
 */
function defaultPort(app: string, variable: string): number | undefined {
  const unit = readIf(join(deployDir, 'systemd', `live-${app}.service`)) || readIf(join(deployDir, 'systemd', `live-${app}@.service`));
  const fromUnit = new RegExp(`^Environment=${variable}=(\\d+)\\s*$`, 'm').exec(unit)?.[1];
  if (fromUnit) return Number(fromUnit);
  const config = readIf(join(root, 'apps', app, 'src', 'config.ts'));
  const fromSchema = new RegExp(`\\b${variable}:\\s*Port\\((?:[^()]|\\([^()]*\\))*?,\\s*(\\d+)\\s*[,)]`).exec(config)?.[1];
  if (fromSchema) return Number(fromSchema);
  const main = readIf(join(root, 'apps', app, 'src', 'main.ts'));
  const fromMain = new RegExp(`process\\.env\\.${variable}\\s*\\?\\?\\s*(\\d+)|\\(\\s*['"]${variable}['"]\\s*,\\s*(\\d+)\\s*\\)`).exec(main);
  const n = Number(fromMain?.[1] ?? fromMain?.[2]);
  return n > 0 ? n : undefined;
}

describe('prometheus/scrape.yml', () => {
  it('is a list of uniquely named jobs with static host:port targets', () => {
    expect(scrape.scrape_configs.length).toBeGreaterThan(0);
    expect(jobs.size).toBe(scrape.scrape_configs.length);
    for (const j of scrape.scrape_configs) {
      expect(j.job_name).toMatch(/^[a-z][a-z0-9_-]*$/);
      expect(j.static_configs.length, j.job_name).toBeGreaterThan(0);
      for (const t of j.static_configs.flatMap((s) => s.targets)) expect(t, j.job_name).toMatch(/^[A-Za-z0-9.-]+:\d{1,5}$/);
    }
  });

  it('scrapes /metrics of every app that serves it, on its port, in a job named after the app', () => {
    expect(appsWithMetrics).toEqual(['api', 'chat', 'edge', 'ingest', 'projector', 'worker']);
    for (const app of appsWithMetrics) {
      const job = jobs.get(app);
      expect(job, `no scrape job "${app}" for apps/${app}'s /metrics`).toBeDefined();
      expect(job!.metrics_path ?? '/metrics', app).toBe('/metrics');
      expect(job!.scheme ?? 'http', app).toBe('http');
      const variable = METRICS_PORT_VAR[app];
      expect(variable, `which variable holds apps/${app}'s metrics port?`).toBeDefined();
      const port = defaultPort(app, variable!);
      expect(port, `no default for ${variable} of apps/${app} (config.ts, main.ts or its systemd unit)`).toBeDefined();
      const ports = job!.static_configs.flatMap((s) => s.targets).map((t) => Number(t.split(':').pop()));
      expect(ports[0], `job ${app}: first target's port vs ${variable}`).toBe(port);
    }
  });

  it('scrapes every job alerts.yml names and every app whose metrics an alert uses', () => {
    const rulesText = readFileSync(join(deployDir, 'prometheus', 'alerts.yml'), 'utf8');
    const named = new Set([...rulesText.matchAll(/\bjob\s*=~?\s*"([^"]+)"/g)].flatMap((m) => m[1]!.split('|')));
    expect(named.size).toBeGreaterThan(0);
    for (const job of named) expect(jobs.has(job), `alerts.yml selects job="${job}", which scrape.yml does not define`).toBe(true);

    const rules = (parse(rulesText) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> }).groups.flatMap((g) => g.rules);
    const registered = new Map([...appSources].map(([a, src]) => [a, new Set([...src.matchAll(/new (?:Counter|Gauge|Histogram|Summary)\(\{[^]*?name: '([a-zA-Z_:][a-zA-Z0-9_:]*)'/g)].map((m) => m[1]!))]));
    for (const r of rules) {
      const identifiers = new Set(r.expr.match(/[A-Za-z_:][A-Za-z0-9_:]*/g) ?? []);
      const owners = [...registered].filter(([, names]) => [...identifiers].some((i) => names.has(i))).map(([a]) => a);
      expect(owners.length > 0 || identifiers.has('up'), `${r.alert}: uses no metric any app registers`).toBe(true);
      for (const app of owners) expect(jobs.has(app), `${r.alert} uses metrics of apps/${app}, which is not scraped`).toBe(true);
    }
  });

  describe('with the alert rules, as one prometheus.yml', () => {
    const dir = mkdtempSync(join(tmpdir(), 'deploy-scrape-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('passes promtool check config', { timeout: 60_000 }, () => {
      expect(spawnSync('promtool', ['--version']).status, 'promtool is missing: run `bash infra/dev/bin/ensure.sh` (Debian package prometheus)').toBe(0);
      const file = join(dir, 'prometheus.yml');
      writeFileSync(file, stringify({
        global: { scrape_interval: '15s', evaluation_interval: '1m' },
        rule_files: [join(deployDir, 'prometheus', 'alerts.yml')],
        scrape_configs: scrape.scrape_configs,
      }));
      const r = spawnSync('promtool', ['check', 'config', file], { encoding: 'utf8' });
      expect(r.status, `promtool check config\n${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/SUCCESS: \d+ rules found/);
    });
  });
});

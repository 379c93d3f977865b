#!/usr/bin/env node
// Builds one deployable app for production (docs/architecture.md, "Embedded default and
// production mode"): bundles `src/main.ts` and the workspace packages it imports (`@live/*`,
// TypeScript source) into `dist/main.js` (ESM, Node 20, with a source map), and leaves every npm
// package external, so it loads exactly as it does under tsx. Runs in the app's directory
// (`pnpm turbo run build` calls each app's `build` script):
//
//   node ../../infra/dev/bin/build-app.mjs [--temporal-workflows <module>]
//
// An external package must be resolvable from the app's directory at run time: each one has to
// be a dependency of the app itself (pnpm links only an app's own dependencies into its
// node_modules). The build fails naming every external that is not, instead of leaving a
// `node dist/main.js` that dies on its first import.
// --temporal-workflows also bundles the Temporal workflow module (resolved from the app) with
// the SDK's own bundler into `dist/workflow-bundle.js`, which the worker loads instead of
// bundling its workflows at every start (Temporal docs, "Prebuilt workflow bundles").
import { build } from 'esbuild';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

const appDir = process.cwd();
const pkg = JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8'));
const args = process.argv.slice(2);
const workflowsIdx = args.indexOf('--temporal-workflows');
const workflowsModule = workflowsIdx >= 0 ? args[workflowsIdx + 1] : undefined;
if (workflowsIdx >= 0 && !workflowsModule) fail('--temporal-workflows needs a module name');

function fail(message) {
  console.error(`build ${pkg.name}: ${message}`);
  process.exit(1);
}

/** The package name of a bare import: `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageName(spec) {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** True when Node's resolution from the app's directory finds `name` (node_modules of the app or an ancestor). */
function resolvableFromApp(name) {
  for (let dir = appDir; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules', name, 'package.json'))) return true;
    if (dirname(dir) === dir) return false;
  }
}

const externals = new Map(); // package name → first importer
const workspacePlugin = {
  name: 'workspace-bundled-npm-external',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (a) => {
      if (a.path.startsWith('node:')) return { external: true };
      if (a.path.startsWith('@live/')) return undefined; // workspace source: bundled
      const name = packageName(a.path);
      if (!externals.has(name)) externals.set(name, relative(appDir, a.importer));
      return { external: true };
    });
  },
};

const outDir = join(appDir, 'dist');
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const result = await build({
  entryPoints: [join(appDir, 'src/main.ts')],
  outfile: join(outDir, 'main.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  metafile: true,
  plugins: [workspacePlugin],
});
if (result.errors.length) process.exit(1);

const missing = [...externals].filter(([name]) => !resolvableFromApp(name));
if (missing.length) {
  fail(`these packages are imported but are not dependencies of ${pkg.name}, so node would not find them from ${relative(process.cwd(), outDir)}:\n`
    + missing.map(([name, importer]) => `  ${name} (imported by ${importer})`).join('\n')
    + `\nadd them to ${join(relative(resolve(appDir, '../..'), appDir), 'package.json')} "dependencies" with the version the importer's package uses.`);
}

if (workflowsModule) {
  const requireFromApp = createRequire(join(appDir, 'package.json'));
  const { bundleWorkflowCode } = await import(requireFromApp.resolve('@temporalio/worker'));
  const { code } = await bundleWorkflowCode({ workflowsPath: requireFromApp.resolve(workflowsModule), logger: quietLogger() });
  writeFileSync(join(outDir, 'workflow-bundle.js'), code);
}
const size = (readFileSync(join(outDir, 'main.js')).length / 1024).toFixed(0);
console.log(`build ${pkg.name}: dist/main.js (${size} KiB), ${externals.size} npm packages external${workflowsModule ? ', dist/workflow-bundle.js' : ''}`);

/** The SDK bundler's logger, reduced to warnings and errors. */
function quietLogger() {
  const noop = () => undefined;
  return { trace: noop, debug: noop, info: noop, log: noop, warn: (m) => console.warn(m), error: (m) => console.error(m) };
}

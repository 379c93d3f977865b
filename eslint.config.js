// Flat config. Beyond the TypeScript compiler we enforce two import boundaries:
// - the Temporal workflow sandbox rule: workflow code must stay deterministic, so no
//   Node built-ins and no I/O packages may be imported under workflows/
//   (Temporal hello-world .eslintrc.js: no-restricted-imports for workflow files);
// - the pure media formats: @live/media/formats (infra/media/src/formats) imports nothing
//   but itself, and the edge, the API and the web app use only that entry point, never
//   the ffmpeg and publisher code of @live/media.
import tseslint from 'typescript-eslint';

const ioPackages = ['pg', 'kysely', '@nats-io/*', '@clickhouse/*', 'pino', 'fastify', '@temporalio/client', '@temporalio/worker', '@temporalio/activity', '@live/db', '@live/messaging', '@live/storage', '@live/media'];

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '.run/**', '**/.vitest-results/**'] },
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: { parser: tseslint.parser },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      'no-debugger': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['node:*'], message: 'Workflow code runs in the deterministic Temporal sandbox: no Node built-ins.' },
          { group: ['fs', 'fs/*', 'path', 'os', 'child_process', 'crypto', 'net', 'http', 'https', 'stream', 'timers', 'worker_threads'], message: 'Workflow code runs in the deterministic Temporal sandbox: no Node built-ins.' },
          { group: ioPackages, message: 'Workflow code must not do I/O: call an activity through proxyActivities instead.', allowTypeImports: true },
        ],
      }],
    },
  },
  {
    files: ['infra/media/src/formats/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { regex: '^(?!\\./[a-z0-9-]+\\.js$)', message: 'The media formats are pure: they import only each other (./*.js), no Node built-ins, no packages.' },
        ],
      }],
    },
  },
  {
    files: ['apps/edge/src/**/*.ts', 'apps/api/src/**/*.ts', 'apps/web/src/**/*.ts', 'apps/web/src/**/*.tsx'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: '@live/media', message: 'Import the pure formats from @live/media/formats: the edge, API and web app do not run ffmpeg or publishers.' }],
      }],
    },
  },
);

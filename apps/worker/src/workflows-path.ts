import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * Absolute path of the workflows entry file (`@live/workflows` → workflows/src/index.ts), the
 * `workflowsPath` Temporal's bundler compiles into the workflow sandbox when the worker runs from
 * source.
 */
export const WORKFLOWS_PATH: string = createRequire(import.meta.url).resolve('@live/workflows');

/**
 * The prebuilt workflow bundle next to the built worker (`dist/workflow-bundle.js`, written by
 * `npm run build`), or undefined when running from source. A production worker loads it instead
 * of bundling the workflows with webpack at every start (Temporal docs, "Prebuilt workflow
 * bundles"), so it needs neither TypeScript nor the bundler's time and memory.
 */
export const WORKFLOW_BUNDLE_PATH: string | undefined = ((): string | undefined => {
  const path = fileURLToPath(new URL('./workflow-bundle.js', import.meta.url));
  return existsSync(path) ? path : undefined;
})();

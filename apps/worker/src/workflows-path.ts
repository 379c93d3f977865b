import { createRequire } from 'node:module';

/**
 * Absolute path of the workflows entry file (`@live/workflows` → workflows/src/index.ts), the
 * `workflowsPath` Temporal's bundler compiles into the workflow sandbox.
 */
export const WORKFLOWS_PATH: string = createRequire(import.meta.url).resolve('@live/workflows');

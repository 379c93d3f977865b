import type { EventClock } from '@live/events';

/** The event clock of workflow code: the sandbox's Date.now and Math.random are deterministic and replay-safe. */
export const workflowClock: EventClock = {
  now: () => Date.now(),
  randomBytes: (n) => Uint8Array.from({ length: n }, () => Math.floor(Math.random() * 256)),
};

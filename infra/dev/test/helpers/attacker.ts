/**
 * The attacker as a process of its own: {@link attack} runs one flood of ./floods.ts in a child
 * Node process at a lower CPU priority (`nice -n 10`) and resolves with its result. The attacker
 * stands for machines other than the platform's: its own event loop keeps the test's timed normal
 * requests from waiting behind thousands of attack sockets, and its niceness keeps it from taking
 * the platform's CPU on one shared machine (as the chaos test does with Chromium).
 *
 * Run directly (`node --import tsx attacker.ts <flood>`, the JSON array of arguments on stdin) it
 * is that child: it prints the flood's result as one JSON line on stdout.
 */
import { execFile } from 'node:child_process';
import { text } from 'node:stream/consumers';
import { fileURLToPath } from 'node:url';
import { chatSocketsFromOneAddress, httpFlood, idleRtmpSockets, junkChatFrames, passwordSpray } from './floods.js';

/** The floods, by name, with their argument lists as {@link attack} passes them. */
const FLOODS = {
  idleRtmpSockets,
  httpFlood,
  junkChatFrames,
  chatSocketsFromOneAddress,
  passwordSpray,
} as const;

type Floods = typeof FLOODS;

const SELF = fileURLToPath(import.meta.url);

/**
 * Runs `FLOODS[flood](...args)` in the attacker process and resolves with what it returned.
 * @throws Error with the process's stderr when it fails.
 */
export async function attack<K extends keyof Floods>(flood: K, ...args: Parameters<Floods[K]>): Promise<Awaited<ReturnType<Floods[K]>>> {
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = execFile('nice', ['-n', '10', process.execPath, '--import', 'tsx', SELF, flood], { maxBuffer: 64 * 1024 * 1024 }, (err, out, stderr) => {
      if (err) reject(new Error(`attacker ${flood} failed: ${err.message}\n${stderr}`));
      else resolve(out);
    });
    child.stdin!.end(JSON.stringify(args));
  });
  return JSON.parse(stdout) as Awaited<ReturnType<Floods[K]>>;
}

if (process.argv[1] === SELF) {
  const flood = process.argv[2] as keyof Floods;
  const run = FLOODS[flood] as (...a: unknown[]) => Promise<unknown>;
  const result = await run(...(JSON.parse(await text(process.stdin)) as unknown[]));
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

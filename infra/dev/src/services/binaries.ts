/**
 * Locating the external programs the embedded stack runs. They are installed by
 * `bash infra/dev/bin/ensure.sh` (Debian packages and `go install`), never by hand.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Programs {@link resolveBinary} knows how to find. */
export type BinaryName = 'nats-server' | 'temporal' | 'ffmpeg' | 'ffprobe' | 'minio' | 'caddy';

/** Environment variable that overrides the lookup of each program (absolute path to the executable). */
export const BINARY_ENV: Readonly<Record<BinaryName, string>> = {
  'nats-server': 'NATS_SERVER_PATH',
  temporal: 'TEMPORAL_CLI_PATH',
  ffmpeg: 'FFMPEG_PATH',
  ffprobe: 'FFPROBE_PATH',
  // Not MINIO_PATH: MINIO_* variables are the server's own configuration namespace.
  minio: 'MINIO_SERVER_PATH',
  caddy: 'CADDY_PATH',
};

function isExecutableFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** System directories searched after PATH (root-only on Debian, so often missing from PATH). */
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin'];

let goBinDirsCache: string[] | undefined;

/**
 * Directories `go install` may have put binaries in: $GOBIN, each $GOPATH entry's `bin`,
 * `$(go env GOPATH)/bin` when `go` is on PATH, and the default ~/go/bin.
 */
function goBinDirs(): string[] {
  if (goBinDirsCache) return goBinDirsCache;
  const dirs: string[] = [];
  if (process.env.GOBIN) dirs.push(process.env.GOBIN);
  for (const entry of (process.env.GOPATH ?? '').split(path.delimiter)) {
    if (entry) dirs.push(path.join(entry, 'bin'));
  }
  if (!process.env.GOPATH) {
    // Only ask go when GOPATH isn't in the environment; `go env` costs ~20 ms.
    const go = spawnSync('go', ['env', 'GOPATH'], { encoding: 'utf8', timeout: 5_000 });
    if (go.status === 0) {
      for (const entry of go.stdout.trim().split(path.delimiter)) {
        if (entry) dirs.push(path.join(entry, 'bin'));
      }
    }
  }
  dirs.push(path.join(os.homedir(), 'go', 'bin'));
  goBinDirsCache = [...new Set(dirs)];
  return goBinDirsCache;
}

/**
 * Finds the executable for `name`.
 *
 * Lookup order: the override variable from {@link BINARY_ENV} (`NATS_SERVER_PATH`,
 * `TEMPORAL_CLI_PATH`, `FFMPEG_PATH`, `FFPROBE_PATH`, `MINIO_SERVER_PATH`), then every directory
 * on `PATH`, then /usr/local/sbin and /usr/sbin (Debian's nats-server is /usr/sbin/nats-server,
 * not on a non-root PATH), then the Go binary directories (`$GOBIN`, `$GOPATH/bin` or
 * `$(go env GOPATH)/bin`, default `~/go/bin`), where `go install` puts the Temporal CLI and MinIO.
 *
 * @returns the absolute path of an executable regular file.
 * @throws Error when the override variable points at something that is not an executable file, or
 *   when the program is found nowhere; the message names `bash infra/dev/bin/ensure.sh`, which
 *   installs it.
 */
export function resolveBinary(name: BinaryName): string {
  const envVar = BINARY_ENV[name];
  const override = process.env[envVar];
  if (override) {
    const file = path.resolve(override);
    if (isExecutableFile(file)) return file;
    throw new Error(`${envVar}=${override} is not an executable file. Unset it to use ${name} from PATH, or run \`bash infra/dev/bin/ensure.sh\` from the repository root to install ${name}.`);
  }
  const pathDirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const dir of pathDirs) {
    const file = path.resolve(dir, name);
    if (isExecutableFile(file)) return file;
  }
  // Debian installs nats-server in /usr/sbin, which is not on a non-root user's PATH.
  const goDirs = goBinDirs();
  for (const dir of [...SBIN_DIRS, ...goDirs]) {
    const file = path.join(dir, name);
    if (isExecutableFile(file)) return file;
  }
  throw new Error(
    `${name} not found (looked at $${envVar}, PATH, ${[...SBIN_DIRS, ...goDirs].join(', ')}). ` +
      `Run \`bash infra/dev/bin/ensure.sh\` from the repository root to install it, or set ${envVar} to its path.`,
  );
}

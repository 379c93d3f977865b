/**
 * Locating the external programs the embedded stack runs. They are installed by
 * `bash infra/dev/bin/ensure.sh` (Debian packages and `go install`), never by hand: nats-server
 * v2.15.3, the Temporal CLI and MinIO are `go install` builds, ffmpeg, Caddy and HAProxy Debian
 * packages.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Programs {@link resolveBinary} knows how to find. */
export type BinaryName = 'nats-server' | 'temporal' | 'ffmpeg' | 'ffprobe' | 'minio' | 'caddy' | 'haproxy';

/** Environment variable that overrides the lookup of each program (absolute path to the executable). */
export const BINARY_ENV: Readonly<Record<BinaryName, string>> = {
  'nats-server': 'NATS_SERVER_PATH',
  temporal: 'TEMPORAL_CLI_PATH',
  ffmpeg: 'FFMPEG_PATH',
  ffprobe: 'FFPROBE_PATH',
  // Not MINIO_PATH: MINIO_* variables are the server's own configuration namespace.
  minio: 'MINIO_SERVER_PATH',
  caddy: 'CADDY_PATH',
  haproxy: 'HAPROXY_PATH',
};

/**
 * Programs whose `go install` build (the version ensure.sh pins) is preferred over one on PATH or
 * in /usr/sbin: Debian's nats-server is 2.9.10, too old for the platform's consumers and clusters.
 */
const GO_BUILD_FIRST: ReadonlySet<BinaryName> = new Set(['nats-server']);

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
 * `TEMPORAL_CLI_PATH`, `FFMPEG_PATH`, `FFPROBE_PATH`, `MINIO_SERVER_PATH`, `CADDY_PATH`,
 * `HAPROXY_PATH`), then every directory on `PATH`, then /usr/local/sbin and /usr/sbin (Debian's
 * haproxy is /usr/sbin/haproxy, not on a non-root PATH), then the Go binary directories
 * (`$GOBIN`, `$GOPATH/bin` or `$(go env GOPATH)/bin`, default `~/go/bin`), where `go install`
 * puts the Temporal CLI and MinIO.
 *
 * nats-server is looked up in the Go binary directories first (after `NATS_SERVER_PATH`): that is
 * where ensure.sh builds the pinned v2.15.3, which must win over Debian's /usr/sbin/nats-server
 * (2.9.10) or another version on PATH; those are only used when there is no Go build.
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
  const goDirs = goBinDirs();
  // Debian installs some programs in /usr/sbin, which is not on a non-root user's PATH.
  const dirs = GO_BUILD_FIRST.has(name) ? [...goDirs, ...pathDirs, ...SBIN_DIRS] : [...pathDirs, ...SBIN_DIRS, ...goDirs];
  for (const dir of dirs) {
    const file = path.resolve(dir, name);
    if (isExecutableFile(file)) return file;
  }
  const where = GO_BUILD_FIRST.has(name) ? [...goDirs, 'PATH', ...SBIN_DIRS] : ['PATH', ...SBIN_DIRS, ...goDirs];
  throw new Error(
    `${name} not found (looked at $${envVar}, ${where.join(', ')}). ` +
      `Run \`bash infra/dev/bin/ensure.sh\` from the repository root to install it, or set ${envVar} to its path.`,
  );
}

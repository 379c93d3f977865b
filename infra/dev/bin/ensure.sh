#!/usr/bin/env bash
# Idempotent bootstrap for the embedded local stack (docs/architecture.md, "Embedded default and
# production mode"): installs only what is missing, prints one line per thing it installed, and
# is silent (< 2 s) when everything is already there. Runs before `npm start` and `npm test`:
#
#   bash infra/dev/bin/ensure.sh
#
# - pnpm 10 (npm install -g; corepack is not used)
# - Debian packages ffmpeg, chromium, prometheus (for promtool), openssl (the embedded RTMPS
#   certificate), caddy (the HTTPS front of the production e2e), haproxy (the load balancer of the
#   cluster profile), systemd (systemd-analyze checks the deployment units), nginx and
#   libnginx-mod-rtmp (the restream e2e's RTMP server), libsrt1.5-gnutls (the ingest's SRT
#   listener; ffmpeg's own SRT library), iproute2 (`ss`: the edge's CMSD-Dynamic throughput)
#   (apt-get; sudo when not root)
# - nats-server v2.15.3 (go install into $(go env GOPATH)/bin; Debian's is 2.9.10)
# - Temporal CLI v1.5.1 (go install into $(go env GOPATH)/bin)
# - with --test, or STACK_PROFILE=cluster: MinIO, pinned module version (go install into
#   $(go env GOPATH)/bin), for the S3 storage tests and the cluster profile's object storage (the
#   single-machine `npm start` stores objects in a directory and skips the build)
# - node_modules (pnpm install --frozen-lockfile) when missing or older than pnpm-lock.yaml
#
# Works without a TTY (CI). Exit status 1 with instructions when something cannot be installed.
set -euo pipefail

PNPM_VERSION=10.34.8
TEMPORAL_CLI_VERSION=1.5.1
NATS_SERVER_VERSION=2.15.3
APT_PACKAGES_WANTED=() # filled below

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"

say() { printf 'ensure: %s\n' "$*"; }
die() { printf 'ensure: %s\n' "$*" >&2; exit 1; }

LOG="$(mktemp "${TMPDIR:-/tmp}/live-platform-ensure.XXXXXX")"
trap 'rm -f "$LOG"' EXIT

# Runs a command with its output in $LOG; on failure shows the end of that output and exits.
quietly() {
  if ! "$@" >"$LOG" 2>&1 </dev/null; then
    printf 'ensure: failed: %s\n' "$*" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
}

# Runs a command as root: directly when we are root, through sudo when it exists.
SUDO=""
can_be_root() {
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; return 0; fi
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; return 0; fi
  return 1
}

# Two concurrent runs (npm start + npm test) must not both build or install.
if command -v flock >/dev/null 2>&1 && exec 9>>"${TMPDIR:-/tmp}/live-platform-ensure.$(id -u).lock"; then
  flock 9
fi

# --- pnpm 10 ----------------------------------------------------------------------------------
pnpm_version="$(pnpm --version 2>/dev/null || true)"
if [[ "$pnpm_version" != 10.* ]]; then
  command -v npm >/dev/null 2>&1 || die "npm is missing: install Node.js 20 (https://nodejs.org) first."
  npm_prefix="$(npm prefix -g 2>/dev/null || echo /usr/local)"
  if [ -w "$npm_prefix" ] || ! can_be_root; then
    quietly npm install -g "pnpm@${PNPM_VERSION}" --no-fund --no-audit --loglevel=error
  else
    quietly $SUDO npm install -g "pnpm@${PNPM_VERSION}" --no-fund --no-audit --loglevel=error
  fi
  hash -r
  say "installed pnpm ${PNPM_VERSION} (npm install -g)"
fi

# --- Debian packages --------------------------------------------------------------------------
has_exe() { # name [extra candidate paths…]
  command -v "$1" >/dev/null 2>&1 && return 0
  local candidate
  for candidate in "${@:2}"; do [ -x "$candidate" ] && return 0; done
  return 1
}
{ has_exe ffmpeg "${FFMPEG_PATH:-/nonexistent}" && has_exe ffprobe "${FFPROBE_PATH:-/nonexistent}"; } || APT_PACKAGES_WANTED+=(ffmpeg)
# The ingest's SRT listener binds Debian's libsrt (ffmpeg depends on it; checked on its own for an ffmpeg from elsewhere).
ls /usr/lib/*-linux-gnu/libsrt-gnutls.so.1.5 >/dev/null 2>&1 || APT_PACKAGES_WANTED+=(libsrt1.5-gnutls)
has_exe chromium || APT_PACKAGES_WANTED+=(chromium) # only the e2e tests need it
has_exe promtool || APT_PACKAGES_WANTED+=(prometheus) # promtool checks infra/deploy's alert rules in the tests
has_exe caddy || APT_PACKAGES_WANTED+=(caddy) # the tests validate and run infra/deploy/caddy's Caddyfiles
# haproxy lives in /usr/sbin, which is not on a non-root user's PATH on Debian.
has_exe haproxy /usr/sbin/haproxy "${HAPROXY_PATH:-/nonexistent}" || APT_PACKAGES_WANTED+=(haproxy) # the cluster profile's load balancer
has_exe systemd-analyze || APT_PACKAGES_WANTED+=(systemd) # the tests verify infra/deploy/systemd's units (absent in minimal containers)
has_exe openssl || APT_PACKAGES_WANTED+=(openssl) # the embedded stack's self-signed RTMPS certificate
has_exe ss /usr/sbin/ss /bin/ss || APT_PACKAGES_WANTED+=(iproute2) # the edge reads its viewers' TCP throughput with ss (CMSD-Dynamic)
# Debian's nginx with the RTMP module: the real RTMP server the restream e2e pushes to (started by the test).
{ has_exe nginx /usr/sbin/nginx && [ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ]; } || APT_PACKAGES_WANTED+=(nginx libnginx-mod-rtmp)

if [ "${#APT_PACKAGES_WANTED[@]}" -gt 0 ]; then
  wanted="${APT_PACKAGES_WANTED[*]}"
  if ! command -v apt-get >/dev/null 2>&1; then
    die "missing programs from: ${wanted}. This is not a Debian/Ubuntu system: install them with your package manager (e.g. brew install ${wanted}) and run this again."
  fi
  if ! can_be_root; then
    die "missing Debian packages: ${wanted}. Run as root: apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${wanted}"
  fi
  quietly $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  quietly $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${APT_PACKAGES_WANTED[@]}"
  for pkg in "${APT_PACKAGES_WANTED[@]}"; do say "installed ${pkg} (apt-get)"; done
  # Debian's caddy, haproxy and nginx packages enable and start caddy.service (a Caddy on port 80),
  # haproxy.service and nginx.service where systemd runs; the platform starts its own when it wants one (tests, a
  # local front, the cluster profile).
  for unit in caddy haproxy nginx; do
    if [[ " ${APT_PACKAGES_WANTED[*]} " == *" ${unit} "* ]] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      $SUDO systemctl disable --now "${unit}.service" >/dev/null 2>&1 || true
    fi
  done
fi

# --- Go builds (go install) ------------------------------------------------------------------
GO=""
if command -v go >/dev/null 2>&1; then GO="$(command -v go)"
elif [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go
fi

go_bin_dir() {
  if [ -n "${GOBIN:-}" ]; then echo "$GOBIN"; return; fi
  if [ -n "$GO" ]; then
    local lines=()
    mapfile -t lines < <("$GO" env GOBIN GOPATH 2>/dev/null || true)
    if [ -n "${lines[0]:-}" ]; then echo "${lines[0]}"; return; fi
    if [ -n "${lines[1]:-}" ]; then echo "${lines[1]%%:*}/bin"; return; fi
  fi
  if [ -n "${GOPATH:-}" ]; then echo "${GOPATH%%:*}/bin"; return; fi
  echo "$HOME/go/bin"
}

# --- nats-server ------------------------------------------------------------------------------
# Pinned module version, built with go install (pure Go). resolveBinary() looks in the Go bin
# directory before PATH and /usr/sbin for nats-server, so this build wins over Debian's 2.9.10.
# Idempotent: a binary built from this exact module version (checked with `go version -m`) is kept.
NATS_MODULE_RE="mod[[:space:]]+github\\.com/nats-io/nats-server/v2[[:space:]]+v${NATS_SERVER_VERSION//./\\.}[[:space:]]"
nats_ok() {
  [ -x "$1" ] && [ -n "$GO" ] || return 1
  local out
  out="$("$GO" version -m "$1" 2>/dev/null || true)"
  [[ "$out" =~ $NATS_MODULE_RE ]]
}
if [ -z "${NATS_SERVER_PATH:-}" ] || [ ! -x "$NATS_SERVER_PATH" ]; then # an explicit override is trusted
  gobin_nats="$(go_bin_dir)/nats-server"
  if ! nats_ok "$gobin_nats"; then
    [ -n "$GO" ] || die "nats-server v${NATS_SERVER_VERSION} is missing and building it needs Go: install Go 1.24 or newer (https://go.dev/dl/) and put it on PATH, then run this again (or set NATS_SERVER_PATH to a nats-server v${NATS_SERVER_VERSION} binary)."
    say "building nats-server v${NATS_SERVER_VERSION} with go install…"
    quietly env CGO_ENABLED=0 "$GO" install "github.com/nats-io/nats-server/v2@v${NATS_SERVER_VERSION}"
    nats_ok "$gobin_nats" || die "go install finished but ${gobin_nats} is not nats-server v${NATS_SERVER_VERSION}"
    say "installed nats-server v${NATS_SERVER_VERSION} at ${gobin_nats}"
  fi
fi

# --- Temporal CLI -----------------------------------------------------------------------------
# True when $1 is the Temporal CLI at the pinned version. Release builds print
# "temporal version 1.5.1 (…)"; a `go install` build prints "0.0.0-DEV", so its module version
# is read from the binary's build info instead.
TEMPORAL_VERSION_RE="version ${TEMPORAL_CLI_VERSION//./\\.}([^0-9]|\$)"
TEMPORAL_MODULE_RE="mod[[:space:]]+github\\.com/temporalio/cli[[:space:]]+v${TEMPORAL_CLI_VERSION//./\\.}[[:space:]]"
temporal_ok() {
  [ -x "$1" ] || return 1
  local out
  out="$("$1" --version 2>/dev/null || true)"
  [[ "$out" =~ $TEMPORAL_VERSION_RE ]] && return 0
  [ -n "$GO" ] || return 1
  out="$("$GO" version -m "$1" 2>/dev/null || true)"
  [[ "$out" =~ $TEMPORAL_MODULE_RE ]]
}

temporal_found=""
if [ -n "${TEMPORAL_CLI_PATH:-}" ] && temporal_ok "$TEMPORAL_CLI_PATH"; then temporal_found="$TEMPORAL_CLI_PATH"; fi
path_temporal="$(command -v temporal 2>/dev/null || true)"
if [ -z "$temporal_found" ] && [ -n "$path_temporal" ] && temporal_ok "$path_temporal"; then temporal_found="$path_temporal"; fi
if [ -z "$temporal_found" ]; then
  gobin_temporal="$(go_bin_dir)/temporal"
  if ! temporal_ok "$gobin_temporal"; then
    [ -n "$GO" ] || die "the Temporal CLI v${TEMPORAL_CLI_VERSION} is missing and building it needs Go: install Go 1.24 or newer (https://go.dev/dl/) and put it on PATH, then run this again (or set TEMPORAL_CLI_PATH to a temporal v${TEMPORAL_CLI_VERSION} binary)."
    say "building the Temporal CLI v${TEMPORAL_CLI_VERSION} with go install (takes a few minutes on the first build)…"
    # Pure Go (modernc SQLite): no C compiler needed.
    quietly env CGO_ENABLED=0 "$GO" install "github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}"
    temporal_ok "$gobin_temporal" || die "go install finished but ${gobin_temporal} is not temporal v${TEMPORAL_CLI_VERSION}"
    say "installed temporal v${TEMPORAL_CLI_VERSION} at ${gobin_temporal}"
  fi
  if [ -n "$path_temporal" ] && [ -z "${TEMPORAL_CLI_PATH:-}" ]; then
    # resolveBinary() prefers PATH over the Go bin directory.
    say "note: ${path_temporal} (on PATH) is not v${TEMPORAL_CLI_VERSION}; set TEMPORAL_CLI_PATH=${gobin_temporal} or remove it from PATH"
  fi
fi

# --- MinIO (S3-compatible server for @live/storage's S3 integration tests) --------------------
# MinIO's community edition is source-only and its repository is archived (last commit
# 2026-02-12). The Go module proxy answers 403 for its RELEASE.* tags (not semantic versions) and
# for the pseudo-version of RELEASE.2025-10-15T17-29-55Z; it serves only that last commit, pinned
# here by its pseudo-version (AGPLv3; a test tool, never shipped). Its go.mod has no
# `replace` directives, so `go install module@version` accepts it. The build is the slow part of
# this script: ~230 s of CPU (about 2-3 min on 2 idle cores, peak 1.5 GB RAM) plus the module
# downloads; measured 9m43s wall on a busy 2-core machine with cold module cache. Idempotent: a
# binary already built from this exact module version (checked with `go version -m`) is kept.
MINIO_MODULE_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_MODULE_RE="mod[[:space:]]+github\\.com/minio/minio[[:space:]]+${MINIO_MODULE_VERSION//./\\.}([[:space:]]|\$)"
minio_ok() { # a `go install` build of the pinned module version (its --version says DEVELOPMENT.GOGET)
  [ -x "$1" ] && [ -n "$GO" ] || return 1
  local out
  out="$("$GO" version -m "$1" 2>/dev/null || true)"
  [[ "$out" =~ $MINIO_MODULE_RE ]]
}
minio_found=""
if [ "${1:-}" != "--test" ] && [ "${STACK_PROFILE:-single}" != "cluster" ]; then minio_found="not needed"; fi
if [ -z "$minio_found" ] && [ -n "${MINIO_SERVER_PATH:-}" ] && [ -x "$MINIO_SERVER_PATH" ]; then minio_found="$MINIO_SERVER_PATH"; fi # an explicit override is trusted
path_minio="$(command -v minio 2>/dev/null || true)"
if [ -z "$minio_found" ] && [ -n "$path_minio" ] && minio_ok "$path_minio"; then minio_found="$path_minio"; fi
if [ -z "$minio_found" ]; then
  gobin_minio="$(go_bin_dir)/minio"
  if ! minio_ok "$gobin_minio"; then
    [ -n "$GO" ] || die "MinIO ${MINIO_MODULE_VERSION} is missing and building it needs Go: install Go 1.24 or newer (https://go.dev/dl/) and put it on PATH, then run this again (or set MINIO_SERVER_PATH to a minio binary)."
    say "building MinIO ${MINIO_MODULE_VERSION} with go install (takes several minutes on the first build)…"
    # Pure Go: no C compiler needed (MinIO's own release builds use CGO_ENABLED=0 too).
    quietly env CGO_ENABLED=0 "$GO" install "github.com/minio/minio@${MINIO_MODULE_VERSION}"
    minio_ok "$gobin_minio" || die "go install finished but ${gobin_minio} is not minio ${MINIO_MODULE_VERSION}"
    say "installed minio ${MINIO_MODULE_VERSION} at ${gobin_minio}"
  fi
  if [ -n "$path_minio" ] && [ -z "${MINIO_SERVER_PATH:-}" ]; then
    # resolveBinary() prefers PATH over the Go bin directory.
    say "note: ${path_minio} (on PATH) is not minio ${MINIO_MODULE_VERSION}; set MINIO_SERVER_PATH=${gobin_minio} or remove it from PATH"
  fi
fi

# --- node_modules -----------------------------------------------------------------------------
if [ ! -f node_modules/.modules.yaml ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  quietly pnpm install --frozen-lockfile --reporter=append-only
  # pnpm leaves .modules.yaml alone when nothing changed; mark the install as current.
  touch node_modules/.modules.yaml
  say "installed node_modules (pnpm install --frozen-lockfile)"
fi

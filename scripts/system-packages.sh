#!/usr/bin/env bash
# Prints the Debian packages this machine lacks, one per line: each is decided by the very
# binary a later CI step starts, never by a neighbour (the machine image ships a `docker`
# client without `dockerd`, so `docker` on the PATH says nothing about the engine).
# With --install, installs them with apt-get.
set -euo pipefail

# binary|package: the binary a step runs, and the package that provides it.
NEEDS=(
  "dockerd|docker.io"        # scripts/start-docker.sh starts the engine
  "/bin/busybox|busybox-static"  # scripts/start-docker.sh copies this static binary into the test image
  "go|golang-go"             # scripts/install-ferretdb.sh builds FerretDB
  "htpasswd|apache2-utils"   # packages/test-support/src/registry.ts writes the test registry's bcrypt htpasswd
  "chromium|chromium"        # apps/dashboard/test drives the dashboard in a real browser
  "initdb|postgresql"        # scripts/postgres.js starts a PostgreSQL for FerretDB's PostgreSQL handler (tests) and the bench
)

# Debian keeps PostgreSQL's server binaries off the PATH, in /usr/lib/postgresql/<version>/bin
# (where scripts/postgres.js looks too).
PG_LIB=${GYOZA_POSTGRESQL_LIB:-/usr/lib/postgresql}
has() { command -v "$1" >/dev/null 2>&1 || compgen -G "$PG_LIB/*/bin/$1" >/dev/null; }

missing=()
for need in "${NEEDS[@]}"; do
  bin=${need%%|*}
  pkg=${need##*|}
  has "$bin" || missing+=("$pkg")
done

if [ "${1:-}" = "--install" ]; then
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  for need in "${NEEDS[@]}"; do
    bin=${need%%|*}
    has "$bin" || { echo "still missing after install: $bin (${need##*|})" >&2; exit 1; }
  done
else
  printf '%s\n' "${missing[@]+"${missing[@]}"}"
fi

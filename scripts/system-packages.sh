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
)

missing=()
for need in "${NEEDS[@]}"; do
  bin=${need%%|*}
  pkg=${need##*|}
  command -v "$bin" >/dev/null 2>&1 || missing+=("$pkg")
done

if [ "${1:-}" = "--install" ]; then
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  for need in "${NEEDS[@]}"; do
    bin=${need%%|*}
    command -v "$bin" >/dev/null 2>&1 || { echo "still missing after install: $bin (${need##*|})" >&2; exit 1; }
  done
else
  printf '%s\n' "${missing[@]+"${missing[@]}"}"
fi

#!/usr/bin/env bash
# Builds the CNCF distribution registry v3.0.0 (the OCI registry the worker's pull tests push
# to and pull from) into $(go env GOPATH)/bin when it is missing. About 100 s on two cores.
set -euo pipefail
version=v3.0.0
bin="$(go env GOPATH)/bin/registry"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$version"; then
  exit 0
fi
GOFLAGS=-mod=mod go install "github.com/distribution/distribution/v3/cmd/registry@$version"
"$bin" --version | head -1

#!/usr/bin/env bash
# The API contract, checked against a live server (run after `pnpm build`):
#   1. the served OpenAPI document passes a real validator (openapi-spec-validator);
#   2. schemathesis fuzzes every operation (positive and negative data) and fails on a 5xx
#      or an answer whose status, content type or body the document does not allow;
#   3. a Python client generated from the document (openapi-python-client) compiles and imports.
# The Python tools live in a venv made from scripts/api-contract-requirements.txt when missing.
# Prints "N passed, N failed" over the three checks and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
requirements=scripts/api-contract-requirements.txt
venv=${GYOZA_CONTRACT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gyoza/api-contract-venv}
examples=${GYOZA_CONTRACT_EXAMPLES:-25}

say() { printf '[api-contract] %s\n' "$*"; }

# --- the venv, (re)made when missing or when the requirements or the Python changed.
# The newest Python 3 on the machine: 3.11.7's parser raises "AST constructor recursion depth
# mismatch" inside hypothesis under schemathesis' deep schema walks.
python=${GYOZA_CONTRACT_PYTHON:-}
if [ -z "$python" ]; then
  # pyenv's shims answer only for the versions it has enabled; its other versions are used directly.
  pyenv_pythons=$(ls -d "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -V -r)
  for candidate in python3.13 python3.12 $pyenv_pythons python3; do
    if "$candidate" -c 'import venv, ensurepip' >/dev/null 2>&1; then python=$candidate; break; fi
  done
fi
[ -n "$python" ] || { say "no python3 with venv"; echo "api-contract: 0 passed, 1 failed"; exit 1; }
stamp="$(sha256sum "$requirements" | cut -c1-16) $("$python" -c 'import sys; print(sys.version.split()[0])')"
if [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$stamp" ]; then
  say "installing the Python tools into $venv"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv" || { say "$python -m venv failed"; exit 1; }
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" || { say "pip install failed"; exit 1; }
  echo "$stamp" >"$venv/.requirements"
fi

# --- a live server on a temporary SQLite database, loopback, a free port the kernel picks
work=$(mktemp -d "${TMPDIR:-/tmp}/gyoza-contract.XXXXXX")
key="contract-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
port=$(node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
url="http://127.0.0.1:$port"
GYOZA_HOST=127.0.0.1 GYOZA_PORT=$port GYOZA_API_KEY=$key GYOZA_DATABASE_URL="sqlite:$work/gyoza.db" \
  GYOZA_LOG_LEVEL=warn GYOZA_WORKERS=1 node apps/server/dist/main.js >"$work/server.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null
  wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

up=
for _ in $(seq 1 300); do
  if curl -sf "$url/health" >/dev/null 2>&1; then up=1; break; fi
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$up" ]; then
  say "the server did not start:"
  cat "$work/server.log"
  echo "api-contract: 0 passed, 1 failed"
  exit 1
fi
say "server at $url"

passed=0
failed=0
check() {
  local name=$1
  shift
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    say "PASS $name ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1))
    say "FAIL $name ($((SECONDS - start)) s)"
  fi
}

fetch_document() {
  curl -sf -H "X-API-Key: $key" "$url/openapi.json" -o "$work/openapi.json"
}

validate_document() {
  fetch_document && "$venv/bin/openapi-spec-validator" "$work/openapi.json"
}

fuzz() {
  # Bounded: a fixed number of examples per operation, a seed, and a wall-clock cap.
  # Run from the temporary directory: schemathesis keeps a cache in ./.schemathesis.
  (cd "$work" && timeout 240 "$venv/bin/st" --config-file "$root/scripts/schemathesis.toml" run "$url/openapi.json" \
    --header "X-API-Key: $key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$examples" \
    --request-timeout 15 \
    --workers 2 \
    --seed 14 \
    --suppress-health-check all \
    --report junit --report-dir "$work/report")
}

generate_client() {
  fetch_document || return 1
  (
    cd "$work" &&
      PATH="$venv/bin:$PATH" "$venv/bin/openapi-python-client" generate --path openapi.json --meta none --output-path gyoza_client >client.log 2>&1 ||
      { cat client.log; exit 1; }
    grep -i 'warning' client.log && exit 1
    "$venv/bin/python" -m compileall -q gyoza_client >/dev/null &&
      "$venv/bin/python" -c 'import gyoza_client, gyoza_client.api, gyoza_client.models; print("client imports")'
  )
}

check "OpenAPI document valid" validate_document
check "schemathesis" fuzz
check "generated Python client compiles" generate_client

if [ -s "$work/server.log" ] && grep -q '"level":50' "$work/server.log"; then
  say "the server logged errors:"
  grep '"level":50' "$work/server.log" | head -20
fi
echo "api-contract: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

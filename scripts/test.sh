#!/usr/bin/env bash
# Runs every test with jest and prints "N passed, N failed" from jest's JSON result.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tmp
result=.tmp/jest-result.json
rm -f "$result"
pnpm exec jest --json --outputFile="$result" "$@"
status=$?
node -e '
const r = require(process.argv[1]);
// A suite that fails to load has no failed tests of its own; count it as one failure.
const failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
console.log(`${r.numPassedTests} passed, ${failed} failed`);
' "$PWD/$result" || { echo "0 passed, 1 failed"; exit 1; }
exit $status

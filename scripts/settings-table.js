#!/usr/bin/env node
// Writes the server settings table into README.md from apps/server's SETTINGS declaration
// (after `pnpm build`). With --check, changes nothing and fails when the table is stale:
// `pnpm lint` runs it so, and CI fails on a table nobody regenerated.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const readmePath = path.join(root, 'README.md');
const built = path.join(root, 'apps/server/dist/settings-table.js');
if (!fs.existsSync(built)) {
  console.error(`settings-table: ${path.relative(root, built)} is missing; run pnpm build first`);
  process.exit(1);
}
const { withSettingsTable } = require(built);
const readme = fs.readFileSync(readmePath, 'utf8');
const updated = withSettingsTable(readme);
if (process.argv.includes('--check')) {
  if (updated !== readme) {
    console.error('settings-table: the configuration table in README.md is stale; run node scripts/settings-table.js');
    process.exit(1);
  }
} else if (updated !== readme) {
  fs.writeFileSync(readmePath, updated);
  console.error('settings-table: README.md updated');
}

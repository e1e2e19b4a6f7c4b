// One jest run for the whole tree. Sources are compiled by swc (with the legacy decorators
// class-validator needs), and workspace packages resolve to their sources, so tests never
// depend on a stale build.
const fs = require('node:fs');
const path = require('node:path');

const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
];

const moduleNameMapper = {};
for (const dir of ['packages', 'apps']) {
  for (const name of fs.readdirSync(path.join(__dirname, dir))) {
    const manifest = path.join(__dirname, dir, name, 'package.json');
    if (!fs.existsSync(manifest)) continue;
    const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8'));
    moduleNameMapper[`^${pkg.name}$`] = `<rootDir>/${dir}/${name}/src/index.ts`;
    moduleNameMapper[`^${pkg.name}/(.*)$`] = `<rootDir>/${dir}/${name}/src/$1`;
  }
}

module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper,
  testMatch: [
    '<rootDir>/packages/*/src/**/*.test.ts',
    '<rootDir>/apps/*/src/**/*.test.ts',
    '<rootDir>/apps/*/test/**/*.test.ts',
    '<rootDir>/scripts/**/*.test.ts',
  ],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  globalSetup: '<rootDir>/scripts/jest-global-setup.js',
  globalTeardown: '<rootDir>/scripts/jest-global-teardown.js',
  testTimeout: 30000,
};

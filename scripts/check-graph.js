// Checks the workspace's dependency graph; `pnpm lint` runs it after biome. It fails when
//  - two package.json files ask for different versions of one dependency,
//  - a package's runtime dependencies or imports break the layering in LAYERS (docs/design.md),
//  - the runtime dependencies between workspace packages form a cycle,
//  - an import reaches into another package's files (`@gyoza/x/src/...`, `../../x/src/...`)
//    instead of going through the entry points its package.json exports,
//  - a workspace package is imported without being declared (`dependencies`; in tests also
//    `devDependencies`): Biome's rule skips names a tsconfig `paths` entry maps, as the dashboard's does.
// Biome checks the rest of the graph: import cycles between files (suspicious/noImportCycles) and
// imports of npm packages a package.json does not declare (correctness/noUndeclaredDependencies).
//
// Usage: node scripts/check-graph.js [workspace root]   (one line per problem, exit code 1)
const fs = require('node:fs');
const path = require('node:path');

/** What each workspace package may import outside its tests: inward only, apps compose. */
const LAYERS = {
  '@gyoza/domain': [],
  '@gyoza/store': ['@gyoza/domain'],
  '@gyoza/scheduler': ['@gyoza/domain', '@gyoza/store'],
  '@gyoza/store-sqlite': ['@gyoza/domain', '@gyoza/store'],
  '@gyoza/store-mongo': ['@gyoza/domain', '@gyoza/store'],
  '@gyoza/api': ['@gyoza/domain', '@gyoza/store', '@gyoza/scheduler'],
  '@gyoza/client': ['@gyoza/domain'],
  // The server also serves the dashboard's built files.
  '@gyoza/server': [
    '@gyoza/domain',
    '@gyoza/store',
    '@gyoza/store-sqlite',
    '@gyoza/store-mongo',
    '@gyoza/scheduler',
    '@gyoza/api',
    '@gyoza/dashboard',
  ],
  '@gyoza/worker': ['@gyoza/domain', '@gyoza/client'],
  '@gyoza/dashboard': ['@gyoza/domain', '@gyoza/client'],
  '@gyoza/cli': ['@gyoza/domain', '@gyoza/client', '@gyoza/server', '@gyoza/worker'],
  // Test code only: other packages may list it in devDependencies, never in dependencies.
  '@gyoza/test-support': [
    '@gyoza/domain',
    '@gyoza/store',
    '@gyoza/store-sqlite',
    '@gyoza/store-mongo',
    '@gyoza/scheduler',
    '@gyoza/api',
    '@gyoza/client',
  ],
};

const DEPENDENCY_FIELDS = ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'];
const SOURCE = /\.(c|m)?(t|j)sx?$/;
/** Files whose imports may cross the layering (they compose a whole system to test it). */
const TEST_FILE = /(\.test\.[cm]?[tj]sx?$)|(^|\/)(test|fixtures)\//;
/** import/export ... from 'x', import 'x', import('x'), require('x'). */
const IMPORT =
  /(?:^|[^\w$.])(?:import|export)\s[^'"`;]*?\sfrom\s*['"]([^'"]+)['"]|(?:^|[^\w$.])import\s*['"]([^'"]+)['"]|(?:^|[^\w$.])(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g;

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** The package directories named by pnpm-workspace.yaml (entries `dir/*` or `dir`). */
function workspaceDirs(root) {
  const yaml = fs.readFileSync(path.join(root, 'pnpm-workspace.yaml'), 'utf8');
  const block = yaml.split(/^packages:\s*$/m)[1] ?? '';
  const dirs = [];
  for (const line of block.split('\n')) {
    const entry = /^\s+-\s+['"]?([^'"#\s]+)['"]?/.exec(line);
    if (!entry) {
      if (/^\S/.test(line)) break; // the next top-level key
      continue;
    }
    const pattern = entry[1];
    if (pattern.endsWith('/*')) {
      const parent = path.join(root, pattern.slice(0, -2));
      if (!fs.existsSync(parent)) continue;
      for (const name of fs.readdirSync(parent).sort()) dirs.push(path.join(parent, name));
    } else {
      dirs.push(path.join(root, pattern));
    }
  }
  return dirs.filter((dir) => fs.existsSync(path.join(dir, 'package.json')));
}

function sourceFiles(dir) {
  const files = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...sourceFiles(full));
    else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts')) files.push(full);
  }
  return files;
}

function importsOf(file) {
  const text = fs.readFileSync(file, 'utf8');
  const found = [];
  for (const match of text.matchAll(IMPORT)) found.push(match[1] ?? match[2] ?? match[3]);
  return found;
}

/** `@scope/name/sub/path` -> ['@scope/name', 'sub/path']; `name/sub` -> ['name', 'sub']. */
function splitSpecifier(specifier) {
  const parts = specifier.split('/');
  const size = specifier.startsWith('@') ? 2 : 1;
  return [parts.slice(0, size).join('/'), parts.slice(size).join('/')];
}

function checkVersions(manifests, problems) {
  const specs = new Map(); // dependency -> Map(spec -> [where])
  for (const { file, json } of manifests) {
    for (const field of DEPENDENCY_FIELDS) {
      for (const [name, spec] of Object.entries(json[field] ?? {})) {
        if (spec.startsWith('workspace:')) continue;
        if (!specs.has(name)) specs.set(name, new Map());
        const bySpec = specs.get(name);
        if (!bySpec.has(spec)) bySpec.set(spec, []);
        bySpec.get(spec).push(file);
      }
    }
  }
  for (const [name, bySpec] of specs) {
    if (bySpec.size < 2) continue;
    const listed = [...bySpec].map(([spec, files]) => `${spec} (${files.join(', ')})`).join(' vs ');
    problems.push(`${name} is pinned to different versions: ${listed}; use one`);
  }
}

function checkLayers(packages, problems) {
  for (const pkg of packages.values()) {
    const allowed = LAYERS[pkg.name];
    if (!allowed) {
      problems.push(
        `${pkg.file}: ${pkg.name} is not in LAYERS (scripts/check-graph.js); add it with what it may import`,
      );
      continue;
    }
    for (const dep of Object.keys(pkg.json.dependencies ?? {})) {
      if (packages.has(dep) && !allowed.includes(dep)) {
        problems.push(`${pkg.file}: ${pkg.name} may not depend on ${dep} (allowed: ${allowed.join(', ') || 'none'})`);
      }
    }
  }
}

function checkCycles(packages, problems) {
  const state = new Map(); // name -> 'visiting' | 'done'
  const visit = (name, trail) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      problems.push(`package cycle: ${[...trail.slice(trail.indexOf(name)), name].join(' -> ')}`);
      return;
    }
    state.set(name, 'visiting');
    for (const dep of Object.keys(packages.get(name).json.dependencies ?? {})) {
      if (packages.has(dep)) visit(dep, [...trail, name]);
    }
    state.set(name, 'done');
  };
  for (const name of packages.keys()) visit(name, []);
}

function checkImports(root, packages, problems) {
  const byDir = [...packages.values()];
  const owner = (file) => byDir.find((p) => file === p.dir || file.startsWith(p.dir + path.sep));
  let count = 0;
  for (const pkg of byDir) {
    const allowed = LAYERS[pkg.name] ?? [];
    for (const file of sourceFiles(pkg.dir)) {
      const where = path.relative(root, file);
      const isTest = TEST_FILE.test(path.relative(pkg.dir, file).split(path.sep).join('/'));
      for (const specifier of importsOf(file)) {
        count++;
        if (specifier.startsWith('.')) {
          const target = owner(path.resolve(path.dirname(file), specifier));
          if (target && target !== pkg) {
            problems.push(`${where}: '${specifier}' reaches into ${target.name}; import '${target.name}' instead`);
          }
          continue;
        }
        const [name, subpath] = splitSpecifier(specifier);
        const target = packages.get(name);
        if (!target || target === pkg) continue;
        const exported = Object.keys(target.json.exports ?? { '.': null });
        if (!exported.includes(subpath ? `./${subpath}` : '.')) {
          problems.push(`${where}: '${specifier}' is not an entry point of ${name} (exports: ${exported.join(', ')})`);
        }
        const runtime = { ...pkg.json.dependencies, ...pkg.json.peerDependencies, ...pkg.json.optionalDependencies };
        if (!(name in runtime) && !(isTest && name in (pkg.json.devDependencies ?? {}))) {
          problems.push(
            `${where}: imports ${name}, which ${pkg.file} does not declare${isTest ? '' : ' in dependencies'}`,
          );
        }
        if (!isTest && !allowed.includes(name)) {
          problems.push(`${where}: ${pkg.name} may not import ${name} (allowed: ${allowed.join(', ') || 'none'})`);
        }
      }
    }
  }
  return count;
}

/** Returns the problems found in the workspace at root and how much was looked at. */
function checkGraph(root) {
  const problems = [];
  const dirs = workspaceDirs(root);
  const manifests = [root, ...dirs].map((dir) => {
    const file = path.relative(root, path.join(dir, 'package.json'));
    return { dir, file, json: readJson(path.join(dir, 'package.json')) };
  });
  const packages = new Map(manifests.slice(1).map((m) => [m.json.name, { ...m, name: m.json.name }]));
  checkVersions(manifests, problems);
  checkLayers(packages, problems);
  checkCycles(packages, problems);
  const imports = checkImports(root, packages, problems);
  return { problems, packages: packages.size, imports };
}

if (require.main === module) {
  const root = path.resolve(process.argv[2] ?? path.join(__dirname, '..'));
  const { problems, packages, imports } = checkGraph(root);
  if (problems.length > 0) {
    for (const problem of problems) console.error(`check-graph: ${problem}`);
    process.exit(1);
  }
  console.log(`check-graph: ${packages} packages, ${imports} imports, one version per dependency: ok`);
}

module.exports = { checkGraph, LAYERS };

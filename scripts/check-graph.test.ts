import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

// `pnpm lint` checks the dependency graph twice: biome's noImportCycles and
// noUndeclaredDependencies (configured in biome.json) and scripts/check-graph.js. Each is run here
// on the repository and on small fixture workspaces with one defect each.
const repo = join(__dirname, '..');
const biome = require.resolve('@biomejs/biome/bin/biome');
const GRAPH_RULES = ['--only=suspicious/noImportCycles', '--only=correctness/noUndeclaredDependencies'];

type Files = Record<string, string>;

const manifest = (name: string, fields: object = {}) =>
  JSON.stringify({ name, version: '0.1.0', private: true, ...fields });

/** A tidy two-package workspace (domain <- store) with the repository's biome.json. */
function goodWorkspace(): Files {
  const biomeConfig = JSON.parse(readFileSync(join(repo, 'biome.json'), 'utf8'));
  delete biomeConfig.$schema;
  return {
    'package.json': manifest('fixture', { devDependencies: { typescript: '5.9.3' } }),
    'pnpm-workspace.yaml': 'packages:\n  - "packages/*"\nonlyBuiltDependencies:\n  - esbuild\n',
    'biome.json': JSON.stringify(biomeConfig),
    'packages/domain/package.json': manifest('@gyoza/domain', { dependencies: { ms: '^2.1.3' } }),
    'packages/domain/src/index.ts': "export { plan } from './plan';\n",
    'packages/domain/src/plan.ts': "import ms from 'ms';\nexport const plan = () => ms('1s');\n",
    'packages/store/package.json': manifest('@gyoza/store', {
      dependencies: { '@gyoza/domain': 'workspace:*', ms: '^2.1.3' },
      devDependencies: { 'fast-check': '4.10.2' },
    }),
    'packages/store/src/index.ts': "import { plan } from '@gyoza/domain';\nexport const store = plan;\n",
    'packages/store/src/index.test.ts': "import fc from 'fast-check';\nexport const arbitrary = fc.integer();\n",
  };
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function workspace(files: Files): string {
  const root = mkdtempSync(join(tmpdir(), 'gyoza-graph-'));
  dirs.push(root);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), text);
  }
  return root;
}

function run(args: string[], cwd: string): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { status: result.status, output: result.stdout + result.stderr };
}

const checkGraph = (root: string) => run([join(repo, 'scripts/check-graph.js'), root], repo);
const biomeGraph = (root: string) => run([biome, 'lint', ...GRAPH_RULES, '.'], root);

describe('the dependency graph check', () => {
  it('passes on the repository', () => {
    const graph = checkGraph(repo);
    expect(graph.output).toMatch(/one version per dependency: ok/);
    expect(graph.status).toBe(0);
    const lint = biomeGraph(repo);
    expect(lint.output).not.toMatch(/noImportCycles|noUndeclaredDependencies/);
    expect(lint.status).toBe(0);
  });

  it('passes on a tidy fixture workspace, so the failures below come from their one defect', () => {
    const root = workspace(goodWorkspace());
    expect(checkGraph(root)).toMatchObject({ status: 0 });
    expect(biomeGraph(root)).toMatchObject({ status: 0 });
  });

  it('fails on an import cycle between two files', () => {
    const root = workspace({
      ...goodWorkspace(),
      'packages/domain/src/plan.ts': "import { unit } from './unit';\nexport const plan = () => unit;\n",
      'packages/domain/src/unit.ts':
        "import { plan } from './plan';\nexport const unit = 1;\nexport const again = plan;\n",
    });
    const lint = biomeGraph(root);
    expect(lint.output).toMatch(/lint\/suspicious\/noImportCycles/);
    expect(lint.status).not.toBe(0);
  });

  it('fails on an import of a package that the package.json does not declare', () => {
    const root = workspace({
      ...goodWorkspace(),
      'packages/domain/src/plan.ts': "import express from 'express';\nexport const plan = () => express;\n",
    });
    const lint = biomeGraph(root);
    expect(lint.output).toMatch(/Dependency express isn't specified in packages\/domain\/package.json/);
    expect(lint.status).not.toBe(0);
  });

  it('fails when runtime code imports a devDependency, and allows it in tests', () => {
    const root = workspace({
      ...goodWorkspace(),
      'packages/store/src/store.ts': "import fc from 'fast-check';\nexport const arbitrary = fc.nat();\n",
    });
    const lint = biomeGraph(root);
    expect(lint.output).toMatch(/packages\/store\/src\/store.ts.*noUndeclaredDependencies/);
    expect(lint.output).not.toMatch(/index.test.ts/);
    expect(lint.status).not.toBe(0);
  });

  it('fails when a package depends on one above it, and names the cycle it makes', () => {
    const files = goodWorkspace();
    const root = workspace({
      ...files,
      'packages/domain/package.json': manifest('@gyoza/domain', {
        dependencies: { '@gyoza/store': 'workspace:*', ms: '^2.1.3' },
      }),
      'packages/domain/src/persist.ts': "import { store } from '@gyoza/store';\nexport const persist = store;\n",
    });
    const graph = checkGraph(root);
    expect(graph.output).toMatch(/@gyoza\/domain may not depend on @gyoza\/store \(allowed: none\)/);
    expect(graph.output).toMatch(/packages\/domain\/src\/persist.ts: @gyoza\/domain may not import @gyoza\/store/);
    expect(graph.output).toMatch(/package cycle: @gyoza\/domain -> @gyoza\/store -> @gyoza\/domain/);
    expect(graph.status).toBe(1);
  });

  it('fails when two package.json files pin different versions of one dependency', () => {
    const root = workspace({
      ...goodWorkspace(),
      'packages/store/package.json': manifest('@gyoza/store', {
        dependencies: { '@gyoza/domain': 'workspace:*', ms: '^2.1.0' },
      }),
    });
    const graph = checkGraph(root);
    expect(graph.output).toMatch(
      /ms is pinned to different versions: \^2.1.3 \(packages\/domain\/package.json\) vs \^2.1.0 \(packages\/store\/package.json\)/,
    );
    expect(graph.status).toBe(1);
  });

  it("fails on imports that reach into another package's src/", () => {
    const root = workspace({
      ...goodWorkspace(),
      'packages/store/src/deep.ts': "import { plan } from '@gyoza/domain/src/plan';\nexport const deep = plan;\n",
      'packages/store/src/deeper.ts': "import { plan } from '../../domain/src/plan';\nexport const deeper = plan;\n",
    });
    const graph = checkGraph(root);
    expect(graph.output).toMatch(/deep.ts: '@gyoza\/domain\/src\/plan' is not an entry point of @gyoza\/domain/);
    expect(graph.output).toMatch(/deeper.ts: '..\/..\/domain\/src\/plan' reaches into @gyoza\/domain/);
    expect(graph.status).toBe(1);
  });

  it('fails on an import of a workspace package that the package.json does not declare (biome skips tsconfig paths)', () => {
    const root = workspace({
      ...goodWorkspace(),
      'packages/store/package.json': manifest('@gyoza/store', { dependencies: { ms: '^2.1.3' } }),
    });
    const graph = checkGraph(root);
    expect(graph.output).toMatch(
      /packages\/store\/src\/index.ts: imports @gyoza\/domain, which packages\/store\/package.json does not declare in dependencies/,
    );
    expect(graph.status).toBe(1);
  });

  it('fails on a package the layering does not know', () => {
    const root = workspace({ ...goodWorkspace(), 'packages/extra/package.json': manifest('@gyoza/extra') });
    const graph = checkGraph(root);
    expect(graph.output).toMatch(/@gyoza\/extra is not in LAYERS/);
    expect(graph.status).toBe(1);
  });
});

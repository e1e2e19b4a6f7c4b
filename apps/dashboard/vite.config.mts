// Builds the single-page app into dist/, which @gyoza/server serves at /ui.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
// biome-ignore lint/correctness/noUndeclaredDependencies: build-time tool, a devDependency
import react from '@vitejs/plugin-react';
// biome-ignore lint/correctness/noUndeclaredDependencies: build-time tool, a devDependency
import { defineConfig } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const packages = resolve(here, '..', '..', 'packages');
const shim = (name: string) => resolve(here, 'src', 'shims', `${name}.ts`);

export default defineConfig({
  base: '/ui/',
  plugins: [react()],
  resolve: {
    alias: {
      // The client's and domain's ES sources, so the bundle keeps only what the pages use.
      '@gyoza/client': resolve(packages, 'client', 'src', 'index.ts'),
      '@gyoza/domain': resolve(packages, 'domain', 'src', 'index.ts'),
      // What the client reads on Node only (key files, environment); never reached in a browser.
      'node:fs': shim('node-fs'),
      'node:path': shim('node-path'),
      'node:crypto': shim('node-crypto'),
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // A Node-only function the shims lack (webhook signing, say) becomes undefined instead of
    // failing the build: the pages never call them.
    rollupOptions: { shimMissingExports: true },
  },
  server: { proxy: { '^/(?!ui)': 'http://127.0.0.1:5555' } },
});

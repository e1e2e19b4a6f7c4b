#!/usr/bin/env node
// `node apps/server/dist/main.js`: the server from the environment alone.
import { ConfigError } from './config';
import { closeOnSignals, start } from './server';

start().then(
  (server) => closeOnSignals(server),
  (error: unknown) => {
    process.stderr.write(`gyoza: ${error instanceof ConfigError ? error.message : (error as Error).stack}\n`);
    process.exit(2);
  },
);

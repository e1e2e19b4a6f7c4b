#!/usr/bin/env node
// `node apps/server/dist/main.js`: the server from the environment alone.
import { ConfigError } from './config';
import { closeOnSignals, StartupError, start } from './server';

start().then(
  (server) => closeOnSignals(server),
  (error: unknown) => {
    const oneLine = error instanceof ConfigError || error instanceof StartupError;
    process.stderr.write(`gyoza: ${oneLine ? error.message : (error as Error).stack}\n`);
    process.exit(2);
  },
);

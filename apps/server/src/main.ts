#!/usr/bin/env node
// `node apps/server/dist/main.js`: the server from the environment alone.
import { ConfigError } from './config';
import { StartupError } from './server';
import { startUntilSignal } from './signals';

startUntilSignal().catch((error: unknown) => {
  const oneLine = error instanceof ConfigError || error instanceof StartupError;
  process.stderr.write(`gyoza: ${oneLine ? error.message : (error as Error).stack}\n`);
  process.exit(2);
});

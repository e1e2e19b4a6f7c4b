import { closeOnSignals, type RunningServer, type StartOptions, start, stopClusterChildren } from './server';

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * Starts the server and closes it on SIGTERM / SIGINT (closeOnSignals), heeding them from
 * the first moment. One that arrives while the server is starting abandons start-up: the
 * cluster's processes are stopped (each closes cleanly if it is already listening) and waited
 * for, then the process exits 0, as after a shutdown. Left to Node, the signal killed the
 * primary (exit 143) and its children crashed on the closed channel.
 *
 * Resolves with the running server; never settles once start-up has been abandoned, and
 * rejects as start() does otherwise.
 */
export async function startUntilSignal(options: StartOptions = {}): Promise<RunningServer> {
  let abandoned = false;
  const abandon = () => {
    if (abandoned) return;
    abandoned = true;
    void stopClusterChildren().then(() => process.exit(0));
  };
  for (const signal of SIGNALS) process.on(signal, abandon);
  const started = await start(options).then(
    (server) => ({ server }),
    (error: unknown) => ({ error }),
  );
  // Abandoned, the exit is on its way: a failure is the signal's doing (a child stopped
  // before it listened), and a cluster whose children listened meanwhile goes with it.
  if (abandoned) return new Promise<never>(() => {});
  for (const signal of SIGNALS) process.off(signal, abandon);
  if ('error' in started) throw started.error;
  closeOnSignals(started.server);
  return started.server;
}

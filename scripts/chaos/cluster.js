// The real parts a chaos scenario drives: server processes (apps/server/dist/main.js), a TCP
// proxy that cuts claim answers, scripted workers over HTTP and the real agent (apps/cli).
const { spawn } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const { GyozaClient } = require('../../packages/client');
const { heldRunsDigest } = require('../../packages/domain');

const ROOT = path.join(__dirname, '..', '..');
const SERVER_MAIN = path.join(ROOT, 'apps', 'server', 'dist', 'main.js');
const CLI_MAIN = path.join(ROOT, 'apps', 'cli', 'dist', 'main.js');
const API_KEY = 'chaos-key-0123456789abcdef';

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Polls `probe` until it answers something other than undefined. */
async function waitFor(what, probe, timeoutMs = 30_000, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(intervalMs);
  }
}

/** A server (1 or more processes via GYOZA_WORKERS) that can be killed with SIGKILL and started again. */
class ServerProcess {
  constructor({ port, databaseUrl, processes, timeoutSeconds }) {
    Object.assign(this, { port, databaseUrl, processes, timeoutSeconds });
    this.url = `http://127.0.0.1:${port}`;
    this.child = undefined;
  }

  async start() {
    this.child = spawn(process.execPath, [SERVER_MAIN], {
      env: {
        ...process.env,
        GYOZA_PORT: String(this.port),
        GYOZA_HOST: '127.0.0.1',
        GYOZA_API_KEY: API_KEY,
        GYOZA_DATABASE_URL: this.databaseUrl,
        GYOZA_WORKERS: String(this.processes),
        GYOZA_WORKER_TIMEOUT_SECONDS: String(this.timeoutSeconds),
        GYOZA_LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'error',
      },
      // Its own process group, so kill -9 takes the cluster's children too.
      detached: true,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const client = new GyozaClient({ baseUrl: this.url, apiKey: API_KEY, retries: 0 });
    await waitFor('the server to answer /health', async () => ((await client.health()) ? true : undefined));
  }

  /** kill -9 of every process of the server. */
  async kill() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
    await exited;
    // The cluster's children die with the group; wait until nothing listens on the port.
    await waitFor('the port to close', () => canConnect(this.port).then((open) => (open ? undefined : true)));
  }
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * A TCP proxy in front of the server that forwards each request and, for a share of claim
 * requests, cuts both connections as the answer's first bytes arrive: the claim committed, the
 * worker never hears of it.
 */
class ClaimCuttingProxy {
  constructor(targetPort, dropShare) {
    Object.assign(this, { targetPort, dropShare, dropped: 0 });
    this.sockets = new Set();
  }

  async start() {
    this.port = await freePort();
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      let lastRequestIsClaim = false;
      client.on('data', (chunk) => {
        const text = chunk.toString('latin1', 0, Math.min(chunk.length, 200));
        if (/^[A-Z]+ /.test(text)) lastRequestIsClaim = /^POST \/workers\/[^/ ]+\/claim/.test(text);
        upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (lastRequestIsClaim && Math.random() < this.dropShare) {
          this.dropped += 1;
          client.destroy();
          upstream.destroy();
          return;
        }
        client.write(chunk);
      });
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    await new Promise((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${this.port}`;
  }

  async stop() {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/**
 * A worker written in a few lines over @gyoza/client, as the agent behaves: heartbeats with the
 * digest of what it runs (listing it when the server asks), claims, STARTED/COMPLETED naming its assignment, stops what the server says.
 * Each execution it performs is recorded as [run, start, end] for the overlap check.
 */
class ScriptedWorker {
  constructor({ id, url, heartbeatMs, runMs, failShare = 0, executions }) {
    Object.assign(this, { id, heartbeatMs, runMs, failShare, executions });
    this.client = new GyozaClient({ baseUrl: url, apiKey: API_KEY, retries: 0 });
    this.running = new Map();
    this.alive = false;
  }

  start() {
    this.alive = true;
    this.loops = Promise.all([this.beatLoop(), this.claimLoop()]);
    return this;
  }

  /** A crash: every loop stops at once and what it ran is forgotten (no report is sent). */
  crash() {
    this.alive = false;
    for (const execution of this.running.values()) execution.abort();
    this.running.clear();
  }

  async stop() {
    this.crash();
    await this.loops;
  }

  async beatLoop() {
    while (this.alive) {
      try {
        // As the agent: the digest of what it runs, the ids when the server asks (or has not
        // answered a digest of its own yet).
        const ids = [...this.running.keys()];
        const answer = await this.client.heartbeat({
          worker_id: this.id,
          resources: { cpu_cores: 4, ram_mb: 4096, gpus: [] },
          ...(this.listNext === false ? { held_digest: heldRunsDigest(ids) } : { running_ops: ids }),
        });
        this.listNext = answer.held_digest === undefined || answer.running_ops_wanted === true;
        for (const id of answer.stop_runs) this.running.get(id)?.abort();
      } catch {
        // the server is away: try again at the next beat
      }
      await delay(this.heartbeatMs);
    }
  }

  async claimLoop() {
    while (this.alive) {
      const room = 4 - this.running.size;
      if (room <= 0) {
        await delay(50);
        continue;
      }
      let ops = [];
      try {
        ops = await this.client.claim(this.id, { limit: room, waitSeconds: 1 });
      } catch {
        await delay(200);
        continue;
      }
      for (const op of ops) if (this.alive) this.execute(op);
    }
  }

  execute(op) {
    const controller = new AbortController();
    const execution = { abort: () => controller.abort() };
    this.running.set(op.id, execution);
    const token = { attempt: op.attempt, worker_id: this.id, assignment_id: op.assignment_id };
    const report = async (event) => {
      for (let i = 0; this.alive && !controller.signal.aborted; i++) {
        try {
          await this.client.postEvent(op.id, { ...event, ...token });
          return true;
        } catch (error) {
          if (error.status && error.status < 500) return false; // refused: no longer ours
          await delay(Math.min(100 * 2 ** i, 1000));
        }
      }
      return false;
    };
    (async () => {
      if (!(await report({ type: 'STARTED' }))) return;
      const started = Date.now();
      await delay(this.runMs, undefined, { signal: controller.signal }).catch(() => undefined);
      const ended = Date.now();
      if (this.alive || controller.signal.aborted)
        this.executions.push({ run: op.id, worker: this.id, started, ended });
      if (!this.alive || controller.signal.aborted) return;
      const failed = Math.random() < this.failShare;
      await report(failed ? { type: 'FAILED', payload: { error_message: 'chaos' } } : { type: 'COMPLETED' });
    })().finally(() => {
      if (this.running.get(op.id) === execution) this.running.delete(op.id);
    });
  }
}

/** The real agent as a process (`gyoza worker start`), killable with SIGKILL. */
class AgentProcess {
  constructor({ id, url, heartbeatSeconds }) {
    Object.assign(this, { id, url, heartbeatSeconds });
  }

  start() {
    this.child = spawn(
      process.execPath,
      [
        CLI_MAIN,
        'worker',
        'start',
        '--id',
        this.id,
        '--cpu',
        '2',
        '--ram-mb',
        '2048',
        '--gpus',
        'none',
        '--heartbeat-seconds',
        '1',
      ],
      {
        env: {
          ...process.env,
          GYOZA_SERVER_URL: this.url,
          GYOZA_API_KEY: API_KEY,
          GYOZA_LOG_LEVEL: 'error',
        },
        stdio: ['ignore', 'ignore', 'ignore'],
      },
    );
    this.child.on('error', () => undefined);
    return this;
  }

  async kill(signal = 'SIGKILL') {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }
}

module.exports = {
  API_KEY,
  AgentProcess,
  ClaimCuttingProxy,
  ScriptedWorker,
  ServerProcess,
  delay,
  freePort,
  waitFor,
};

import { Worker } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';

/**
 * The checkpointing thread: its own connection to the file, a PASSIVE checkpoint every
 * `intervalMs` (it copies what it can without waiting for anyone; SQLITE_BUSY while another
 * process checkpoints is skipped), 'restart' to the main thread when the WAL has grown to
 * `restartFrames`, closed on 'stop'. Plain JavaScript evaluated as a worker, so it runs the
 * same from the compiled package and from the TypeScript tests.
 */
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 0');
db.pragma('journal_size_limit = ' + workerData.journalSizeLimit);
let asked = -1;
const timer = setInterval(() => {
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)');
    // Once per WAL length: an idle WAL stays long until the next write restarts it.
    if (result.log >= workerData.restartFrames && result.log !== asked) {
      asked = result.log;
      parentPort.postMessage('restart');
    }
  } catch (error) {
    if (error.code !== 'SQLITE_BUSY' && error.code !== 'SQLITE_LOCKED') throw error;
  }
}, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export interface CheckpointerOptions {
  /** The database file (not `:memory:`). */
  path: string;
  /** How often the thread checkpoints. */
  intervalMs: number;
  /** The main connection's `wal_autocheckpoint` (pages) when no thread runs, or if it fails. */
  foregroundPages: number;
  /** The main connection's `wal_autocheckpoint` while the thread runs: only a backstop. */
  backstopPages: number;
  /** Commits before the thread starts (a store opened for a few writes never starts one). */
  afterCommits: number;
  /** WAL frames past which the main connection finishes a checkpoint so the WAL restarts. */
  restartFrames: number;
  journalSizeLimit: number;
}

/**
 * Copies the WAL into the database file from a worker thread instead of in the middle of a
 * request: SQLite checkpoints inside the COMMIT that crosses `wal_autocheckpoint`, so the
 * event loop stood still for the copy and its two fsyncs (on this machine a quarter of the
 * store's time in a run's create, claim and completion). The main connection keeps a large
 * autocheckpoint as a backstop, and goes back to checkpointing itself if the thread fails.
 * Durability is unchanged: commits are written to the WAL as before, checkpoints only move
 * committed pages.
 *
 * The WAL goes back to its start only when a write begins after a checkpoint that copied every
 * frame, which a checkpoint running beside a steady stream of commits never does: the WAL grew
 * to 127 MB in the first round of the jobs bench. So when the thread sees `restartFrames`
 * frames, the main connection runs one PASSIVE checkpoint itself, between two requests: it
 * copies only the frames the thread has not (a few milliseconds of writes), and the next
 * commit restarts the WAL.
 */
export class BackgroundCheckpointer {
  private worker?: Worker;
  private exited?: Promise<void>;
  private commits = 0;
  private closed = false;
  /** Set when a thread could not be created: checkpoints stay in the foreground. */
  private threadless = false;

  constructor(
    private readonly db: Database,
    private readonly options: CheckpointerOptions,
  ) {}

  /** Counts a commit of the main connection; starts the thread at `afterCommits`. */
  noteCommit(): void {
    if (this.worker || this.closed || this.threadless || ++this.commits < this.options.afterCommits) return;
    this.start();
  }

  private start(): void {
    let worker: Worker;
    try {
      worker = new Worker(THREAD, {
        eval: true,
        workerData: {
          driver: require.resolve('better-sqlite3'),
          path: this.options.path,
          intervalMs: this.options.intervalMs,
          restartFrames: this.options.restartFrames,
          journalSizeLimit: this.options.journalSizeLimit,
        },
      });
    } catch {
      // No thread to be had (ERR_WORKER_INIT_FAILED when the system is out of threads): this
      // is called right after a COMMIT, whose callers must still be answered. The main
      // connection keeps checkpointing in the foreground, and no thread is tried again.
      this.threadless = true;
      return;
    }
    this.worker = worker;
    this.exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    this.db.pragma(`wal_autocheckpoint = ${this.options.backstopPages}`);
    worker.on('message', (message) => {
      if (message !== 'restart' || this.closed || !this.db.open) return;
      try {
        this.db.pragma('wal_checkpoint(PASSIVE)');
      } catch {
        // Another process is checkpointing: its checkpoint serves as well.
      }
    });
    worker.once('error', () => {
      // Back to checkpointing in the foreground; the thread is not restarted.
      if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${this.options.foregroundPages}`);
    });
    // Last: adding a 'message' listener refs the worker again, and a process whose store was
    // never closed must still be able to exit.
    worker.unref();
  }

  /** Stops the thread and waits for it to close its connection (before the main one closes). */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    worker.postMessage('stop');
    const timer = setTimeout(() => void worker.terminate(), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

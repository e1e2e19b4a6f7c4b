import type { OpRun, Transition } from '@gyoza/domain';
import { encodeRun } from '@gyoza/store';
import mongoose from 'mongoose';

/**
 * What a MongoDB writer that died between its two steps leaves behind: the transition's
 * revision committed (`run_revisions/<id>:<rev + 1>`, the store-mongo layout) and nothing
 * applied, so neither `runs` nor `events` (nor the events' deliveries) show it yet.
 */
export async function commitWithoutApplying(
  uri: string,
  dbName: string,
  transition: Transition,
  at: Date,
): Promise<OpRun> {
  const next = { ...transition.run, rev: transition.run.rev + 1 };
  const connection = await mongoose.createConnection(uri, { dbName }).asPromise();
  try {
    await connection.collection('run_revisions').insertOne({
      _id: `${next.id}:${next.rev}` as never,
      run_id: next.id,
      rev: next.rev,
      doc: encodeRun(next),
      events: JSON.stringify(transition.events),
      created_at: at,
    });
  } finally {
    await connection.close();
  }
  return next;
}

import type { RunEvent } from '@gyoza/domain';

export interface EventRow {
  run_id: string;
  idx: number;
  attempt: number;
  type: string;
  msg: string | null;
  payload: string | null;
  created_at: number;
}

export function decodeEvent(row: EventRow): RunEvent {
  const event: RunEvent = {
    run_id: row.run_id,
    index: row.idx,
    attempt: row.attempt,
    type: row.type as RunEvent['type'],
    created_at: new Date(row.created_at),
  };
  if (row.msg !== null) event.msg = row.msg;
  if (row.payload !== null) event.payload = JSON.parse(row.payload);
  return event;
}

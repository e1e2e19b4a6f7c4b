/**
 * An op's output lines gathered into the texts of LOG events, each one the server takes:
 * lines cut to MAX_LINE_LENGTH, at most LOG_BATCH_LINES lines and MAX_EVENT_TEXT_LENGTH
 * characters an event, and a notice of the lines dropped meanwhile and why.
 */
import { cutText, MAX_EVENT_TEXT_LENGTH, MAX_LINE_LENGTH } from './text-limits';

/** Lines of one LOG event at most. */
export const LOG_BATCH_LINES = 100;

/** Why lines were dropped: the queue of unsent events was full, with the server slow or away. */
export type DropCause = 'slow' | 'unreachable';

const DROP_NOTICES: Record<DropCause, string> = {
  slow: 'the server took them slower than the op wrote them',
  unreachable: 'the server could not be reached and the unsent lines filled the queue',
};

export class LogLines {
  private lines: string[] = [];
  /** Characters of `lines` joined into one text. */
  private length = 0;
  /** Texts complete before the batch under way, in order. */
  private readonly full: string[] = [];
  private readonly dropped: Record<DropCause, number> = { slow: 0, unreachable: 0 };

  /** Lines in the batch under way. */
  get size(): number {
    return this.lines.length;
  }

  /** Adds a line, cut to MAX_LINE_LENGTH; the batch before it is complete if it would not fit. */
  add(text: string): void {
    const line = cutText(text, MAX_LINE_LENGTH);
    if (this.lines.length > 0 && this.length + 1 + line.length > MAX_EVENT_TEXT_LENGTH) this.complete();
    this.length += (this.lines.length > 0 ? 1 : 0) + line.length;
    this.lines.push(line);
  }

  /** Counts a line that could not be kept; a notice says how many, and why, at the next `take`. */
  drop(cause: DropCause): void {
    this.dropped[cause] += 1;
  }

  /** The texts of the LOG events to post, in order (notices of dropped lines last); none are left. */
  take(): string[] {
    for (const cause of ['slow', 'unreachable'] as const) {
      if (this.dropped[cause] > 0) this.add(`[gyoza] ${this.dropped[cause]} log lines dropped: ${DROP_NOTICES[cause]}`);
      this.dropped[cause] = 0;
    }
    this.complete();
    return this.full.splice(0);
  }

  /** Forgets every line. */
  clear(): void {
    this.lines = [];
    this.length = 0;
    this.full.length = 0;
  }

  private complete(): void {
    if (this.lines.length === 0) return;
    this.full.push(this.lines.join('\n'));
    this.lines = [];
    this.length = 0;
  }
}

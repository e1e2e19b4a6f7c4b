/**
 * Cutting an op's text to what one event may carry: the server refuses an event whose text
 * is longer than `MAX_EVENT_TEXT_LENGTH` characters, and an op may write a line of any length.
 */
import { MAX_EVENT_TEXT_LENGTH } from '@gyoza/domain';

export { MAX_EVENT_TEXT_LENGTH };

/** Most characters of one output line kept in a LOG event; the rest is cut, with a marker. */
export const MAX_LINE_LENGTH = 16 * 1024;

const marker = (cut: number) => ` [gyoza] … ${cut} characters cut`;

/**
 * `text` if it has at most `max` characters, otherwise its start followed by a marker saying
 * how many characters were cut, `max` characters in all. Never cuts between the two halves of
 * a surrogate pair: the server refuses a string with half of one.
 */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  // The marker of the longest possible cut, so that the result fits whatever is cut.
  let keep = Math.max(0, max - marker(text.length).length);
  const last = text.charCodeAt(keep - 1);
  if (keep > 0 && last >= 0xd800 && last <= 0xdbff) keep -= 1;
  return `${text.slice(0, keep)}${marker(text.length - keep)}`;
}

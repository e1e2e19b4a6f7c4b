/** Formatting shared by the pages: sizes, durations, times. Pure, so they are unit-tested. */

/** 1536 -> "1.5 GB", 512 -> "512 MB". */
export function formatMb(mb: number): string {
  if (Math.abs(mb) < 1024) return `${Math.round(mb)} MB`;
  const gb = mb / 1024;
  return `${gb >= 100 ? Math.round(gb) : Number(gb.toFixed(1))} GB`;
}

/** Seconds between two times as "1h 02m", "3m 05s", "42s". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** "12s ago", "5m ago", "in 30s". */
export function formatAgo(iso: string | undefined, now: Date): string {
  if (!iso) return '—';
  const diff = now.getTime() - new Date(iso).getTime();
  return diff >= 0 ? `${formatDuration(diff)} ago` : `in ${formatDuration(-diff)}`;
}

/** Local date and time to the second, "2026-03-01 10:02:30". */
export function formatTime(iso: string | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Share used of a total, 0..100, for bars; 0 when the total is 0. */
export function percentUsed(used: number, total: number): number {
  if (total <= 0) return 0;
  return Math.min(100, Math.max(0, Math.round((used / total) * 100)));
}

/** A `datetime-local` control's value ("2026-03-01T10:02") as an ISO time, or undefined. */
export function isoFromLocalInput(value: string): string | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** A GPU's label in its worker's card: "GPU 0 · a100 VRAM" (its tags name the model), "GPU 1 VRAM". */
export function gpuLabel(gpu: { id: number; tags?: readonly string[] }): string {
  const tags = gpu.tags?.length ? ` · ${gpu.tags.join(' ')}` : '';
  return `GPU ${gpu.id}${tags} VRAM`;
}

/** 512 -> "512 B", 4_000_000 -> "3.8 MB" (binary units, as `formatMb`). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = unit === 0 || value >= 100 ? Math.round(value) : Number(value.toFixed(1));
  return `${shown} ${units[unit]}`;
}

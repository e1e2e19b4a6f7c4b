import type { RunState } from '@gyoza/client';
import { type ReactNode, useState } from 'react';
import { formatMb, percentUsed } from './lib/format';

export function StateBadge({ state }: { state: RunState | string }) {
  return <span className={`badge state-${state.toLowerCase()}`}>{state}</span>;
}

/** A used/total bar (role meter), with the numbers written beside it. */
export function UsageBar({
  label,
  used,
  total,
  unit,
}: {
  label: string;
  used: number;
  total: number;
  unit: 'mb' | 'cores';
}) {
  const pct = percentUsed(used, total);
  const text = unit === 'mb' ? `${formatMb(used)} / ${formatMb(total)}` : `${Number(used.toFixed(2))} / ${total} cores`;
  return (
    <div className="usage">
      <span className="usage-label">{label}</span>
      {/* biome-ignore lint/a11y/useSemanticElements: a themed bar; <meter> cannot be styled alike across browsers */}
      <div
        className={`bar ${pct >= 90 ? 'hot' : ''}`}
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={total}
        aria-valuenow={used}
        aria-valuetext={text}
      >
        <div className="fill" style={{ width: `${pct}%` }} />
      </div>
      <span className="usage-text">{text}</span>
    </div>
  );
}

export function ProgressBar({ value, label }: { value: number; label: string }) {
  return (
    <div className="progress">
      <div
        className="bar"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={value}
      >
        <div className="fill" style={{ width: `${Math.min(100, Math.max(0, value))}%` }} />
      </div>
      <span>{Math.round(value)}%</span>
    </div>
  );
}

/** What a new user should type next, where a list is empty. */
export function Empty({ title, command, children }: { title: string; command?: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p>
        <strong>{title}</strong>
      </p>
      {children}
      {command && <pre className="command">{command}</pre>}
    </div>
  );
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {(error as Error).message ?? String(error)}
    </p>
  );
}

/** A button that asks once more before acting (inline, so it works with the keyboard). */
export function ConfirmButton({
  label,
  question,
  confirmLabel,
  onConfirm,
  busy,
  danger,
}: {
  label: string;
  question: string;
  confirmLabel: string;
  onConfirm: () => void;
  busy?: boolean;
  danger?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" className={danger ? 'danger' : ''} disabled={busy} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    // biome-ignore lint/a11y/useSemanticElements: an inline question, not a form section
    <span className="confirm" role="group" aria-label={question}>
      <span>{question}</span>
      <button
        type="button"
        className={danger ? 'danger' : ''}
        // biome-ignore lint/a11y/noAutofocus: the question just appeared; focus its answer
        autoFocus
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" className="quiet" onClick={() => setAsking(false)}>
        Keep it
      </button>
    </span>
  );
}

export function Json({ value, label }: { value: unknown; label: string }) {
  const empty = value === undefined || (typeof value === 'object' && value !== null && Object.keys(value).length === 0);
  return (
    <section aria-label={label}>
      <h3>{label}</h3>
      {empty ? <p className="muted">none</p> : <pre className="json">{JSON.stringify(value, null, 2)}</pre>}
    </section>
  );
}

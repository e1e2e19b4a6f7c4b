import type { RunState } from '@gyoza/client';
import { type ReactNode, useEffect, useRef, useState } from 'react';
import { formatMb, percentUsed } from './lib/format';

export function StateBadge({ state }: { state: RunState | string }) {
  return <span className={`badge state-${state.toLowerCase()}`}>{state}</span>;
}

/**
 * A used/total bar (role meter): the label and the numbers on one line, the bar under them, so
 * it fits a narrow card. `name` is the meter's accessible name when the visible label leans on
 * its context ("CPU" in a worker's card).
 */
export function UsageBar({
  label,
  name = label,
  used,
  total,
  unit,
}: {
  label: string;
  name?: string;
  used: number;
  total: number;
  unit: 'mb' | 'cores';
}) {
  const pct = percentUsed(used, total);
  const text = unit === 'mb' ? `${formatMb(used)} / ${formatMb(total)}` : `${Number(used.toFixed(2))} / ${total} cores`;
  return (
    <div className="usage">
      <span className="usage-label" title={label}>
        {label}
      </span>
      <span className="usage-text">{text}</span>
      {/* biome-ignore lint/a11y/useSemanticElements: a themed bar; <meter> cannot be styled alike across browsers */}
      <div
        className={`bar ${pct >= 90 ? 'hot' : ''}`}
        role="meter"
        aria-label={name}
        aria-valuemin={0}
        aria-valuemax={total}
        aria-valuenow={used}
        aria-valuetext={text}
      >
        <div className="fill" style={{ width: `${pct}%` }} />
      </div>
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

/**
 * A button that asks once more before acting, inline so it works with the keyboard: the answer
 * takes the focus, Escape or "Keep it" returns it to the button.
 */
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
  const button = useRef<HTMLButtonElement>(null);
  const refocus = useRef(false);
  useEffect(() => {
    if (!asking && refocus.current) {
      refocus.current = false;
      button.current?.focus();
    }
  }, [asking]);
  const answer = (confirmed: boolean) => {
    refocus.current = true;
    setAsking(false);
    if (confirmed) onConfirm();
  };
  if (!asking) {
    return (
      <button
        ref={button}
        type="button"
        className={danger ? 'danger' : ''}
        disabled={busy}
        onClick={() => setAsking(true)}
      >
        {label}
      </button>
    );
  }
  return (
    // biome-ignore lint/a11y/useSemanticElements: an inline question, not a form section
    <span
      className="confirm"
      role="group"
      aria-label={question}
      onKeyDown={(e) => {
        if (e.key === 'Escape') answer(false);
      }}
    >
      <span>{question}</span>
      <button
        type="button"
        className={danger ? 'danger' : ''}
        // biome-ignore lint/a11y/noAutofocus: the question just appeared; focus its answer
        autoFocus
        onClick={() => answer(true)}
      >
        {confirmLabel}
      </button>
      <button type="button" className="quiet" onClick={() => answer(false)}>
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

import { Component, type ReactNode } from 'react';

interface Props {
  children: ReactNode;
  /** A new value (another page) clears the error shown. */
  resetKey: string;
}

interface State {
  error?: unknown;
  resetKey: string;
}

/**
 * Shows a page that failed to render or to load (a chunk of an older build, after an upgrade)
 * with a reload, instead of React unmounting the whole app and leaving a blank tab.
 */
export class ErrorBoundary extends Component<Props, State> {
  override state: State = { resetKey: this.props.resetKey };

  static getDerivedStateFromError(error: unknown): Partial<State> {
    return { error: error ?? new Error('unknown error') };
  }

  static getDerivedStateFromProps(props: Props, state: State): Partial<State> | null {
    return props.resetKey === state.resetKey ? null : { error: undefined, resetKey: props.resetKey };
  }

  override render() {
    const { error } = this.state;
    if (error === undefined) return this.props.children;
    return (
      <section className="notice bad" role="alert" aria-label="Page error">
        <p>This page could not be shown: {error instanceof Error ? error.message : String(error)}</p>
        <p className="muted">If the dashboard was upgraded since this tab opened, reloading fetches the new version.</p>
        <button type="button" onClick={() => window.location.reload()}>
          Reload
        </button>
      </section>
    );
  }
}

import { type FormEvent, useState } from 'react';
import { checkKey } from '../session';

export function SignIn({ onSignedIn }: { onSignedIn: (key: string) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    const problem = await checkKey(key.trim());
    setBusy(false);
    if (problem) setError(problem);
    else onSignedIn(key.trim());
  }
  return (
    <main className="sign-in">
      <form onSubmit={submit} aria-label="Sign in">
        <h1>gyoza</h1>
        <p className="muted">
          Type the server’s API key. It is kept for this tab only. A local server wrote it to{' '}
          <code>.gyoza/api-key</code>.
        </p>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="current-password"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          required
        />
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy || key.trim() === ''}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

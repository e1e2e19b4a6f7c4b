import { GyozaApiError, GyozaClient } from '@gyoza/client';
import { createContext, type ReactNode, useCallback, useContext, useMemo, useState } from 'react';

/** Where the key is kept: for this tab only, gone when it closes. */
const STORAGE_KEY = 'gyoza.apiKey';

interface Session {
  client: GyozaClient;
  signOut(): void;
}

const SessionContext = createContext<Session | undefined>(undefined);

/** A client for this page's own server (the dashboard is served by it, so no CORS). */
export function clientFor(apiKey: string): GyozaClient {
  return new GyozaClient({ baseUrl: window.location.origin, apiKey, env: {}, retries: 1, timeoutMs: 20_000 });
}

/** Checks a key with a request that needs it; resolves to an error message, or undefined when it works. */
export async function checkKey(apiKey: string): Promise<string | undefined> {
  try {
    await clientFor(apiKey).stats();
    return undefined;
  } catch (error) {
    if (error instanceof GyozaApiError && error.status === 401)
      return 'The server refused this key. Check it and try again.';
    if (error instanceof GyozaApiError && error.status === 429)
      return 'Too many wrong keys: wait a minute and try again.';
    return `Cannot reach the server: ${(error as Error).message}`;
  }
}

export function SessionProvider({
  children,
  signIn,
}: {
  children: ReactNode;
  signIn: (done: (key: string) => void) => ReactNode;
}) {
  const [apiKey, setApiKey] = useState(() => sessionStorage.getItem(STORAGE_KEY) ?? '');
  const signOut = useCallback(() => {
    sessionStorage.removeItem(STORAGE_KEY);
    setApiKey('');
  }, []);
  const session = useMemo(() => (apiKey ? { client: clientFor(apiKey), signOut } : undefined), [apiKey, signOut]);
  if (!session) {
    return signIn((key) => {
      sessionStorage.setItem(STORAGE_KEY, key);
      setApiKey(key);
    });
  }
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionProvider');
  return session;
}

/** A refused key during use (it was changed on the server): back to sign-in. */
export function isAuthError(error: unknown): boolean {
  return error instanceof GyozaApiError && error.status === 401;
}

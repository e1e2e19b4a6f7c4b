import { lazy, Suspense, useEffect } from 'react';
import { NavLink, Route, Routes, useLocation } from 'react-router';
import { ErrorBoundary } from './error-boundary';
import { SignIn } from './pages/sign-in';
import { SessionProvider, useSession } from './session';

// Each page is its own chunk, fetched on first visit (the charts library only with the overview).
const OverviewPage = lazy(() => import('./pages/overview').then((m) => ({ default: m.OverviewPage })));
const RunsPage = lazy(() => import('./pages/runs').then((m) => ({ default: m.RunsPage })));
const RunPage = lazy(() => import('./pages/run').then((m) => ({ default: m.RunPage })));
const WorkersPage = lazy(() => import('./pages/workers').then((m) => ({ default: m.WorkersPage })));
const OpsPage = lazy(() => import('./pages/ops').then((m) => ({ default: m.OpsPage })));

export function App() {
  return (
    <SessionProvider signIn={(done) => <SignIn onSignedIn={done} />}>
      <Shell />
    </SessionProvider>
  );
}

function Shell() {
  const { signOut } = useSession();
  const { pathname } = useLocation();
  useEffect(() => {
    window.addEventListener('gyoza:signed-out', signOut);
    return () => window.removeEventListener('gyoza:signed-out', signOut);
  }, [signOut]);
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">gyoza</span>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Overview
          </NavLink>
          <NavLink to="/runs">Runs</NavLink>
          <NavLink to="/workers">Workers</NavLink>
          <NavLink to="/ops">Ops</NavLink>
        </nav>
        <button type="button" className="quiet" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <ErrorBoundary resetKey={pathname}>
          <Suspense fallback={<p aria-busy="true">Loading…</p>}>
            <Routes>
              <Route path="/" element={<OverviewPage />} />
              <Route path="/runs" element={<RunsPage />} />
              <Route path="/runs/:id" element={<RunPage />} />
              <Route path="/workers" element={<WorkersPage />} />
              <Route path="/ops" element={<OpsPage />} />
              <Route path="/ops/:id" element={<OpsPage />} />
              <Route path="*" element={<p>Nothing here. Pick a page above.</p>} />
            </Routes>
          </Suspense>
        </ErrorBoundary>
      </main>
    </div>
  );
}

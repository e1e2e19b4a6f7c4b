import { useEffect } from 'react';
import { NavLink, Route, Routes } from 'react-router';
import { OpsPage } from './pages/ops';
import { OverviewPage } from './pages/overview';
import { RunPage } from './pages/run';
import { RunsPage } from './pages/runs';
import { SignIn } from './pages/sign-in';
import { WorkersPage } from './pages/workers';
import { SessionProvider, useSession } from './session';

export function App() {
  return (
    <SessionProvider signIn={(done) => <SignIn onSignedIn={done} />}>
      <Shell />
    </SessionProvider>
  );
}

function Shell() {
  const { signOut } = useSession();
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
      <main id="main">
        <Routes>
          <Route path="/" element={<OverviewPage />} />
          <Route path="/runs" element={<RunsPage />} />
          <Route path="/runs/:id" element={<RunPage />} />
          <Route path="/workers" element={<WorkersPage />} />
          <Route path="/ops" element={<OpsPage />} />
          <Route path="/ops/:id" element={<OpsPage />} />
          <Route path="*" element={<p>Nothing here. Pick a page above.</p>} />
        </Routes>
      </main>
    </div>
  );
}

import { QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { App } from './app';
import { isAuthError } from './session';
import './styles.css';

const queryClient = new QueryClient({
  queryCache: new QueryCache({
    onError(error) {
      // The key stopped working (changed on the server): ask for it again.
      if (isAuthError(error)) window.dispatchEvent(new Event('gyoza:signed-out'));
    },
  }),
  defaultOptions: {
    queries: {
      retry: (count, error) => !isAuthError(error) && count < 2,
      refetchOnWindowFocus: true,
    },
  },
});

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <BrowserRouter basename="/ui">
          <App />
        </BrowserRouter>
      </QueryClientProvider>
    </StrictMode>,
  );
}

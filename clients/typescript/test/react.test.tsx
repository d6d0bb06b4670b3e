// @vitest-environment jsdom
// <CacheProvider> and useOpenCodeCache(): the seed's OpenCodeContextType cache members, live
// against the real server, re-rendered when the cache goes away.
import { act, type ReactElement } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createCacheClient,
  type CacheService,
  type CacheStats,
  type RateLimiter,
} from '../src/index.js';
import { CacheProvider, useOpenCodeCache, type OpenCodeCacheContextType } from '../src/react.js';
import { deferred, startServer } from './server.js';

// The seed's declaration (valkey-caching-design.md, "Integration with OpenCodeContext"): the
// provider's value must be usable where the app expects it (checked by tsc, npm run typecheck).
interface SeedOpenCodeContextType {
  cacheService: CacheService | null;
  rateLimiter: RateLimiter | null;
  cacheEnabled: boolean;
  getCachedOrFetch: <T>(key: string, fetcher: () => Promise<T>) => Promise<T>;
  invalidateCache: (pattern: string) => Promise<void>;
  getCacheStats: () => Promise<CacheStats>;
}

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

let root: Root | undefined;
afterEach(() => {
  act(() => root?.unmount());
  root = undefined;
});

// Renders a component that hands each context value it sees to the test.
async function render(element: (child: ReactElement) => ReactElement) {
  const seen: SeedOpenCodeContextType[] = [];
  function Probe() {
    const value: SeedOpenCodeContextType = useOpenCodeCache();
    seen.push(value);
    return <span>{value.cacheEnabled ? 'cache on' : 'cache off'}</span>;
  }
  const container = document.createElement('div');
  root = createRoot(container);
  await act(async () => root?.render(element(<Probe />)));
  return { seen, container, latest: () => seen[seen.length - 1] as SeedOpenCodeContextType };
}

describe('CacheProvider', () => {
  it("gives its children the client's cache, and re-renders them when the cache goes away", async () => {
    const server = await startServer();
    try {
      const client = createCacheClient({ baseUrl: server.url, retryAfterMs: 60000 });
      const { container, latest } = await render((child) => (
        <CacheProvider client={client}>{child}</CacheProvider>
      ));
      expect(container.textContent).toBe('cache on');
      expect(latest().cacheService).toBe(client.cacheService);
      expect(latest().rateLimiter).toBe(client.rateLimiter);
      expect(
        await latest().getCachedOrFetch('react-key', async () => ({ from: 'fetcher' })),
      ).toEqual({ from: 'fetcher' });
      expect(await latest().getCachedOrFetch('react-key', async () => ({ from: 'again' }))).toEqual(
        { from: 'fetcher' },
      );
      await latest().cacheService?.setSession('r1', { tab: 1 });

      await server.stop();
      await act(async () => {
        expect(await latest().getCachedOrFetch('react-key', async () => 'without cache')).toBe(
          'without cache',
        );
      });
      expect(container.textContent).toBe('cache off');
      expect(latest().cacheEnabled).toBe(false);
      expect(latest().cacheService).toBeNull();
      expect(latest().rateLimiter).toBeNull();
    } finally {
      await server.stop();
    }
  });

  it('makes its own client from options, and learns on mount that the server is not there', async () => {
    const server = await startServer();
    const url = server.url;
    await server.stop();
    const asked = deferred();
    const options = {
      baseUrl: url,
      fetch: async (input: string | URL | Request, init?: RequestInit) => {
        try {
          return await fetch(input, init);
        } finally {
          asked.resolve();
        }
      },
    };
    const { container, latest } = await render((child) => (
      <CacheProvider options={options}>{child}</CacheProvider>
    ));
    // Nothing asked for the cache yet: the provider's own health check on mount finds out. Its
    // failure is handled in promise callbacks, all run before the next task.
    await act(async () => {
      await asked.promise;
      await new Promise((resolve) => setTimeout(resolve, 0));
    });
    expect(container.textContent).toBe('cache off');
    expect(latest().cacheService).toBeNull();
  });

  it('is required by useOpenCodeCache()', () => {
    function Orphan() {
      useOpenCodeCache();
      return null;
    }
    const container = document.createElement('div');
    const orphanRoot = createRoot(container);
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => errors.push(args);
    try {
      expect(() => act(() => orphanRoot.render(<Orphan />))).toThrow(
        'useOpenCodeCache() needs a <CacheProvider> above it',
      );
    } finally {
      console.error = original;
      act(() => orphanRoot.unmount());
    }
  });

  it("is typed as the seed's context", () => {
    const value: OpenCodeCacheContextType = {} as SeedOpenCodeContextType;
    const back: SeedOpenCodeContextType = value;
    expect(back).toBe(value);
  });
});

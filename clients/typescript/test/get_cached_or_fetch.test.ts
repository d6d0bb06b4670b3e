// getCachedOrFetch against the real server and Valkey: one fetch across clients (tabs, users),
// the fetcher's failures, and the lease released so that nobody waits for a fetch that failed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCacheClient, type CacheClient } from '../src/index.js';
import { deferred, startServer, type TestServer } from './server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server?.stop());

// A client whose requests the test can watch: each one's method and path (with its query).
function watchedClient(options: { waitMs?: number } = {}) {
  const sent: string[] = [];
  const listeners = new Set<(request: string) => void>();
  const client = createCacheClient({
    baseUrl: server.url,
    ...options,
    fetch: (input, init) => {
      const url = new URL(String(input));
      const request = `${init?.method ?? 'GET'} ${url.pathname}${url.search}`;
      sent.push(request);
      for (const listener of listeners) listener(request);
      return fetch(input, init);
    },
  });
  // Resolves when a request matching `pattern` has been sent.
  const sending = (pattern: RegExp) =>
    new Promise<void>((resolve) => {
      if (sent.some((request) => pattern.test(request))) return resolve();
      const listener = (request: string) => {
        if (!pattern.test(request)) return;
        listeners.delete(listener);
        resolve();
      };
      listeners.add(listener);
    });
  return { client, sent, sending };
}

describe('getCachedOrFetch', () => {
  it('fetches a missing value once, then every client reads it from the cache', async () => {
    const first = createCacheClient({ baseUrl: server.url });
    let fetches = 0;
    const fetcher = async () => {
      fetches += 1;
      return { models: ['gpt-4.1', 'claude'], n: fetches };
    };
    expect(await first.getCachedOrFetch('models', fetcher, { ttl: 60 })).toEqual({
      models: ['gpt-4.1', 'claude'],
      n: 1,
    });
    const second = createCacheClient({ baseUrl: server.url });
    expect(await second.getCachedOrFetch('models', fetcher)).toEqual({
      models: ['gpt-4.1', 'claude'],
      n: 1,
    });
    expect(fetches).toBe(1);
    expect(first.cacheEnabled).toBe(true);
    expect(second.cacheEnabled).toBe(true);
  });

  it("makes one fetch for two clients asking at once: the second waits for the first one's value", async () => {
    const a = watchedClient();
    const b = watchedClient();
    const fetchStarted = deferred();
    const fetchMayEnd = deferred<string>();
    let fetches = 0;
    const fetcher = async () => {
      fetches += 1;
      fetchStarted.resolve();
      return fetchMayEnd.promise;
    };
    const first = a.client.getCachedOrFetch('shared', fetcher);
    await fetchStarted.promise;
    // a holds the lease now; b finds none granted and waits for a's value.
    const second = b.client.getCachedOrFetch('shared', fetcher);
    await b.sending(/^GET \/api\/cache\/shared\?wait=/);
    fetchMayEnd.resolve('fetched once');
    expect(await Promise.all([first, second])).toEqual(['fetched once', 'fetched once']);
    expect(fetches).toBe(1);
    expect(b.sent).toEqual([
      'GET /api/cache/shared',
      'POST /api/cache/shared/lease',
      'GET /api/cache/shared?wait=10000',
    ]);
  });

  it('shares one attempt between callers in the same page', async () => {
    const { client, sent } = watchedClient();
    const fetchMayEnd = deferred<number>();
    let fetches = 0;
    const fetcher = () => {
      fetches += 1;
      return fetchMayEnd.promise;
    };
    const both = Promise.all([
      client.getCachedOrFetch('page', fetcher),
      client.getCachedOrFetch('page', fetcher),
    ]);
    fetchMayEnd.resolve(7);
    expect(await both).toEqual([7, 7]);
    expect(fetches).toBe(1);
    expect(sent.filter((request) => request.startsWith('POST'))).toHaveLength(1);
  });

  it("throws the fetcher's error and releases the lease, so a waiting client fetches at once", async () => {
    const a = watchedClient();
    // Far longer than the test may take: b must not wait it out.
    const b = watchedClient({ waitMs: 30000 });
    const fetchStarted = deferred();
    const fetchFails = deferred<string>();
    const first = a.client.getCachedOrFetch('failing', async () => {
      fetchStarted.resolve();
      return fetchFails.promise;
    });
    await fetchStarted.promise;
    const second = b.client.getCachedOrFetch('failing', async () => 'fetched by b');
    await b.sending(/wait=/);
    fetchFails.reject(new Error('provider said no'));
    await expect(first).rejects.toThrow('provider said no');
    expect(await second).toBe('fetched by b');
    expect(a.sent).toContain('DELETE /api/cache/failing/lease');
    expect(a.client.cacheEnabled).toBe(true);
    // b stored what it fetched.
    expect(
      await createCacheClient({ baseUrl: server.url }).getCachedOrFetch(
        'failing',
        async () => 'again',
      ),
    ).toBe('fetched by b');
  });

  it('keys are one path segment, whatever they contain', async () => {
    const client: CacheClient = createCacheClient({ baseUrl: server.url });
    const key = 'user/42?tab=models#x y';
    expect(await client.getCachedOrFetch(key, async () => 'odd key')).toBe('odd key');
    expect(await client.getCachedOrFetch(key, async () => 'fetched again')).toBe('odd key');
  });

  it('returns a value JSON cannot hold without storing it', async () => {
    const client = createCacheClient({ baseUrl: server.url });
    expect(await client.getCachedOrFetch('nothing', async () => undefined)).toBeUndefined();
    expect(await client.getCachedOrFetch('nothing', async () => 'now stored')).toBe('now stored');
  });

  it('rejects bad arguments with a clear error', async () => {
    const client = createCacheClient({ baseUrl: server.url });
    await expect(client.getCachedOrFetch('', async () => 1)).rejects.toThrow(
      'key must be a non-empty string',
    );
    await expect(client.getCachedOrFetch('k', async () => 1, { ttl: 1.5 })).rejects.toThrow(
      'ttl must be a positive whole number of seconds',
    );
    await expect(client.getCachedOrFetch('k', 'nope' as never)).rejects.toThrow(
      'fetcher must be a function',
    );
    expect(() => createCacheClient({ baseUrl: 'localhost:3000' })).toThrow(
      'baseUrl must be an http(s) URL',
    );
  });
});

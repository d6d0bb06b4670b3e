// With the server or its Valkey gone, getCachedOrFetch still answers (from the fetcher),
// cacheEnabled turns false and listeners hear of it; nothing the cache did is thrown.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CacheError, createCacheClient } from '../src/index.js';
import { startServer } from './server.js';

function observed(baseUrl: string, extra: { apiKey?: string } = {}) {
  const errors: CacheError[] = [];
  const changes: boolean[] = [];
  const client = createCacheClient({
    baseUrl,
    retryAfterMs: 60000,
    onError: (error) => errors.push(error),
    ...extra,
  });
  client.subscribe((enabled) => changes.push(enabled));
  return { client, errors, changes };
}

describe('fail-soft', () => {
  it('calls the fetcher when the server is stopped', async () => {
    const server = await startServer();
    const { client, errors, changes } = observed(server.url);
    expect(await client.getCachedOrFetch('k', async () => 'cached')).toBe('cached');
    await server.stop();

    let fetches = 0;
    const fetcher = async () => `fetched ${++fetches}`;
    expect(await client.getCachedOrFetch('k', fetcher)).toBe('fetched 1');
    expect(client.cacheEnabled).toBe(false);
    expect(changes).toEqual([false]);
    expect(errors.map((error) => [error.status, error.code])).toEqual([[0, 'unreachable']]);
    // Within retryAfterMs the cache is not even asked.
    expect(await client.getCachedOrFetch('k', fetcher)).toBe('fetched 2');
    expect(errors).toHaveLength(1);
    expect(await client.checkHealth()).toBe(false);
  });

  it('calls the fetcher when Valkey is stopped, and uses the cache again once it answers', async () => {
    const server = await startServer();
    const errors: CacheError[] = [];
    const client = createCacheClient({
      baseUrl: server.url,
      retryAfterMs: 0,
      onError: (error) => errors.push(error),
    });
    await server.stopValkey();
    expect(await client.getCachedOrFetch('v', async () => 'without valkey')).toBe('without valkey');
    expect(client.cacheEnabled).toBe(false);
    expect(errors[0]).toBeInstanceOf(CacheError);
    expect(errors[0]?.status).toBe(503);
    expect(errors[0]?.code).toBe('cache_unavailable');
    expect(errors[0]?.unavailable).toBe(true);

    await server.restartValkey();
    // The gateway reconnects with backoff (up to 3 s); asked every 20 ms, for at most 10 s.
    const giveUp = Date.now() + 10000;
    while (!(await client.checkHealth()) && Date.now() < giveUp)
      await new Promise((r) => setTimeout(r, 20));
    expect(client.cacheEnabled).toBe(true);
    expect(await client.getCachedOrFetch('v', async () => 'with valkey')).toBe('with valkey');
    expect(await client.getCachedOrFetch('v', async () => 'not called')).toBe('with valkey');
    await server.stop();
  });

  it('reports a refused gateway key as cacheEnabled false, and works with the right key', async () => {
    const key = 'right-key';
    // The server keeps only the key's SHA-256.
    const server = await startServer({
      OPENCODE_CACHE_API_KEYS: `${createHash('sha256').update(key).digest('hex')}=ada`,
    });
    try {
      const stranger = observed(server.url, { apiKey: 'wrong-key' });
      expect(await stranger.client.getCachedOrFetch('k', async () => 'fetched')).toBe('fetched');
      expect(stranger.client.cacheEnabled).toBe(false);
      expect(stranger.errors.map((error) => [error.status, error.code])).toEqual([
        [401, 'invalid_api_key'],
      ]);

      const ada = observed(server.url, { apiKey: key });
      expect(await ada.client.getCachedOrFetch('k', async () => 'stored')).toBe('stored');
      expect(await ada.client.getCachedOrFetch('k', async () => 'not called')).toBe('stored');
      expect(ada.client.cacheEnabled).toBe(true);
      expect(ada.errors).toEqual([]);
    } finally {
      await server.stop();
    }
  });

  it('rejects the explicit calls with a CacheError when the server is gone', async () => {
    const server = await startServer();
    const client = createCacheClient({ baseUrl: server.url });
    await server.stop();
    const failure = client.cacheService.getSession('s1');
    await expect(failure).rejects.toBeInstanceOf(CacheError);
    await expect(failure).rejects.toMatchObject({ status: 0, code: 'unreachable' });
    expect(client.cacheEnabled).toBe(false);
  });
});

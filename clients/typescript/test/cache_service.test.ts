// The seed's CacheService and RateLimiter members, invalidation and stats, over the real server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheError, createCacheClient, type CacheClient } from '../src/index.js';
import { adminToken, startServer, type TestServer } from './server.js';

let server: TestServer;
let client: CacheClient;
let admin: CacheClient;
beforeAll(async () => {
  server = await startServer();
  client = createCacheClient({ baseUrl: server.url });
  admin = createCacheClient({ baseUrl: server.url, adminToken });
});
afterAll(() => server?.stop());

describe('sessions', () => {
  it('are set, merged, read and deleted', async () => {
    await client.cacheService.setSession('s1', { user: 'ada', theme: 'dark' });
    expect(await client.cacheService.updateSession('s1', { theme: 'light' })).toBe(true);
    expect(await client.cacheService.getSession('s1')).toEqual({ user: 'ada', theme: 'light' });
    await client.cacheService.deleteSession('s1');
    expect(await client.cacheService.getSession('s1')).toBeNull();
  });

  it('a missing one reads as null and is not created by a merge', async () => {
    expect(await client.cacheService.updateSession('nobody', { theme: 'light' })).toBe(false);
    expect(await client.cacheService.getSession('nobody')).toBeNull();
  });

  it('must be objects', async () => {
    const failure = client.cacheService.setSession('s2', [1, 2] as never);
    await expect(failure).rejects.toBeInstanceOf(CacheError);
    await expect(failure).rejects.toMatchObject({ status: 400, code: 'invalid_session' });
    expect(client.cacheEnabled).toBe(true);
  });
});

describe('context and metadata', () => {
  it('hold any JSON value, with a TTL of their own', async () => {
    const history = [{ role: 'user', content: 'hi' }];
    await client.cacheService.cacheContext('conv-1', history, { ttl: 600 });
    expect(await client.cacheService.getCachedContext('conv-1')).toEqual(history);
    await client.cacheService.setMetadata('models', ['gpt-4.1']);
    expect(await client.cacheService.getMetadata('models')).toEqual(['gpt-4.1']);
    await client.cacheService.deleteContext('conv-1');
    await client.cacheService.deleteMetadata('models');
    expect(await client.cacheService.getCachedContext('conv-1')).toBeNull();
    expect(await client.cacheService.getMetadata('models')).toBeNull();
  });

  it('refuse a TTL that is not whole seconds', async () => {
    await expect(client.cacheService.cacheContext('c', 1, { ttl: 0 })).rejects.toThrow(TypeError);
  });
});

describe('invalidation', () => {
  it('removes by pattern, namespace and id, and says how many keys went', async () => {
    await client.cacheService.cacheContext('a', 1);
    await client.cacheService.cacheContext('b', 2);
    await client.cacheService.setSession('s3', { user: 'ada' });
    expect(await admin.invalidateCache('context:*')).toBe(2);
    expect(await client.cacheService.getCachedContext('a')).toBeNull();
    expect(await admin.cacheService.invalidate('session', 's3')).toBe(1);
    expect(await admin.cacheService.invalidate('session', 's3')).toBe(0);
  });

  it('needs the admin token, without turning the cache off', async () => {
    await expect(client.invalidateCache('context:*')).rejects.toMatchObject({
      status: 401,
      code: 'missing_admin_token',
    });
    const wrong = createCacheClient({
      baseUrl: server.url,
      adminToken: 'not-the-admin-token-at-all',
    });
    await expect(wrong.getCacheStats()).rejects.toMatchObject({
      status: 403,
      code: 'invalid_admin_token',
    });
    expect(client.cacheEnabled).toBe(true);
    expect(wrong.cacheEnabled).toBe(true);
  });

  it('names an unknown namespace', async () => {
    await expect(admin.cacheService.invalidate('sesion' as never, 'x')).rejects.toMatchObject({
      status: 400,
      code: 'unknown_namespace',
    });
  });
});

describe('stats', () => {
  it('count keys per namespace and carry Valkey figures', async () => {
    await client.getCachedOrFetch('stats-key', async () => 'v');
    await client.cacheService.setMetadata('m', 1);
    const stats = await admin.getCacheStats();
    expect(stats.keys.fetch).toBeGreaterThanOrEqual(1);
    expect(stats.namespaces.metadata?.keys).toBe(1);
    expect(stats.total.keys).toBe(Object.values(stats.keys).reduce((sum, n) => sum + n, 0));
    expect(stats.valkey.usedMemory).toBeGreaterThan(0);
    expect(stats.valkey.connectedClients).toBeGreaterThan(0);
    expect(stats.total.hitRatio).toBeGreaterThanOrEqual(0);
    expect(stats.total.hitRatio).toBeLessThanOrEqual(1);
  });
});

describe('rateLimiter.peek', () => {
  it('tells the limit without consuming it', async () => {
    const first = await client.rateLimiter.peek('user', 'local');
    const second = await client.rateLimiter.peek('user', 'local');
    expect(first).toMatchObject({
      type: 'user',
      id: 'local',
      allowed: true,
      limit: 60,
      remaining: 60,
      windowMs: 60000,
      degraded: false,
    });
    expect(second.remaining).toBe(60);
    expect(first.resetAt).toBeGreaterThan(Date.now() - 60000);
  });

  it('names an unknown type', async () => {
    await expect(client.rateLimiter.peek('usr', 'local')).rejects.toMatchObject({
      status: 404,
      code: 'unknown_type',
    });
  });
});

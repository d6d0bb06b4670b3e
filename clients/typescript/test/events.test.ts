// onInvalidate and onEvent over GET /api/events, against the real server and Valkey: an
// invalidation by one client reaches another's handler, and a stream cut off resumes with
// Last-Event-ID and gets what it missed, in order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCacheClient, type CacheEvent, type CacheClient } from '../src/index.js';
import { adminToken, deferred, startServer, type TestServer } from './server.js';

let server: TestServer;
let a: CacheClient;
beforeAll(async () => {
  server = await startServer();
  a = createCacheClient({ baseUrl: server.url, adminToken });
});
afterAll(() => server?.stop());

// Resolves once `client`'s stream is live; the events seen go to `seen`.
function listen(client: CacheClient, seen: CacheEvent[]) {
  const ready = deferred();
  const stop = client.onEvent((event) => {
    if (event.type === 'ready') ready.resolve();
    else seen.push(event);
  });
  return { ready: ready.promise, stop };
}

// Values as they come; `reached(n)` resolves once n have come, `done` once `count` have.
function collect<T>(count: number) {
  const values: T[] = [];
  const waiting: { n: number; resolve: (values: T[]) => void }[] = [];
  const reached = (n: number) =>
    new Promise<T[]>((resolve) => {
      if (values.length >= n) resolve(values);
      else waiting.push({ n, resolve });
    });
  return {
    values,
    add(value: T) {
      values.push(value);
      for (const waiter of waiting.filter((w) => values.length >= w.n)) waiter.resolve(values);
    },
    reached,
    get done() {
      return reached(count);
    },
  };
}

describe('onInvalidate', () => {
  it('hears of an invalidation made by another client', async () => {
    const b = createCacheClient({ baseUrl: server.url });
    const heard = collect<unknown>(2);
    const live = listen(b, []);
    const stop = b.onInvalidate((event) => heard.add(event));
    await live.ready;
    await a.cacheService.cacheContext('conv-1', ['hi']);
    expect(await a.cacheService.invalidate('context', 'conv-1')).toBe(1);
    await a.invalidateCache('metadata:*');
    const [one, two] = await heard.done;
    expect(one).toMatchObject({
      type: 'invalidate',
      namespace: 'context',
      id: 'conv-1',
      deleted: 1,
    });
    expect(two).toMatchObject({ type: 'invalidate', pattern: 'metadata:*', deleted: 0 });
    expect((one as { eventId: string }).eventId).toMatch(/^\d+-\d+$/);
    stop();
    live.stop();
  });

  it('gets session changes through onEvent, not onInvalidate', async () => {
    const b = createCacheClient({ baseUrl: server.url });
    const events = collect<CacheEvent>(2);
    const invalidations: unknown[] = [];
    const ready = deferred();
    const stopEvents = b.onEvent((event) => {
      if (event.type === 'ready') ready.resolve();
      else events.add(event);
    });
    const stopInvalidate = b.onInvalidate((event) => invalidations.push(event));
    await ready.promise;
    await a.cacheService.setSession('s1', { theme: 'dark' });
    await a.cacheService.deleteSession('s1');
    expect(await events.done).toMatchObject([
      { type: 'session', action: 'put', id: 's1' },
      { type: 'session', action: 'delete', id: 's1' },
    ]);
    expect(invalidations).toEqual([]);
    stopEvents();
    stopInvalidate();
  });

  it('reconnects after a cut with Last-Event-ID and gets what it missed, in order', async () => {
    // A fetch whose first stream the test can cut, and whose reconnect waits for the test.
    const cut = new AbortController();
    const reconnect = deferred();
    const sent: Headers[] = [];
    const cutting: typeof fetch = async (input, init) => {
      sent.push(new Headers(init?.headers));
      if (sent.length === 1) {
        const signal = AbortSignal.any([cut.signal, ...(init?.signal ? [init.signal] : [])]);
        return fetch(input, { ...init, signal });
      }
      if (sent.length === 2) await reconnect.promise;
      return fetch(input, init);
    };
    const b = createCacheClient({ baseUrl: server.url, fetch: cutting, eventsRetryMs: 10 });
    const heard = collect<{ id?: string; eventId: string }>(3);
    const readies = collect<unknown>(2);
    const stopReady = b.onEvent((event) => {
      if (event.type === 'ready') readies.add(event);
    });
    const stop = b.onInvalidate((event) => heard.add(event as { id?: string; eventId: string }));
    await readies.reached(1);
    await a.cacheService.invalidate('context', 'before-cut');
    await heard.reached(1);
    cut.abort();
    await a.cacheService.invalidate('context', 'missed-1');
    await a.cacheService.invalidate('context', 'missed-2');
    reconnect.resolve();
    const events = await heard.done;
    expect(events.map((event) => event.id)).toEqual(['before-cut', 'missed-1', 'missed-2']);
    expect(sent[1]?.get('last-event-id')).toBe(events[0]?.eventId);
    expect(await readies.done).toMatchObject([{ resumed: false }, { resumed: true }]);
    stop();
    stopReady();
  });
});

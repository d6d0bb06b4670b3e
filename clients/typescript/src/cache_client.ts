// createCacheClient: the seed's OpenCodeContext cache members over opencode-cache-server's /api
// (docs/app-api.md). getCachedOrFetch follows the server's lease protocol, so one fetch serves
// every tab, user and C++ process asking for the same key at once, and it fails soft: with the
// server or Valkey down the fetcher is called, cacheEnabled turns false, and nothing is thrown
// that the fetcher did not throw.
import { CacheError } from './cache_error.js';
import { decodeEvent, decodeRateLimit, decodeStats } from './decode.js';
import { EventStream } from './event_stream.js';
import { Transport } from './transport.js';
import type {
  CacheEvent,
  CacheNamespace,
  CacheStats,
  InvalidateEvent,
  RateLimitResult,
  ResetEvent,
  TtlOptions,
} from './types.js';

export interface CacheClientOptions {
  /** The server, e.g. `http://127.0.0.1:3000` (its /api routes are used). */
  baseUrl: string;
  /** A gateway key (sent as X-OpenCode-Cache-Key); none when the server has no keys configured. */
  apiKey?: string;
  /** OPENCODE_CACHE_ADMIN_TOKEN, for invalidation and stats. */
  adminToken?: string;
  /** Deadline of one request, in ms (default 5000). */
  timeoutMs?: number;
  /** How long to wait for a value another caller is fetching, in ms (default 10000, the lease's life). */
  waitMs?: number;
  /** After the cache failed, getCachedOrFetch goes straight to the fetcher this long, in ms (default 5000). */
  retryAfterMs?: number;
  fetch?: typeof fetch;
  /** First delay before reopening the event stream after it failed, in ms (default 1000; doubled up to 30 s). */
  eventsRetryMs?: number;
  /** Failures getCachedOrFetch absorbed (it never throws them), and those of the event stream. */
  onError?: (error: CacheError) => void;
}

/** The seed's CacheService, over HTTP. Its methods reject with a CacheError when they fail. */
export interface CacheService {
  getSession(sessionId: string): Promise<Record<string, unknown> | null>;
  setSession(sessionId: string, data: Record<string, unknown>): Promise<void>;
  /** An atomic merge; false when there is no such session (the seed's does nothing then). */
  updateSession(sessionId: string, updates: Record<string, unknown>): Promise<boolean>;
  deleteSession(sessionId: string): Promise<void>;
  cacheContext(conversationId: string, context: unknown, options?: TtlOptions): Promise<void>;
  getCachedContext(conversationId: string): Promise<unknown | null>;
  deleteContext(conversationId: string): Promise<void>;
  setMetadata(id: string, value: unknown, options?: TtlOptions): Promise<void>;
  getMetadata(id: string): Promise<unknown | null>;
  deleteMetadata(id: string): Promise<void>;
  /** Needs the admin token. The number of keys removed (0 or 1). */
  invalidate(namespace: CacheNamespace, identifier: string): Promise<number>;
  /** Needs the admin token. A glob below the key prefix (`context:*`); the number of keys removed. */
  invalidatePattern(pattern: string): Promise<number>;
}

/** The seed's RateLimiter as the server offers it to the app: a look that counts nothing. */
export interface RateLimiter {
  peek(type: string, identifier: string): Promise<RateLimitResult>;
}

export interface CacheClient {
  /** False since a request found the server or Valkey unreachable, until one succeeds again. */
  readonly cacheEnabled: boolean;
  readonly cacheService: CacheService;
  readonly rateLimiter: RateLimiter;
  /** The cached value of `key`, or the fetcher's (stored for `ttl` s). Throws only what the fetcher throws. */
  getCachedOrFetch<T>(key: string, fetcher: () => Promise<T>, options?: TtlOptions): Promise<T>;
  /** Needs the admin token. `pattern` is below the key prefix, as in the seed (`context:*`). */
  invalidateCache(pattern: string): Promise<number>;
  /** Needs the admin token. */
  getCacheStats(): Promise<CacheStats>;
  /** Asks the server whether its Valkey answers; updates cacheEnabled. Never throws. */
  checkHealth(): Promise<boolean>;
  /** Called with cacheEnabled whenever it changes; returns the unsubscribe function. */
  subscribe(listener: (cacheEnabled: boolean) => void): () => void;
  /**
   * Called for every invalidation made anywhere (any tab, user, gateway), and with a `reset`
   * when some may have been missed (then treat everything as invalidated). Opens the event
   * stream (`GET /api/events`, one per client, reopened with Last-Event-ID after a failure) and
   * closes it when the last handler is removed. Returns the function that removes the handler.
   */
  onInvalidate(handler: (event: InvalidateEvent | ResetEvent) => void): () => void;
  /** Every event of the stream: invalidations, session changes, breaker changes, reset, ready. */
  onEvent(handler: (event: CacheEvent) => void): () => void;
}

// A failed cache step inside getCachedOrFetch: carry on without the cache.
const skipped = Symbol('skipped');
type Soft<T> = T | typeof skipped;

// A key nobody stores: reading it asks Valkey and finds nothing.
const healthKey = 'opencode-cache-client:health';

export function createCacheClient(options: CacheClientOptions): CacheClient {
  if (typeof options?.baseUrl !== 'string' || !/^https?:\/\//.test(options.baseUrl)) {
    throw new TypeError(
      `createCacheClient: baseUrl must be an http(s) URL, not ${String(options?.baseUrl)}`,
    );
  }
  const transport = new Transport({
    baseUrl: options.baseUrl,
    apiKey: options.apiKey,
    adminToken: options.adminToken,
    timeoutMs: options.timeoutMs ?? 5000,
    fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
  });
  const waitMs = options.waitMs ?? 10000;
  const retryAfterMs = options.retryAfterMs ?? 5000;
  const listeners = new Set<(cacheEnabled: boolean) => void>();
  const inFlight = new Map<string, Promise<unknown>>();
  let enabled = true;
  let retryAt = 0;

  const setEnabled = (value: boolean) => {
    if (!value) retryAt = Date.now() + retryAfterMs;
    if (value === enabled) return;
    enabled = value;
    for (const listener of [...listeners]) listener(value);
  };

  // Every request through here: its outcome says whether the cache is usable.
  const send = async (call: Parameters<Transport['send']>[0]) => {
    try {
      const answer = await transport.send(call);
      setEnabled(true);
      return answer;
    } catch (error) {
      // A refused gateway key makes the cache as unusable as a dead server.
      if (
        error instanceof CacheError &&
        (error.unavailable || (error.status === 401 && !call.admin))
      ) {
        setEnabled(false);
      }
      throw error;
    }
  };

  // One event stream for every handler of this client, open while there are handlers.
  const handlers = new Set<(event: CacheEvent) => void>();
  let stream: EventStream | undefined;
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const dispatch = (type: string, id: string, data: string) => {
    const event = decodeEvent(type, id, data);
    if (!event) return;
    for (const handler of [...handlers]) {
      try {
        handler(event);
      } catch (error) {
        options.onError?.(
          new CacheError(`an event handler threw: ${String(error)}`, 0, 'handler_error', {
            cause: error,
          }),
        );
      }
    }
  };
  const addHandler = (handler: (event: CacheEvent) => void) => {
    handlers.add(handler);
    if (!stream) {
      stream = new EventStream({
        url: `${baseUrl}/api/events`,
        headers: options.apiKey !== undefined ? { 'x-opencode-cache-key': options.apiKey } : {},
        fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
        retryMs: options.eventsRetryMs ?? 1000,
        onEvent: (event) => dispatch(event.type, event.id, event.data),
        onError: (error) => options.onError?.(error),
      });
      stream.start();
    }
    return () => {
      handlers.delete(handler);
      if (handlers.size === 0 && stream) {
        stream.stop();
        stream = undefined;
      }
    };
  };

  const soft = async <T>(step: () => Promise<T>): Promise<Soft<T>> => {
    try {
      return await step();
    } catch (error) {
      options.onError?.(
        error instanceof CacheError ? error : new CacheError(String(error), 0, 'client_error'),
      );
      return skipped;
    }
  };

  const segment = (name: string, value: string) => {
    if (typeof value !== 'string' || value === '') {
      throw new TypeError(`${name} must be a non-empty string`);
    }
    return encodeURIComponent(value);
  };

  const read = async (key: string, wait?: number) => {
    const answer = await send({
      method: 'GET',
      path: `cache/${segment('key', key)}`,
      query: { wait },
      holdMs: wait ?? 0,
    });
    return answer.status === 200
      ? { found: true as const, value: answer.value }
      : { found: false as const };
  };

  const store = async (key: string, value: unknown, ttl: number | undefined, lease?: string) => {
    await send({
      method: 'PUT',
      path: `cache/${segment('key', key)}`,
      query: { ttl },
      body: value,
      ...(lease !== undefined ? { headers: { 'x-cache-lease': lease } } : {}),
    });
  };

  const lease = async (key: string) => {
    const answer = await send({ method: 'POST', path: `cache/${segment('key', key)}/lease` });
    const granted = answer.value as { granted?: unknown; lease?: unknown } | undefined;
    return granted?.granted === true && typeof granted.lease === 'string' ? granted.lease : null;
  };

  const release = async (key: string, token: string) => {
    await send({
      method: 'DELETE',
      path: `cache/${segment('key', key)}/lease`,
      headers: { 'x-cache-lease': token },
    });
  };

  // JSON has no undefined: such a value is returned but never stored.
  const storable = (value: unknown) => value !== undefined;

  const viaCache = async <T>(
    key: string,
    fetcher: () => Promise<T>,
    ttl: number | undefined,
  ): Promise<T> => {
    const hit = await soft(() => read(key));
    if (hit === skipped) return fetcher();
    if (hit.found) return hit.value as T;
    const token = await soft(() => lease(key));
    if (token === skipped) return fetcher();
    if (token !== null) {
      let value: T;
      try {
        value = await fetcher();
      } catch (error) {
        // Waiters elsewhere stop waiting and fetch themselves instead of waiting out the lease.
        await soft(() => release(key, token));
        throw error;
      }
      await soft(() => (storable(value) ? store(key, value, ttl, token) : release(key, token)));
      return value;
    }
    // Someone else is fetching: their value, unless they give up or take too long.
    const waited = await soft(() => read(key, waitMs));
    if (waited !== skipped && waited.found) return waited.value as T;
    const value = await fetcher();
    if (waited !== skipped && storable(value)) await soft(() => store(key, value, ttl));
    return value;
  };

  const checkTtl = (ttl: number | undefined) => {
    if (ttl !== undefined && !(Number.isInteger(ttl) && ttl > 0)) {
      throw new TypeError(`ttl must be a positive whole number of seconds, not ${ttl}`);
    }
  };

  const client: CacheClient = {
    get cacheEnabled() {
      return enabled;
    },

    async getCachedOrFetch<T>(
      key: string,
      fetcher: () => Promise<T>,
      fetchOptions: TtlOptions = {},
    ): Promise<T> {
      if (typeof fetcher !== 'function')
        throw new TypeError('getCachedOrFetch: fetcher must be a function');
      segment('key', key);
      checkTtl(fetchOptions.ttl);
      if (!enabled && Date.now() < retryAt) return fetcher();
      // Callers in this page asking at once share one attempt.
      const running = inFlight.get(key);
      if (running) return running as Promise<T>;
      const attempt = viaCache(key, fetcher, fetchOptions.ttl).finally(() => inFlight.delete(key));
      inFlight.set(key, attempt);
      return attempt;
    },

    async invalidateCache(pattern: string) {
      return client.cacheService.invalidatePattern(pattern);
    },

    async getCacheStats() {
      const answer = await send({ method: 'GET', path: 'cache/stats', admin: true });
      return decodeStats(answer.value);
    },

    async checkHealth() {
      try {
        await send({ method: 'GET', path: `cache/${encodeURIComponent(healthKey)}` });
        return true;
      } catch {
        return false;
      }
    },

    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    onInvalidate(handler) {
      return addHandler((event) => {
        if (event.type === 'invalidate' || event.type === 'reset') handler(event);
      });
    },

    onEvent(handler) {
      return addHandler(handler);
    },

    cacheService: {
      async getSession(sessionId) {
        const answer = await send({
          method: 'GET',
          path: `sessions/${segment('sessionId', sessionId)}`,
        });
        return answer.status === 200 ? (answer.value as Record<string, unknown>) : null;
      },
      async setSession(sessionId, data) {
        await send({
          method: 'PUT',
          path: `sessions/${segment('sessionId', sessionId)}`,
          body: data,
        });
      },
      async updateSession(sessionId, updates) {
        const answer = await send({
          method: 'PATCH',
          path: `sessions/${segment('sessionId', sessionId)}`,
          body: updates,
        });
        return answer.status !== 404;
      },
      async deleteSession(sessionId) {
        await send({ method: 'DELETE', path: `sessions/${segment('sessionId', sessionId)}` });
      },
      async cacheContext(conversationId, context, ttl = {}) {
        checkTtl(ttl.ttl);
        await send({
          method: 'PUT',
          path: `context/${segment('conversationId', conversationId)}`,
          query: { ttl: ttl.ttl },
          body: context,
        });
      },
      async getCachedContext(conversationId) {
        const answer = await send({
          method: 'GET',
          path: `context/${segment('conversationId', conversationId)}`,
        });
        return answer.status === 200 ? answer.value : null;
      },
      async deleteContext(conversationId) {
        await send({
          method: 'DELETE',
          path: `context/${segment('conversationId', conversationId)}`,
        });
      },
      async setMetadata(id, value, ttl = {}) {
        checkTtl(ttl.ttl);
        await send({
          method: 'PUT',
          path: `metadata/${segment('id', id)}`,
          query: { ttl: ttl.ttl },
          body: value,
        });
      },
      async getMetadata(id) {
        const answer = await send({ method: 'GET', path: `metadata/${segment('id', id)}` });
        return answer.status === 200 ? answer.value : null;
      },
      async deleteMetadata(id) {
        await send({ method: 'DELETE', path: `metadata/${segment('id', id)}` });
      },
      async invalidate(namespace, identifier) {
        const answer = await send({
          method: 'POST',
          path: 'cache/invalidate',
          admin: true,
          body: { namespace, id: identifier },
        });
        return (answer.value as { deleted: number }).deleted;
      },
      async invalidatePattern(pattern) {
        const answer = await send({
          method: 'POST',
          path: 'cache/invalidate',
          admin: true,
          body: { pattern },
        });
        return (answer.value as { deleted: number }).deleted;
      },
    },

    rateLimiter: {
      async peek(type, identifier) {
        const answer = await send({
          method: 'GET',
          path: `ratelimit/${segment('type', type)}/${segment('identifier', identifier)}`,
        });
        return decodeRateLimit(answer.value);
      },
    },
  };
  return client;
}

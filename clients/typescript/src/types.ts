// The shapes /api answers with (docs/app-api.md), as the client hands them to callers.

/** The library's figures for one namespace (or all of them, in `CacheStats.total`). */
export interface NamespaceStats {
  hits: number;
  misses: number;
  /** hits / (hits + misses); 0 before any read. */
  hitRatio: number;
  errors: number;
  staleServed: number;
  coalesced: number;
  fetches: number;
  writes: number;
  writesDropped: number;
  invalid: number;
  /** Keys stored in the namespace, counted by SCAN when the stats were asked for. */
  keys: number;
  latency: { count: number; p50Us: number; p90Us: number; p99Us: number };
}

/** What `GET /api/cache/stats` reports: per namespace, in total, and Valkey's own figures. */
export interface CacheStats {
  namespaces: Record<string, NamespaceStats>;
  total: NamespaceStats;
  keys: Record<string, number>;
  valkey: {
    usedMemory: number;
    maxmemory: number;
    evictedKeys: number;
    expiredKeys: number;
    connectedClients: number;
    keyspaceHits: number;
    keyspaceMisses: number;
  };
}

/**
 * A rate limit as a check would decide it now (nothing is consumed). `allowed`, `remaining` and
 * `resetAt` are the seed's `RateLimitResult`; the rest is what the server knows besides.
 */
export interface RateLimitResult {
  allowed: boolean;
  remaining: number;
  /** When the window has room again, in milliseconds since the epoch. */
  resetAt: number;
  type: string;
  id: string;
  limit: number;
  windowMs: number;
  resetAfterMs: number;
  retryAfterMs: number;
  /** Valkey could not be asked: the limit's failure policy answered. */
  degraded: boolean;
}

/** The namespaces `invalidate` accepts (those the library and the gateway write). */
export type CacheNamespace =
  | 'response'
  | 'session'
  | 'context'
  | 'metadata'
  | 'ratelimit'
  | 'ratelimit-gcra'
  | 'fetch'
  | 'lease';

export interface TtlOptions {
  /** Seconds; the namespace's default when absent. */
  ttl?: number;
}

/**
 * Something was removed from the cache, by any gateway (`POST /api/cache/invalidate`): one id
 * of a namespace, a whole namespace, or a pattern below the key prefix.
 */
export interface InvalidateEvent {
  type: 'invalidate';
  /** The history's id (what Last-Event-ID resumes from). */
  eventId: string;
  namespace?: string;
  id?: string;
  pattern?: string;
  deleted: number;
  /** When the gateway made it, in milliseconds since the epoch. */
  atMs: number;
}

/** A session was put, patched or deleted through the API. */
export interface SessionEvent {
  type: 'session';
  eventId: string;
  action: 'put' | 'patch' | 'delete';
  id: string;
  atMs: number;
}

/**
 * A gateway thread's circuit breaker in front of Valkey changed state. While Valkey is down the
 * event reaches only the streams of that thread, without an eventId.
 */
export interface BreakerEvent {
  type: 'breaker';
  eventId: string;
  from: 'closed' | 'open' | 'half_open';
  to: 'closed' | 'open' | 'half_open';
  thread: number;
  pid: number;
  atMs: number;
}

/**
 * Events may have been missed (the stream was away longer than the server's history lasts, or
 * Valkey lost it): anything cached may have changed, so reload what is shown.
 */
export interface ResetEvent {
  type: 'reset';
  eventId: string;
}

/** The stream is live: events made from now on will arrive (after any missed ones replayed). */
export interface ReadyEvent {
  type: 'ready';
  resumed: boolean;
  lastEventId: string | null;
}

export type CacheEvent = InvalidateEvent | SessionEvent | BreakerEvent | ResetEvent | ReadyEvent;

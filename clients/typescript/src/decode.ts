// The server's snake_case JSON (src/server/app/admin_routes.cpp, ratelimit_route.cpp) as the
// client's camelCase types.
import type { CacheEvent, CacheStats, NamespaceStats, RateLimitResult } from './types.js';

type Wire = Record<string, unknown>;

function object(value: unknown): Wire {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Wire)
    : {};
}

function number(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

function namespaceStats(value: unknown): NamespaceStats {
  const wire = object(value);
  const latency = object(wire.latency);
  return {
    hits: number(wire.hits),
    misses: number(wire.misses),
    hitRatio: number(wire.hit_ratio),
    errors: number(wire.errors),
    staleServed: number(wire.stale_served),
    coalesced: number(wire.coalesced),
    fetches: number(wire.fetches),
    writes: number(wire.writes),
    writesDropped: number(wire.writes_dropped),
    invalid: number(wire.invalid),
    keys: number(wire.keys),
    latency: {
      count: number(latency.count),
      p50Us: number(latency.p50_us),
      p90Us: number(latency.p90_us),
      p99Us: number(latency.p99_us),
    },
  };
}

export function decodeStats(value: unknown): CacheStats {
  const wire = object(value);
  const namespaces: Record<string, NamespaceStats> = {};
  for (const [name, stats] of Object.entries(object(wire.namespaces))) {
    namespaces[name] = namespaceStats(stats);
  }
  const keys: Record<string, number> = {};
  for (const [name, count] of Object.entries(object(wire.keys))) keys[name] = number(count);
  const valkey = object(wire.valkey);
  return {
    namespaces,
    total: namespaceStats(wire.total),
    keys,
    valkey: {
      usedMemory: number(valkey.used_memory),
      maxmemory: number(valkey.maxmemory),
      evictedKeys: number(valkey.evicted_keys),
      expiredKeys: number(valkey.expired_keys),
      connectedClients: number(valkey.connected_clients),
      keyspaceHits: number(valkey.keyspace_hits),
      keyspaceMisses: number(valkey.keyspace_misses),
    },
  };
}

export function decodeRateLimit(value: unknown): RateLimitResult {
  const wire = object(value);
  return {
    allowed: wire.allowed === true,
    remaining: number(wire.remaining),
    resetAt: number(wire.reset_at_ms),
    type: typeof wire.type === 'string' ? wire.type : '',
    id: typeof wire.id === 'string' ? wire.id : '',
    limit: number(wire.limit),
    windowMs: number(wire.window_ms),
    resetAfterMs: number(wire.reset_after_ms),
    retryAfterMs: number(wire.retry_after_ms),
    degraded: wire.degraded === true,
  };
}

function string(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** One event of GET /api/events (src/server/app/event_routes.cpp); undefined for unknown types. */
export function decodeEvent(type: string, eventId: string, data: string): CacheEvent | undefined {
  let wire: Wire;
  try {
    wire = object(JSON.parse(data));
  } catch {
    return undefined;
  }
  const atMs = number(wire.at_ms);
  switch (type) {
    case 'invalidate':
      return {
        type,
        eventId,
        ...(typeof wire.namespace === 'string' ? { namespace: wire.namespace } : {}),
        ...(typeof wire.id === 'string' ? { id: wire.id } : {}),
        ...(typeof wire.pattern === 'string' ? { pattern: wire.pattern } : {}),
        deleted: number(wire.deleted),
        atMs,
      };
    case 'session':
      return {
        type,
        eventId,
        action: string(wire.action) as 'put' | 'patch' | 'delete',
        id: string(wire.id),
        atMs,
      };
    case 'breaker':
      return {
        type,
        eventId,
        from: string(wire.from) as 'closed' | 'open' | 'half_open',
        to: string(wire.to) as 'closed' | 'open' | 'half_open',
        thread: number(wire.thread),
        pid: number(wire.pid),
        atMs,
      };
    case 'reset':
      return { type, eventId };
    case 'ready':
      return {
        type,
        resumed: wire.resumed === true,
        lastEventId: typeof wire.last_event_id === 'string' ? wire.last_event_id : null,
      };
    default:
      return undefined;
  }
}

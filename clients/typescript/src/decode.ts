// The server's snake_case JSON (src/server/app/admin_routes.cpp, ratelimit_route.cpp) as the
// client's camelCase types.
import type { CacheStats, NamespaceStats, RateLimitResult } from './types.js';

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

export { createCacheClient } from './cache_client.js';
export type { CacheClient, CacheClientOptions, CacheService, RateLimiter } from './cache_client.js';
export { CacheError } from './cache_error.js';
export type {
  BreakerEvent,
  CacheEvent,
  InvalidateEvent,
  ReadyEvent,
  ResetEvent,
  SessionEvent,
  CacheNamespace,
  CacheStats,
  NamespaceStats,
  RateLimitResult,
  TtlOptions,
} from './types.js';

// The seed's OpenCodeContext cache members for React: <CacheProvider> holds one client and
// re-renders its children when cacheEnabled changes; useOpenCodeCache() reads them.
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import {
  createCacheClient,
  type CacheClient,
  type CacheClientOptions,
  type CacheService,
  type RateLimiter,
} from './cache_client.js';
import type { CacheStats } from './types.js';

/** The cache members of the seed's OpenCodeContextType, typed as it declares them. */
export interface OpenCodeCacheContextType {
  cacheService: CacheService | null;
  rateLimiter: RateLimiter | null;
  cacheEnabled: boolean;
  getCachedOrFetch: <T>(key: string, fetcher: () => Promise<T>) => Promise<T>;
  invalidateCache: (pattern: string) => Promise<void>;
  getCacheStats: () => Promise<CacheStats>;
}

const CacheContext = createContext<OpenCodeCacheContextType | null>(null);

export type CacheProviderProps = { children?: ReactNode } & (
  | { client: CacheClient; options?: never }
  | { options: CacheClientOptions; client?: never }
);

/**
 * Gives its children the cache of `client` (or of a client made from `options` once). While the
 * cache is unusable, cacheService and rateLimiter are null and getCachedOrFetch calls the fetcher.
 */
export function CacheProvider(props: CacheProviderProps) {
  const { client: given, options, children } = props;
  const client = useMemo(
    () => given ?? createCacheClient(options as CacheClientOptions),
    [given, options],
  );
  const [cacheEnabled, setCacheEnabled] = useState(client.cacheEnabled);

  useEffect(() => {
    setCacheEnabled(client.cacheEnabled);
    const unsubscribe = client.subscribe(setCacheEnabled);
    void client.checkHealth();
    return unsubscribe;
  }, [client]);

  const value = useMemo<OpenCodeCacheContextType>(
    () => ({
      cacheService: cacheEnabled ? client.cacheService : null,
      rateLimiter: cacheEnabled ? client.rateLimiter : null,
      cacheEnabled,
      getCachedOrFetch: (key, fetcher) => client.getCachedOrFetch(key, fetcher),
      invalidateCache: async (pattern) => {
        await client.invalidateCache(pattern);
      },
      getCacheStats: () => client.getCacheStats(),
    }),
    [client, cacheEnabled],
  );
  return <CacheContext.Provider value={value}>{children}</CacheContext.Provider>;
}

/** The cache of the nearest <CacheProvider>; throws when there is none. */
export function useOpenCodeCache(): OpenCodeCacheContextType {
  const value = useContext(CacheContext);
  if (value === null) throw new Error('useOpenCodeCache() needs a <CacheProvider> above it');
  return value;
}

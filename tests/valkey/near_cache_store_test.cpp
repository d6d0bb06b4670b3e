// The near cache's memory, driven without Valkey or a clock.
#include "valkey/near_cache_store.hpp"

#include <gtest/gtest.h>

namespace {

using opencode_cache::valkey::NearCacheLimits;
using opencode_cache::valkey::NearCacheStore;
using namespace std::chrono_literals;

const NearCacheStore::Clock::time_point t0{};

void store(NearCacheStore& cache, const std::string& key, const std::string& value,
           std::optional<NearCacheStore::Clock::time_point> expires_at = std::nullopt) {
  const auto ticket = cache.begin_read(key);
  ASSERT_TRUE(cache.finish_read(key, ticket, value, expires_at));
}

TEST(NearCacheStore, HoldsWhatWasReadUntilInvalidated) {
  NearCacheStore cache(NearCacheLimits{});
  store(cache, "k", "v");
  EXPECT_EQ(cache.find("k", t0), "v");
  cache.invalidate("k");
  EXPECT_EQ(cache.find("k", t0), std::nullopt);
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(NearCacheStore, AReadOvertakenByAnInvalidationStoresNothing) {
  NearCacheStore cache(NearCacheLimits{});
  const auto ticket = cache.begin_read("k");
  cache.invalidate("k");  // the push came in the same socket read as the reply
  EXPECT_FALSE(cache.finish_read("k", ticket, "old", std::nullopt));
  EXPECT_EQ(cache.find("k", t0), std::nullopt);
  // A read begun after the invalidation stores as usual.
  const auto later = cache.begin_read("k");
  EXPECT_TRUE(cache.finish_read("k", later, "new", std::nullopt));
  EXPECT_EQ(cache.find("k", t0), "new");
}

TEST(NearCacheStore, FlushingAlsoStopsReadsInFlight) {
  NearCacheStore cache(NearCacheLimits{});
  store(cache, "a", "1");
  const auto ticket = cache.begin_read("b");
  cache.invalidate_all();
  EXPECT_FALSE(cache.finish_read("b", ticket, "2", std::nullopt));
  EXPECT_EQ(cache.find("a", t0), std::nullopt);
}

TEST(NearCacheStore, ExpiresLocallyAtTheServersTtl) {
  NearCacheStore cache(NearCacheLimits{});
  store(cache, "k", "v", t0 + 100ms);
  EXPECT_EQ(cache.find("k", t0 + 99ms), "v");
  EXPECT_EQ(cache.find("k", t0 + 100ms), std::nullopt);
  EXPECT_EQ(cache.entries(), 0u);
}

TEST(NearCacheStore, EvictsTheLeastRecentlyUsedBeyondItsLimits) {
  NearCacheStore by_entries(NearCacheLimits{.max_entries = 2, .max_bytes = 1000});
  store(by_entries, "a", "1");
  store(by_entries, "b", "2");
  EXPECT_EQ(by_entries.find("a", t0), "1");  // a is now the most recent
  store(by_entries, "c", "3");
  EXPECT_EQ(by_entries.find("b", t0), std::nullopt);
  EXPECT_EQ(by_entries.find("a", t0), "1");
  EXPECT_EQ(by_entries.evictions(), 1u);

  NearCacheStore by_bytes(NearCacheLimits{.max_entries = 100, .max_bytes = 10});
  store(by_bytes, "a", "1234");  // 5 bytes with its key
  store(by_bytes, "b", "1234");
  store(by_bytes, "c", "1234");
  EXPECT_LE(by_bytes.bytes(), 10u);
  EXPECT_EQ(by_bytes.entries(), 2u);
  const auto ticket = by_bytes.begin_read("huge");
  EXPECT_FALSE(by_bytes.finish_read("huge", ticket, std::string(100, 'x'), std::nullopt));
}

TEST(NearCacheStore, ADecodedFormGoesWithItsValueAndCountsInItsBytes) {
  NearCacheStore cache(NearCacheLimits{.max_entries = 100, .max_bytes = 20});
  cache.set_decoded("k", "ignored");  // not held: nothing kept
  EXPECT_EQ(cache.bytes(), 0u);
  store(cache, "k", "v");
  EXPECT_EQ(cache.find_held("k", t0)->decoded, "");
  cache.set_decoded("k", "decoded");
  EXPECT_EQ(cache.find_held("k", t0)->value, "v");
  EXPECT_EQ(cache.find_held("k", t0)->decoded, "decoded");
  EXPECT_EQ(cache.bytes(), 9u);  // key, value and decoded form

  store(cache, "k", "new");  // a new value: the old one's decoded form is gone with it
  EXPECT_EQ(cache.find_held("k", t0)->decoded, "");
  cache.set_decoded("k", "decoded");
  cache.invalidate("k");
  EXPECT_EQ(cache.find_held("k", t0), std::nullopt);
  EXPECT_EQ(cache.bytes(), 0u);

  store(cache, "a", "1");
  store(cache, "b", "2");
  cache.set_decoded("b", std::string(18, 'x'));  // over the byte limit: the oldest goes
  EXPECT_EQ(cache.find("a", t0), std::nullopt);
  EXPECT_EQ(cache.find_held("b", t0)->decoded, std::string(18, 'x'));
  EXPECT_LE(cache.bytes(), 20u);
}

TEST(NearCacheStore, AbandonedReadsAreForgotten) {
  NearCacheStore cache(NearCacheLimits{});
  const auto ticket = cache.begin_read("k");
  cache.abandon_read("k", ticket);
  EXPECT_FALSE(cache.finish_read("k", ticket, "v", std::nullopt));
}

}  // namespace

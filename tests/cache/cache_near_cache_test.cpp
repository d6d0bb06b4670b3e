// CacheService with a near cache (CacheConfig::near_entries): hot reads answered in the process,
// and never a value older than an invalidation the client has received.

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string>

#include "opencode_cache/cache/cache_service.hpp"
#include "support/async_test.hpp"
#include "support/client_config.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using cache::CacheConfig;
using cache::CacheService;
using cache::Json;
using valkey::Client;
using valkey::ClientConfig;

ClientConfig config_for(const ValkeyServer& server, bool tracking) {
  ClientConfig config = quick_reconnect_config(server);
  config.tracking = tracking;
  return config;
}

CacheConfig near_config(std::size_t entries = 1000, std::size_t bytes = 1 << 20) {
  CacheConfig config;
  config.near_entries = entries;
  config.near_bytes = bytes;
  return config;
}

int calls_of(const ValkeyServer& server, const std::string& command) {
  const std::string stats = server.cli({"INFO", "commandstats"});
  const std::string label = "cmdstat_" + command + ":calls=";
  const auto at = stats.find(label);
  return at == std::string::npos ? 0 : std::stoi(stats.substr(at + label.size()));
}

// The version number a reader saw, or 0 for none.
int version_of(const std::optional<std::string>& response) {
  return response ? std::stoi(*response) : 0;
}

class CacheNearCacheTest : public ValkeyTest {};

TEST_F(CacheNearCacheTest, IsOffByDefaultAndNeedsATrackingClient) {
  auto config = config_for(server(), false);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService plain(client);
    EXPECT_EQ(plain.near_cache_stats(), std::nullopt);
    try {
      CacheService near(client, near_config());
      ADD_FAILURE() << "a near cache without invalidations would serve stale values";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), valkey::errc::invalid_config);
    }
    co_return;
  });
}

TEST_F(CacheNearCacheTest, AHotResponseOrMetadataIsAnsweredWithoutARoundTrip) {
  auto& valkey = server();
  auto config = config_for(valkey, true);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client, near_config());
    co_await cache.cache_response("prompt", "model", "answer");
    co_await cache.set_metadata("models", Json("list"));
    EXPECT_EQ(co_await cache.get_cached_response("prompt", "model"), "answer");
    EXPECT_EQ(co_await cache.get_metadata("models"), Json("list"));
    valkey.cli({"CONFIG", "RESETSTAT"});
    for (int i = 0; i < 10; ++i) {
      EXPECT_EQ(co_await cache.get_cached_response("prompt", "model"), "answer");
      EXPECT_EQ(co_await cache.get_metadata("models"), Json("list"));
      // A hit for the wrong model is still a miss (the stored entry is checked).
      EXPECT_EQ(co_await cache.get_cached_response("prompt", "other"), std::nullopt);
    }
    EXPECT_EQ(cache.stats().by_namespace().at("response").hits, 11u);
    EXPECT_EQ(cache.near_cache_stats()->entries, 2u);  // a missing key is not held
  });
  EXPECT_EQ(calls_of(valkey, "get"), 10);  // only the other model's key, never held (a miss)
}

// A second instance writes, deletes, expires and flushes while readers hammer the key. After
// each change the first client makes a round trip of its own (PING): the server sent the
// invalidation before that reply, so the next read must see the change.
TEST_F(CacheNearCacheTest, NeverOlderThanAnInvalidationItReceived) {
  auto& valkey = server();
  auto config = config_for(valkey, true);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    Client other(ex, config_for(valkey, false));
    CacheService cache(client, near_config());
    CacheService writer(other);
    bool stop = false;
    int readers = 0;
    int went_back = 0;
    for (int r = 0; r < 8; ++r) {
      ++readers;
      boost::asio::co_spawn(
          ex,
          [&]() -> awaitable<void> {
            int last = 0;
            while (!stop) {
              const int seen = version_of(co_await cache.get_cached_response("p", "m"));
              if (seen != 0 && seen < last) ++went_back;
              if (seen != 0) last = seen;
              co_await boost::asio::post(ex, boost::asio::use_awaitable);  // hits never suspend
            }
            --readers;
          },
          boost::asio::detached);
    }
    for (int version = 1; version <= 300; ++version) {
      co_await writer.cache_response("p", "m", std::to_string(version));
      co_await client.ping();
      EXPECT_EQ(version_of(co_await cache.get_cached_response("p", "m")), version);
      if (version % 50 == 10) {
        const std::string id = cache.keys().response_key("p", "m").substr(18);
        EXPECT_TRUE(co_await writer.invalidate(cache::ns::response, id));
        co_await client.ping();
        EXPECT_EQ(co_await cache.get_cached_response("p", "m"), std::nullopt) << "after a delete";
      }
      if (version % 50 == 30) {
        co_await other.command(valkey::Command("FLUSHALL"));
        co_await client.ping();
        EXPECT_EQ(co_await cache.get_cached_response("p", "m"), std::nullopt) << "after FLUSHALL";
      }
    }
    // Expiry: the server's, and the local copy's own TTL (read with PTTL).
    co_await writer.cache_response("p", "m", "1000", {.ttl = 1s});
    co_await client.ping();
    EXPECT_EQ(co_await cache.get_cached_response("p", "m"), "1000");
    const auto expires = Clock::now() + 3s;
    std::optional<std::string> seen = "1000";
    while (seen && Clock::now() < expires) {
      seen = co_await cache.get_cached_response("p", "m");
      co_await boost::asio::post(ex, boost::asio::use_awaitable);
    }
    EXPECT_EQ(seen, std::nullopt) << "an expired response was still served";
    stop = true;
    co_await wait_until([&] { return readers == 0; });
    EXPECT_EQ(went_back, 0) << "a reader saw an older version after a newer one";
    EXPECT_GT(cache.near_cache_stats()->hits, 0u);
    EXPECT_GT(cache.near_cache_stats()->invalidations, 0u);
  });
}

TEST_F(CacheNearCacheTest, WritesAndRemovalsThroughTheServiceAreSeenAtOnce) {
  auto config = config_for(server(), true);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client, near_config());
    co_await cache.set_metadata("m", Json(1));
    EXPECT_EQ(co_await cache.get_metadata("m"), Json(1));
    co_await cache.set_metadata("m", Json(2));
    EXPECT_EQ(co_await cache.get_metadata("m"), Json(2));
    EXPECT_TRUE(co_await cache.delete_metadata("m"));
    EXPECT_EQ(co_await cache.get_metadata("m"), std::nullopt);
    co_await cache.cache_response("p", "m", "a");
    EXPECT_EQ(co_await cache.get_cached_response("p", "m"), "a");
    EXPECT_EQ(co_await cache.invalidate_namespace(cache::ns::response), 1u);
    EXPECT_EQ(co_await cache.get_cached_response("p", "m"), std::nullopt);
    EXPECT_TRUE(co_await cache.write_raw(cache::ns::response, "raw", "bytes"));
    EXPECT_EQ((co_await cache.read_raw(cache::ns::response, "raw")).value, "bytes");
    EXPECT_TRUE(co_await cache.write_raw(cache::ns::response, "raw", "other"));
    EXPECT_EQ((co_await cache.read_raw(cache::ns::response, "raw")).value, "other");
  });
}

TEST_F(CacheNearCacheTest, AReconnectDropsEverythingHeld) {
  auto& valkey = server();
  auto config = config_for(valkey, true);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    Client other(ex, config_for(valkey, false));
    CacheService cache(client, near_config());
    CacheService writer(other);
    co_await writer.cache_response("p", "m", "before");
    EXPECT_EQ(co_await cache.get_cached_response("p", "m"), "before");
    const auto epoch = client.connection_epoch();
    // Both connections go; the write below happens while the first client's is down, so its
    // invalidation is sent to no one.
    valkey.cli({"CLIENT", "KILL", "SKIPME", "no", "TYPE", "normal"});
    co_await wait_until([&] { return client.connection_epoch() != epoch; });
    // Both connected again: the write below is not dropped, and the read below is not refused
    // (cache reads do not wait for a connection).
    co_await other.ping();
    co_await client.ping();
    co_await writer.cache_response("p", "m", "after");
    EXPECT_EQ(co_await cache.get_cached_response("p", "m"), "after");
    EXPECT_GE(cache.near_cache_stats()->flushes, 1u);
  });
}

TEST_F(CacheNearCacheTest, StaysWithinItsMemoryBound) {
  auto config = config_for(server(), true);
  constexpr std::size_t bound = 64 * 1024;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client, near_config(1000, bound));
    const std::string answer(2000, 'x');
    for (int i = 0; i < 200; ++i)
      co_await cache.cache_response("p" + std::to_string(i), "m", answer);
    for (int round = 0; round < 2; ++round) {
      for (int i = 0; i < 200; ++i) {
        EXPECT_EQ(co_await cache.get_cached_response("p" + std::to_string(i), "m"), answer);
        EXPECT_LE(cache.near_cache_stats()->bytes, bound);
      }
    }
    const auto stats = *cache.near_cache_stats();
    EXPECT_GT(stats.entries, 20u);  // about 30 entries of 2.1 KB fit in 64 KiB
    EXPECT_LT(stats.entries, 32u);
    EXPECT_GT(stats.evictions, 0u);
  });
}

TEST_F(CacheNearCacheTest, ConfiguredFromTheEnvironment) {
  const auto config = CacheConfig::from_env([](const char* name) -> const char* {
    if (std::string_view(name) == "CACHE_NEAR_ENTRIES") return "5000";
    if (std::string_view(name) == "CACHE_NEAR_BYTES") return "1048576";
    return nullptr;
  });
  EXPECT_EQ(config.near_entries, 5000u);
  EXPECT_EQ(config.near_bytes, 1048576u);
  EXPECT_EQ(CacheConfig().near_entries, 0u);  // off by default
  EXPECT_THROW(CacheConfig::from_env([](const char* name) -> const char* {
                 return std::string_view(name) == "CACHE_NEAR_ENTRIES" ? "many" : nullptr;
               }),
               std::invalid_argument);
}

}  // namespace
}  // namespace opencode_cache::testing

// The near cache against a real valkey-server: hits without a round trip, and never a value
// older than an invalidation it has received.
#include "opencode_cache/valkey/near_cache.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string>

#include "support/async_test.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using valkey::Client;
using valkey::ClientConfig;
using valkey::NearCache;
using valkey::NearCacheConfig;
using namespace std::chrono_literals;

class NearCacheTest : public ValkeyTest {
 protected:
  ClientConfig config(bool tracking) {
    ClientConfig out;
    out.host = server().host();
    out.port = server().port();
    out.tracking = tracking;
    return out;
  }
};

TEST_F(NearCacheTest, RefusesAClientWithoutTracking) {
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config(false));
    EXPECT_THROW(NearCache near(client), valkey::Error);
    co_return;
  });
}

TEST_F(NearCacheTest, ASecondReadIsAnsweredWithoutTheServer) {
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config(true));
    NearCache near(client);
    co_await client.set("k", "v");
    EXPECT_EQ(co_await near.get("k"), "v");
    const auto writes = client.stats().writes;
    EXPECT_EQ(co_await near.get("k"), "v");
    EXPECT_EQ(client.stats().writes, writes);
    EXPECT_EQ(near.stats().hits, 1u);
    EXPECT_EQ(near.stats().misses, 1u);
    EXPECT_EQ(co_await near.get("missing"), std::nullopt);
    EXPECT_EQ(near.stats().entries, 1u);
  });
}

TEST_F(NearCacheTest, AnotherClientsWriteDeleteExpiryAndFlushReachIt) {
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config(true));
    Client other(ex, config(false));
    NearCache near(client);
    auto invalidated_after = [&](std::uint64_t before) -> awaitable<void> {
      co_await wait_until([&] { return near.stats().invalidations > before; });
    };

    co_await other.set("k", "1");
    EXPECT_EQ(co_await near.get("k"), "1");
    auto before = near.stats().invalidations;
    co_await other.set("k", "2");
    co_await invalidated_after(before);
    EXPECT_EQ(co_await near.get("k"), "2");

    before = near.stats().invalidations;
    co_await other.del("k");
    co_await invalidated_after(before);
    EXPECT_EQ(co_await near.get("k"), std::nullopt);

    co_await other.set("short", "lived", {.ttl = 50ms});
    EXPECT_EQ(co_await near.get("short"), "lived");
    co_await wait_until([&] { return near.stats().entries == 0; }, 5s);

    co_await other.set("a", "1");
    EXPECT_EQ(co_await near.get("a"), "1");
    const auto flushes = near.stats().flushes;
    co_await other.command(valkey::Command("FLUSHALL"));
    co_await wait_until([&] { return near.stats().flushes > flushes; });
    EXPECT_EQ(near.stats().entries, 0u);
    EXPECT_EQ(co_await near.get("a"), std::nullopt);
  });
}

// A writer counts up while a reader reads through the near cache: every value the reader sees
// is at least the last it saw (a stale value stored after its invalidation would go back), and
// once the writer is done and its last invalidation is in, the reader sees the last value.
TEST_F(NearCacheTest, UnderConcurrentWritesNoValueIsOlderThanOneAlreadySeen) {
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config(true));
    Client writer(ex, config(false));
    NearCache near(client);
    constexpr int last = 3000;
    co_await writer.set("counter", "0");
    bool writing = true;
    boost::asio::co_spawn(
        ex,
        [&]() -> awaitable<void> {
          for (int i = 1; i <= last; ++i) co_await writer.set("counter", std::to_string(i));
          writing = false;
        },
        boost::asio::detached);
    int seen = 0;
    int reads = 0;
    while (writing) {
      const std::optional<std::string> read = co_await near.get("counter");
      const int value = std::stoi(read.value());
      EXPECT_GE(value, seen);
      seen = value;
      ++reads;
      // A hit completes without suspending: let the writer run between reads.
      co_await boost::asio::post(ex, boost::asio::use_awaitable);
    }
    // The last write's invalidation arrives soon after it: from then on, the last value.
    std::optional<std::string> final_read;
    boost::asio::steady_timer pause(ex);
    const auto give_up = Clock::now() + 5s;
    while ((final_read = co_await near.get("counter")) != std::to_string(last) &&
           Clock::now() < give_up) {
      EXPECT_GE(std::stoi(final_read.value()), seen);
      pause.expires_after(1ms);
      co_await pause.async_wait(boost::asio::use_awaitable);
    }
    EXPECT_EQ(final_read, std::to_string(last));
    EXPECT_GT(reads, 0);
    EXPECT_GT(near.stats().hits, 0u);
  });
}

TEST_F(NearCacheTest, WritesThroughItDropTheLocalCopyAtOnce) {
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config(true));
    NearCache near(client);
    co_await near.set("k", "1");
    EXPECT_EQ(co_await near.get("k"), "1");
    co_await near.set("k", "2");
    EXPECT_EQ(co_await near.get("k"), "2");
    co_await near.del("k");
    EXPECT_EQ(co_await near.get("k"), std::nullopt);
  });
}

TEST_F(NearCacheTest, ALostConnectionDropsEverything) {
  run_async([&](Executor ex) -> awaitable<void> {
    auto cfg = config(true);
    cfg.client_name = "near-cache-under-test";
    Client client(ex, cfg);
    NearCache near(client);
    co_await client.set("k", "v");
    EXPECT_EQ(co_await near.get("k"), "v");
    const auto epoch = client.connection_epoch();
    server().cli({"CLIENT", "KILL", "SKIPME", "no", "TYPE", "normal"});
    co_await wait_until([&] { return client.connection_epoch() != epoch; });
    const auto misses = near.stats().misses;
    EXPECT_EQ(co_await near.get("k"), "v");
    EXPECT_EQ(near.stats().misses, misses + 1);
    EXPECT_GE(near.stats().flushes, 1u);
  });
}

TEST_F(NearCacheTest, StaysWithinItsLimits) {
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config(true));
    NearCache near(client, NearCacheConfig{.max_entries = 10, .max_bytes = 1 << 20});
    for (int i = 0; i < 100; ++i) co_await client.set("k" + std::to_string(i), "v");
    for (int i = 0; i < 100; ++i) co_await near.get("k" + std::to_string(i));
    EXPECT_EQ(near.stats().entries, 10u);
    EXPECT_EQ(near.stats().evictions, 90u);
  });
}

}  // namespace
}  // namespace opencode_cache::testing

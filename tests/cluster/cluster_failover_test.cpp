// The cluster changing under traffic: a slot moved while commands for it keep coming (MOVED
// and ASK followed, nothing fails), and a primary killed under load (its replica promoted, the
// client serving again within 3 s, no command past its deadline, none run twice). Each test
// starts a cluster of its own, since it changes it.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <cstdio>
#include <thread>

#include "cluster/valkey_cluster.hpp"
#include "opencode_cache/valkey/client.hpp"
#include "opencode_cache/valkey/reply.hpp"
#include "support/async_test.hpp"
#include "support/join_at_exit.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using valkey::Client;
using valkey::ClientConfig;
using valkey::Command;

namespace reply = valkey::reply;

TEST(ClusterResharding, TrafficToAMovingSlotNeverFails) {
  ValkeyCluster cluster;
  const int slot = cluster.key_slot("moving");
  ValkeyServer& from = cluster.primary_of_slot(slot);
  ValkeyServer* to = nullptr;
  for (ValkeyServer* primary : cluster.primaries()) {
    if (primary != &from) to = primary;
  }
  ASSERT_NE(to, nullptr);
  auto config = ClientConfig::from_url(cluster.url());
  std::atomic<bool> moved{false};
  std::size_t ok = 0;
  std::size_t failed = 0;
  std::string first_failure;
  std::thread mover;
  const JoinAtExit join_mover{mover};
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    for (int i = 0; i < 200; ++i) {
      co_await client.set("{moving}:" + std::to_string(i), std::to_string(i));
    }
    // The migration in small batches from another thread, while this one keeps reading and
    // writing the slot's keys.
    mover = std::thread([&] {
      cluster.begin_slot_migration(slot, from, *to);
      while (cluster.migrate_slot_keys(slot, from, *to, 10) > 0) {
      }
      cluster.finish_slot_migration(slot, *to);
      moved = true;
    });
    int round = 0;
    while (!moved || round < 50) {
      const int i = round % 200;
      try {
        const auto value = co_await client.get("{moving}:" + std::to_string(i));
        const bool right = value == std::to_string(i);
        EXPECT_TRUE(right) << "key " << i;
        co_await client.set("{moving}:new:" + std::to_string(round), "x");
        co_await client.incr("{moving}:counter");
        ok += 3;
      } catch (const valkey::Error& e) {
        if (first_failure.empty()) first_failure = e.what();
        ++failed;
      }
      ++round;
    }
    const auto counter = co_await client.get("{moving}:counter");
    EXPECT_EQ(counter.value_or("none"), std::to_string(round - static_cast<int>(failed)));
  });
  if (mover.joinable()) mover.join();
  EXPECT_EQ(failed, 0u) << first_failure;
  EXPECT_GT(ok, 150u);
  EXPECT_EQ(&cluster.primary_of_slot(slot), to);
  EXPECT_EQ(to->cli({"GET", "{moving}:7"}), "7");  // the keys live on the new owner
}

TEST(ClusterFailover, PrimaryKilledUnderLoadRecoversWithinThreeSeconds) {
  ValkeyCluster cluster;
  const int slot = cluster.key_slot("victim");
  ValkeyServer& primary = cluster.primary_of_slot(slot);
  auto config = ClientConfig::from_url(cluster.url());
  config.command_timeout = 1000ms;
  std::atomic<bool> promoted{false};
  std::atomic<std::int64_t> promoted_at_ms{0};
  const auto t0 = Clock::now();
  std::int64_t increments_acknowledged = 0;
  std::int64_t increments_uncertain = 0;  // lost with their connection, or timed out
  std::int64_t worst_ms = 0;
  std::int64_t first_success_after_promotion_ms = -1;
  std::int64_t failures_after_recovery = 0;
  std::int64_t other_shard_failures = 0;
  const bool other_shard_apart = &cluster.primary_of_slot(cluster.key_slot("other")) != &primary;
  std::thread killer;
  const JoinAtExit join_killer{killer};
  run_async(
      [&](Executor ex) -> awaitable<void> {
        Client client(ex, config);
        co_await client.set("{victim}:counter", "0");
        co_await client.set("{other}:counter", "0");
        killer = std::thread([&] {
          Clock::time_point seen;
          cluster.fail_over_by_killing(primary, 20s, &seen);
          promoted_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(seen - t0).count();
          promoted = true;
        });
        while (true) {
          const bool done = promoted && elapsed_since(t0).count() > promoted_at_ms + 4000;
          if (done) break;
          const auto start = Clock::now();
          bool success = false;
          try {
            co_await client.incr("{victim}:counter");
            ++increments_acknowledged;
            success = true;
          } catch (const valkey::Error& e) {
            if (e.code() == valkey::errc::connection_lost || e.code() == valkey::errc::timeout) {
              ++increments_uncertain;
            }
          }
          const auto took = elapsed_since(start).count();
          worst_ms = std::max<std::int64_t>(worst_ms, took);
          const auto now = elapsed_since(t0).count();
          if (promoted && success && first_success_after_promotion_ms < 0) {
            first_success_after_promotion_ms = now - promoted_at_ms;
          }
          if (promoted && !success && now > promoted_at_ms + 3000) ++failures_after_recovery;
          // Other shards keep working meanwhile.
          try {
            co_await client.incr("{other}:counter");
          } catch (const valkey::Error&) {
            ++other_shard_failures;
          }
          if (!success) {
            boost::asio::steady_timer pause(ex, 5ms);  // a caller's retry pace, not a sync
            co_await pause.async_wait(boost::asio::use_awaitable);
          }
        }
        const auto counter_text = co_await client.get("{victim}:counter");
        const std::int64_t counter = std::stoll(counter_text.value_or("-1"));
        EXPECT_GE(counter, increments_acknowledged);
        EXPECT_LE(counter, increments_acknowledged + increments_uncertain);  // none ran twice
      },
      60s);
  if (killer.joinable()) killer.join();
  std::printf(
      "failover: first success %lld ms after the promotion was seen, worst command %lld ms, "
      "%lld INCRs acknowledged, %lld uncertain\n",
      static_cast<long long>(first_success_after_promotion_ms), static_cast<long long>(worst_ms),
      static_cast<long long>(increments_acknowledged),
      static_cast<long long>(increments_uncertain));
  EXPECT_GE(first_success_after_promotion_ms, 0);
  EXPECT_LE(first_success_after_promotion_ms, 3000);
  EXPECT_EQ(failures_after_recovery, 0);
  if (other_shard_apart) {
    EXPECT_EQ(other_shard_failures, 0);
  }
  EXPECT_LE(worst_ms, 1000 + 250);  // the deadline, and the fault suite's scheduling slack
}

}  // namespace
}  // namespace opencode_cache::testing

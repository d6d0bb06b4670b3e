// Reads from replicas (ClientConfig::read_from_replicas) on a real 3-primary, 3-replica
// cluster: with the option on, read-only commands are served by replicas (their INFO
// commandstats count the calls, the primaries' do not) while writes, pipelines and
// transactions stay on the primaries; a replica killed under reads fails no read; with the
// option off (the default) replicas receive no reads. One cluster for the suite: the test that
// kills a replica starts it again.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <sstream>
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
using valkey::Pipeline;

constexpr int key_count = 30;  // over many slots: every shard gets some

std::string key_of(int i) {
  return "replica-read:" + std::to_string(i);
}

// "cmdstat_get:calls=12,usec=..." -> 12; 0 when the node never ran the command.
std::int64_t calls(ValkeyServer& node, const std::string& command) {
  const std::string info = node.cli({"INFO", "commandstats"});
  const std::string prefix = "cmdstat_" + command + ":calls=";
  const auto at = info.find(prefix);
  return at == std::string::npos ? 0 : std::stoll(info.substr(at + prefix.size()));
}

std::int64_t calls(const std::vector<ValkeyServer*>& nodes, const std::string& command) {
  std::int64_t total = 0;
  for (ValkeyServer* node : nodes) total += calls(*node, command);
  return total;
}

std::string info_field(const std::string& info, const std::string& name) {
  const auto at = info.find(name + ":");
  if (at == std::string::npos) return {};
  const auto start = at + name.size() + 1;
  return info.substr(start, info.find_first_of("\r\n", start) - start);
}

class ClusterReplicaReads : public ValkeyClusterTest {
 protected:
  void SetUp() override {
    ValkeyClusterTest::SetUp();
    primaries_ = cluster().primaries();
    replicas_.clear();
    for (std::size_t i = 0; i < cluster().size(); ++i) {
      ValkeyServer* node = &cluster().node(i);
      if (std::find(primaries_.begin(), primaries_.end(), node) == primaries_.end()) {
        replicas_.push_back(node);
      }
    }
    ASSERT_EQ(primaries_.size(), 3u);
    ASSERT_EQ(replicas_.size(), 3u);
    // The client reads from the replicas CLUSTER SHARDS calls online; a replica is "loading"
    // there until gossip carries its replication offset. Polled, as the harness polls health.
    const auto give_up = Clock::now() + 20s;
    while (!every_node_online() && Clock::now() < give_up) {
      std::this_thread::sleep_for(20ms);  // between polls of the cluster's view
    }
    ASSERT_TRUE(every_node_online()) << "replicas not online in CLUSTER SHARDS";
    // Counting starts now: the flush and earlier tests' traffic are not this test's.
    for (std::size_t i = 0; i < cluster().size(); ++i)
      cluster().node(i).cli({"CONFIG", "RESETSTAT"});
  }

  // Every node's CLUSTER SHARDS says "online" for all six.
  static bool every_node_online() {
    for (std::size_t i = 0; i < cluster().size(); ++i) {
      std::stringstream shards(cluster().node(i).cli({"CLUSTER", "SHARDS"}));
      std::size_t online = 0;
      for (std::string line; std::getline(shards, line);) {
        if (line == "online") ++online;
      }
      if (online != cluster().size()) return false;
    }
    return true;
  }

  ClientConfig config(bool read_from_replicas) const {
    auto config = ClientConfig::from_url(cluster().url());
    config.read_from_replicas = read_from_replicas;
    return config;
  }

  // Writes every key, then reads each until its value comes back (replication is
  // asynchronous: a replica may answer before the write reached it). Returns the GETs sent.
  static awaitable<std::int64_t> write_then_read_back(Client& client) {
    for (int i = 0; i < key_count; ++i) {
      const std::string key = key_of(i);
      co_await client.set(key, std::to_string(i));
    }
    std::int64_t reads = 0;
    const auto give_up = Clock::now() + 10s;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    for (int i = 0; i < key_count; ++i) {
      const std::string key = key_of(i);
      const std::string expected = std::to_string(i);
      while (true) {
        const auto value = co_await client.get(key);
        ++reads;
        if (value == expected) break;
        if (Clock::now() > give_up) {
          ADD_FAILURE() << key << " never read back";
          break;
        }
        timer.expires_after(1ms);
        co_await timer.async_wait(boost::asio::use_awaitable);
      }
    }
    co_return reads;
  }

  std::vector<ValkeyServer*> primaries_;
  std::vector<ValkeyServer*> replicas_;
};

TEST_F(ClusterReplicaReads, ReadsGoToReplicasWritesAndTransactionsToPrimaries) {
  std::int64_t reads = 0;
  std::vector<std::string> keys;
  for (int i = 0; i < key_count; ++i) keys.push_back(key_of(i));
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config(true));
    reads = co_await write_then_read_back(client);
    const auto values = co_await client.mget(keys);
    EXPECT_EQ(values.size(), keys.size());
    for (int i = 0; i < key_count && i < static_cast<int>(values.size()); ++i) {
      EXPECT_EQ(values[i], std::to_string(i));
    }
    EXPECT_EQ(co_await client.exists(keys), key_count);
    const auto ttl = co_await client.command(Command("PTTL", key_of(0)));
    EXPECT_EQ(ttl.integer, -1);
  });
  EXPECT_EQ(calls(primaries_, "set"), key_count);  // every write once, on a primary
  EXPECT_EQ(calls(primaries_, "get"), 0);
  EXPECT_EQ(calls(primaries_, "mget"), 0);
  EXPECT_EQ(calls(primaries_, "exists"), 0);
  EXPECT_EQ(calls(primaries_, "pttl"), 0);
  EXPECT_EQ(calls(replicas_, "get"), reads);
  for (ValkeyServer* replica : replicas_) {
    EXPECT_GT(calls(*replica, "get"), 0) << "replica on port " << replica->port();
    EXPECT_GT(calls(*replica, "mget"), 0) << "replica on port " << replica->port();
    EXPECT_GT(calls(*replica, "exists"), 0) << "replica on port " << replica->port();
    // READONLY once per connection: the client's one connection to it.
    EXPECT_EQ(calls(*replica, "readonly"), 1) << "replica on port " << replica->port();
  }
  EXPECT_EQ(calls(replicas_, "pttl"), 1);
  for (std::size_t i = 0; i < cluster().size(); ++i) {  // nothing was redirected
    EXPECT_THAT(cluster().node(i).cli({"INFO", "errorstats"}),
                ::testing::Not(::testing::HasSubstr("errorstat_MOVED")));
  }

  // Pipelines and transactions keep their reads on the primary, beside their writes; scripts
  // only when read-only (EVAL_RO) go to a replica.
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config(true));
    Pipeline transaction;
    transaction.add("SET", "{tx}a", "1").add("GET", "{tx}a");
    const auto committed = co_await client.transaction(transaction);
    EXPECT_EQ(committed.at(1).string, "1");
    Pipeline pipeline;
    pipeline.add("SET", "{p}a", "2").add("GET", "{p}a");
    const auto piped = co_await client.execute(pipeline);
    EXPECT_EQ(piped.at(1).string, "2");
    const auto scripted = co_await client.command(
        Command("EVAL_RO", "return redis.call('GET', KEYS[1])", "1", key_of(1)));
    EXPECT_EQ(scripted.string, "1");
    co_await client.command(Command("EVAL", "return redis.call('GET', KEYS[1])", "1", key_of(2)));
  });
  EXPECT_EQ(calls(primaries_, "get"), 3);  // the transaction's, the pipeline's, EVAL's
  EXPECT_EQ(calls(primaries_, "eval"), 1);
  EXPECT_EQ(calls(primaries_, "eval_ro"), 0);
  EXPECT_EQ(calls(replicas_, "eval_ro"), 1);
}

TEST_F(ClusterReplicaReads, ReplicasReceiveNoReadsByDefault) {
  std::int64_t reads = 0;
  std::vector<std::string> keys;
  for (int i = 0; i < key_count; ++i) keys.push_back(key_of(i));
  const ClientConfig defaults = ClientConfig::from_url(cluster().url());
  EXPECT_FALSE(defaults.read_from_replicas);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, defaults);
    reads = co_await write_then_read_back(client);
    const auto values = co_await client.mget(keys);
    EXPECT_EQ(values.size(), keys.size());
  });
  EXPECT_EQ(reads, key_count);  // the primary always has its own writes
  EXPECT_EQ(calls(primaries_, "get"), key_count);
  EXPECT_GT(calls(primaries_, "mget"), 0);
  for (ValkeyServer* replica : replicas_) {
    EXPECT_EQ(calls(*replica, "get"), 0) << "replica on port " << replica->port();
    EXPECT_EQ(calls(*replica, "mget"), 0) << "replica on port " << replica->port();
    EXPECT_EQ(calls(*replica, "readonly"), 0) << "replica on port " << replica->port();
  }
}

TEST_F(ClusterReplicaReads, AReplicaKilledUnderReadsFailsNoRead) {
  ValkeyServer& victim = *replicas_.front();
  const auto victim_primary_port =
      std::stoi(info_field(victim.cli({"INFO", "replication"}), "master_port"));
  ValkeyServer* victim_primary = nullptr;
  for (ValkeyServer* primary : primaries_) {
    if (primary->port() == victim_primary_port) victim_primary = primary;
  }
  ASSERT_NE(victim_primary, nullptr);
  const std::string victim_address = ":" + std::to_string(victim.port()) + "@";

  std::atomic<std::int64_t> reads{0};
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> victim_gets_before_kill{0};
  std::atomic<bool> marked_failed{false};
  std::int64_t failed = 0;
  std::int64_t wrong = 0;
  std::string first_failure;
  std::thread killer;
  const JoinAtExit join_killer{killer};
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config(true));
    co_await write_then_read_back(client);
    // Readers side by side, so that some reads are in flight on the replica when it dies.
    constexpr int readers = 4;
    int finished = 0;
    for (int r = 0; r < readers; ++r) {
      boost::asio::co_spawn(
          ex,
          [&, r]() -> awaitable<void> {
            for (int i = r; !stop; i += readers) {
              const std::string key = key_of(i % key_count);
              const std::string expected = std::to_string(i % key_count);
              try {
                const auto value = co_await client.get(key);
                if (value != expected) ++wrong;
              } catch (const valkey::Error& e) {
                if (first_failure.empty()) first_failure = e.what();
                ++failed;
              }
              ++reads;
            }
            ++finished;
          },
          boost::asio::detached);
    }
    // The kill, and the wait for the cluster to mark the replica failed (after which the
    // client's next slot map leaves it out), from another thread: both block.
    killer = std::thread([&] {
      auto wait_for_reads = [&](std::int64_t count) {
        const auto give_up = Clock::now() + 20s;
        while (reads < count && Clock::now() < give_up) {
          std::this_thread::sleep_for(1ms);  // between polls; the readers need the cores
        }
      };
      wait_for_reads(300);
      victim_gets_before_kill = calls(victim, "get");
      victim.kill();
      wait_for_reads(reads + 300);
      const auto give_up = Clock::now() + 20s;
      ValkeyServer& witness = *primaries_.front();
      while (Clock::now() < give_up) {
        bool marked = false;
        std::stringstream nodes(witness.cli({"CLUSTER", "NODES"}));
        for (std::string line; std::getline(nodes, line);) {
          if (line.find(victim_address) != std::string::npos &&
              line.find(",fail") != std::string::npos) {
            marked = true;
          }
        }
        if (marked) {
          marked_failed = true;
          break;
        }
        std::this_thread::sleep_for(20ms);  // between polls of the cluster's view
      }
      wait_for_reads(reads + 300);
      stop = true;
    });
    co_await wait_until([&] { return finished == readers; }, 40s);
  });
  if (killer.joinable()) killer.join();
  EXPECT_EQ(failed, 0) << first_failure;
  EXPECT_EQ(wrong, 0);
  EXPECT_GT(reads, 900);
  EXPECT_GT(victim_gets_before_kill, 0);  // it served reads before it died
  EXPECT_TRUE(marked_failed);             // the reads went on past the cluster's verdict
  // Its reads went to its primary after it: the fallback.
  EXPECT_GT(calls(*victim_primary, "get"), 0);
  cluster().restart(victim);  // the suite's cluster whole again
}

}  // namespace
}  // namespace opencode_cache::testing

// MULTI/EXEC and optimistic WATCH transactions on a real server.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "opencode_cache/valkey/watch_transaction.hpp"
#include "support/async_test.hpp"
#include "support/client_config.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using valkey::Client;
using valkey::ClientConfig;
using valkey::Command;
using valkey::errc;
using valkey::Pipeline;

class TransactionTest : public ValkeyTest {};

TEST_F(TransactionTest, ExecReturnsEveryReply) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    Pipeline writes;
    writes.add("SET", "t", "1").add("INCR", "t").add("HSET", "t", "f", "v").add("GET", "t");
    const auto replies = co_await client.transaction(writes);
    EXPECT_EQ(replies.size(), 4u);
    EXPECT_EQ(replies[0].string, "OK");
    EXPECT_EQ(replies[1].integer, 2);
    // A runtime error inside EXEC is one reply; the rest ran.
    EXPECT_TRUE(replies[2].is_error());
    EXPECT_EQ(replies[3].string, "2");
  });
}

TEST_F(TransactionTest, CommandRefusedWhileQueueingAbortsEverything) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    Pipeline writes;
    writes.add("SET", "t", "1").add("NOSUCHCOMMAND");
    try {
      co_await client.transaction(writes);
      ADD_FAILURE() << "EXEC must be refused";
    } catch (const valkey::ServerError& e) {
      EXPECT_EQ(e.prefix(), "EXECABORT");
    }
    EXPECT_EQ(co_await client.get("t"), std::nullopt);
    EXPECT_TRUE(co_await client.ping());
  });
}

TEST_F(TransactionTest, ChangedWatchedKeyAbortsExec) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.command(Command("WATCH", "w"));
    valkey.cli({"SET", "w", "changed by someone else"});
    Pipeline writes;
    writes.add("SET", "w", "mine");
    try {
      co_await client.transaction(writes);
      ADD_FAILURE() << "EXEC must not run";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), errc::transaction_aborted);
    }
    EXPECT_EQ(co_await client.get("w"), "changed by someone else");
  });
}

TEST_F(TransactionTest, DiscardDropsQueuedCommands) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    Pipeline batch;
    batch.add("MULTI").add("SET", "d", "1").add("DISCARD").add("GET", "d");
    const auto replies = co_await client.execute(batch);
    EXPECT_EQ(replies[1].string, "QUEUED");
    EXPECT_EQ(replies[2].string, "OK");
    EXPECT_TRUE(replies[3].is_null());
  });
}

// Concurrent read-modify-write increments, each through its own dedicated client: every
// increment survives because conflicting attempts are retried.
TEST_F(TransactionTest, WatchConflictsAreRetriedAndTheFinalValueIsRight) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    constexpr int writers = 8;
    constexpr int increments = 25;
    int finished = 0;
    int failures = 0;
    std::vector<std::unique_ptr<Client>> clients;
    for (int w = 0; w < writers; ++w) clients.push_back(std::make_unique<Client>(ex, config));
    const auto keys = strings("balance");
    for (auto& dedicated : clients) {
      boost::asio::co_spawn(
          ex,
          [&, client = dedicated.get()]() -> awaitable<void> {
            for (int i = 0; i < increments; ++i) {
              try {
                co_await valkey::watch_transaction(
                    *client, keys,
                    [](Client& c) -> valkey::Task<std::optional<Pipeline>> {
                      const auto current = co_await c.get("balance");
                      const int value = current ? std::stoi(*current) : 0;
                      Pipeline writes;
                      writes.add("SET", "balance", std::to_string(value + 1));
                      co_return writes;
                    },
                    {.max_attempts = 1000});
              } catch (const std::exception&) {
                ++failures;
              }
            }
            ++finished;
          },
          boost::asio::detached);
    }
    co_await wait_until([&] { return finished == writers; }, 30s);
    EXPECT_EQ(failures, 0);
    EXPECT_EQ(co_await clients[0]->get("balance"), std::to_string(writers * increments));
  });
}

TEST_F(TransactionTest, AttemptThatCommitsNothingUnwatches) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    const auto replies = co_await valkey::watch_transaction(
        client, strings("u"),
        [](Client&) -> valkey::Task<std::optional<Pipeline>> { co_return std::nullopt; });
    EXPECT_TRUE(replies.empty());
    // Unwatched: a change by someone else no longer aborts this connection's next EXEC.
    valkey.cli({"SET", "u", "x"});
    Pipeline writes;
    writes.add("SET", "u", "y");
    co_await client.transaction(writes);
    EXPECT_EQ(co_await client.get("u"), "y");
  });
}

TEST_F(TransactionTest, ExecIsNeverSentOnAConnectionThatDidNotWatch) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    int attempts = 0;
    const auto replies = co_await valkey::watch_transaction(
        client, strings("pinned"), [&](Client& c) -> valkey::Task<std::optional<Pipeline>> {
          ++attempts;
          if (attempts == 1) {
            // The connection that holds the WATCH goes away before EXEC.
            valkey.cli({"CLIENT", "KILL", "TYPE", "normal"});
            co_await c.get("pinned");  // read-only: answered on a new connection
          }
          Pipeline writes;
          writes.add("SET", "pinned", std::to_string(attempts));
          co_return writes;
        });
    EXPECT_EQ(replies.size(), 1u);
    EXPECT_EQ(attempts, 2);
    EXPECT_EQ(co_await client.get("pinned"), "2");
  });
}

}  // namespace
}  // namespace opencode_cache::testing

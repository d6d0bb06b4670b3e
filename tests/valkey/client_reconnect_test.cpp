// Reconnection, deadlines and the retry rules, with real servers killed, paused and
// restarted under the client.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "opencode_cache/valkey/client.hpp"
#include "support/async_test.hpp"
#include "support/fault_proxy.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using valkey::Client;
using valkey::ClientConfig;
using valkey::Command;
using valkey::errc;

ClientConfig fast_reconnect_config(const ValkeyServer& server) {
  ClientConfig config;
  config.host = server.host();
  config.port = server.port();
  config.command_timeout = 1000ms;
  config.connect_timeout = 500ms;
  config.reconnect.base_delay = 20ms;
  config.reconnect.max_delay = 200ms;
  config.reconnect.max_attempts = 0;
  config.max_retries_per_request = 1000;
  return config;
}

// How far past its deadline a failed command may come back: scheduling slack only.
constexpr auto deadline_slack = 250ms;

class ClientReconnect : public ValkeyTest {};

TEST_F(ClientReconnect, ServerKilledMidLoadFailsInFlightClearlyAndRecovers) {
  auto& valkey = server();
  auto config = fast_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.connect();
    int ok = 0;
    int failed = 0;
    int unclear = 0;
    std::chrono::milliseconds slowest{0};
    bool stop = false;
    int workers_left = 32;
    for (int w = 0; w < 32; ++w) {
      boost::asio::co_spawn(
          ex,
          [&, w]() -> awaitable<void> {
            for (int i = 0; !stop; ++i) {
              const auto start = Clock::now();
              try {
                const std::string key = "w" + std::to_string(w);
                co_await client.set(key, std::to_string(i));
                co_await client.get(key);
                ++ok;
              } catch (const valkey::Error& e) {
                const auto code = e.code();
                if (code == errc::connection_lost || code == errc::timeout ||
                    code == errc::not_connected || code == errc::circuit_open) {
                  ++failed;
                } else {
                  ++unclear;
                }
              }
              slowest = std::max(slowest, elapsed_since(start));
            }
            --workers_left;
          },
          boost::asio::detached);
    }
    co_await wait_until([&] { return ok > 500; });
    valkey.kill();
    const int ok_at_kill = ok;
    co_await wait_until([&] { return failed > 0; });
    valkey.start();
    co_await wait_until([&] { return ok > ok_at_kill + 500; });
    stop = true;
    co_await wait_until([&] { return workers_left == 0; });
    EXPECT_GT(failed, 0);
    EXPECT_EQ(unclear, 0)
        << "failures must say connection_lost, timeout, not_connected or circuit_open";
    // Two commands per iteration, each within its deadline.
    EXPECT_LT(slowest, 2 * config.command_timeout + deadline_slack);
    EXPECT_GE(client.stats().disconnects, 1u);
    EXPECT_TRUE(co_await client.ping());
  });
}

TEST_F(ClientReconnect, NoServerAtStartQueuedCommandsRunWhenItComesUp) {
  auto& valkey = server();
  valkey.kill();
  auto config = fast_reconnect_config(valkey);
  config.command_timeout = 10s;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    bool set_done = false;
    boost::asio::co_spawn(
        ex,
        [&]() -> awaitable<void> {
          co_await client.set("queued", "arrived");
          set_done = true;
        },
        boost::asio::detached);
    co_await wait_until([&] { return client.stats().connect_failures >= 2; });
    EXPECT_FALSE(set_done);
    valkey.start();
    co_await wait_until([&] { return set_done; });
    EXPECT_EQ(co_await client.get("queued"), "arrived");
  });
}

TEST_F(ClientReconnect, NoServerCommandsFailAtTheirDeadline) {
  auto& valkey = server();
  valkey.kill();
  auto config = fast_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    const auto start = Clock::now();
    try {
      co_await client.get("k");
      ADD_FAILURE() << "no server: the command must fail";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), errc::timeout);
    }
    const auto took = elapsed_since(start);
    EXPECT_GE(took, config.command_timeout - 10ms);
    EXPECT_LT(took, config.command_timeout + deadline_slack);
  });
}

TEST_F(ClientReconnect, WaitingCommandsFailAfterTheirReconnectBudget) {
  auto& valkey = server();
  valkey.kill();
  auto config = fast_reconnect_config(valkey);
  config.command_timeout = 30s;
  config.max_retries_per_request = 2;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    try {
      co_await client.get("k");
      ADD_FAILURE() << "no server: the command must fail";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), errc::not_connected);
      EXPECT_THAT(e.what(), ::testing::HasSubstr("cannot connect"));
    }
    EXPECT_EQ(client.stats().connect_failures, 3u);
  });
}

TEST_F(ClientReconnect, GivesUpAfterMaxAttemptsAndTriesAgainOnTheNextCommand) {
  auto& valkey = server();
  valkey.kill();
  auto config = fast_reconnect_config(valkey);
  config.reconnect.max_attempts = 2;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    try {
      co_await client.get("k");
      ADD_FAILURE() << "no server: the command must fail";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), errc::not_connected);
    }
    EXPECT_EQ(client.state(), valkey::ConnectionState::idle);
    EXPECT_EQ(client.stats().connect_failures, 3u);
    valkey.start();
    EXPECT_TRUE(co_await client.ping());
  });
}

TEST_F(ClientReconnect, PausedServerCommandsFailAtTheirDeadlineAndRecoverAfter) {
  auto& valkey = server();
  auto config = fast_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.set("k", "v");
    valkey.pause();
    const auto start = Clock::now();
    try {
      co_await client.command(Command("GET", "k"), {.timeout = 300ms});
      ADD_FAILURE() << "a paused server cannot answer";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), errc::timeout);
    }
    EXPECT_LT(elapsed_since(start), 300ms + deadline_slack);
    EXPECT_EQ(client.stats().timeouts, 1u);
    valkey.resume();
    // The late reply to the abandoned GET is discarded; replies stay in step.
    EXPECT_EQ(co_await client.get("k"), "v");
    co_await client.set("k", "w");
    EXPECT_EQ(co_await client.get("k"), "w");
  });
}

TEST_F(ClientReconnect, NonIdempotentCommandInFlightIsNeverSentTwice) {
  auto& valkey = server();
  auto config = fast_reconnect_config(valkey);
  config.command_timeout = 10s;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.connect();
    valkey.pause();
    std::optional<valkey::Error> incr_error;
    std::optional<std::optional<std::string>> get_result;
    const auto writes_before = client.stats().writes;
    boost::asio::co_spawn(
        ex,
        [&]() -> awaitable<void> {
          try {
            co_await client.incr("counter");
          } catch (const valkey::Error& e) {
            incr_error = e;
          }
        },
        boost::asio::detached);
    boost::asio::co_spawn(
        ex, [&]() -> awaitable<void> { get_result = co_await client.get("counter"); },
        boost::asio::detached);
    // Both are written to the paused server's socket: in flight, never executed.
    co_await wait_until([&] { return client.stats().writes > writes_before; });
    valkey.kill();
    valkey.start();
    co_await wait_until([&] { return incr_error.has_value() && get_result.has_value(); });
    EXPECT_EQ(incr_error->code(), errc::connection_lost);
    // The read-only GET was sent again on the new connection and answered there.
    EXPECT_EQ(*get_result, std::nullopt);
    // Had INCR been sent again, the fresh server would hold 1.
    EXPECT_EQ(co_await client.get("counter"), std::nullopt);
  });
}

TEST_F(ClientReconnect, OfflineQueueIsBounded) {
  auto& valkey = server();
  valkey.kill();
  auto config = fast_reconnect_config(valkey);
  config.max_queued_requests = 10;
  config.command_timeout = 500ms;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    int timeouts = 0;
    int finished = 0;
    for (int i = 0; i < 10; ++i) {
      boost::asio::co_spawn(
          ex,
          [&]() -> awaitable<void> {
            try {
              co_await client.get("k");
            } catch (const valkey::Error& e) {
              if (e.code() == errc::timeout) ++timeouts;
            }
            ++finished;
          },
          boost::asio::detached);
    }
    co_await wait_until([&] { return client.stats().connect_failures >= 1; });
    const auto start = Clock::now();
    try {
      co_await client.get("one-too-many");
      ADD_FAILURE() << "the eleventh waiting command must be refused";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), errc::queue_full);
    }
    EXPECT_LT(elapsed_since(start), 50ms) << "a full queue fails fast";
    co_await wait_until([&] { return finished == 10; });
    EXPECT_EQ(timeouts, 10);
  });
}

TEST_F(ClientReconnect, ClientKillIsSurvived) {
  auto& valkey = server();
  auto config = fast_reconnect_config(valkey);
  config.client_name = "to-be-killed";
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.set("k", "v");
    valkey.cli({"CLIENT", "KILL", "TYPE", "normal"});
    EXPECT_EQ(co_await client.get("k"), "v");
    EXPECT_EQ(client.stats().disconnects, 1u);
    EXPECT_EQ(client.stats().connects, 2u);
  });
}

TEST_F(ClientReconnect, LogsOneLinePerStateChangeWithoutSecrets) {
  auto& valkey = start_server({.password = "hunter2"});
  auto config = fast_reconnect_config(valkey);
  config.password = "hunter2";
  std::vector<std::string> lines;
  config.log = [&](std::string_view line) { lines.emplace_back(line); };
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    for (int i = 0; i < 20; ++i) co_await client.set("k", "v");
    valkey.cli({"CLIENT", "KILL", "TYPE", "normal"});
    EXPECT_EQ(co_await client.get("k"), "v");
  });
  // The connection was dropped within a second of being made: the reconnect backs off once.
  ASSERT_EQ(lines.size(), 4u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], ::testing::HasSubstr("event=connected"));
  EXPECT_THAT(lines[1], ::testing::HasSubstr("event=disconnected"));
  EXPECT_THAT(lines[2], ::testing::HasSubstr("event=reconnecting attempt=1"));
  EXPECT_THAT(lines[3], ::testing::HasSubstr("event=connected"));
  for (const auto& line : lines) {
    EXPECT_THAT(line, ::testing::Not(::testing::HasSubstr("hunter2")));
  }
}

TEST_F(ClientReconnect, MalformedReplyResetsTheConnectionAndLosesNothingElse) {
  auto& valkey = server();
  FaultProxy proxy(valkey.port());
  auto config = fast_reconnect_config(valkey);
  config.port = proxy.port();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.set("k", "before");
    proxy.corrupt_next_reply("@not RESP\r\n");
    try {
      co_await client.set("k", "during");
      ADD_FAILURE() << "a SET whose reply was garbage has an unknown outcome";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), errc::connection_lost);
      EXPECT_THAT(e.what(), ::testing::HasSubstr("invalid reply"));
    }
    EXPECT_EQ(client.stats().protocol_errors, 1u);
    EXPECT_TRUE(co_await client.ping());  // reconnected
    // A read-only command whose reply is garbage is answered on the next connection.
    proxy.corrupt_next_reply("$999999999999\r\n");
    EXPECT_EQ(co_await client.get("k"), "during");
    EXPECT_EQ(client.stats().protocol_errors, 2u);
    EXPECT_EQ(client.stats().connects, 3u);
    co_await client.set("k", "after");
    EXPECT_EQ(co_await client.get("k"), "after");
  });
  EXPECT_EQ(proxy.connections_accepted(), 3);
}

TEST_F(ClientReconnect, ReadyCheckWaitsForTheDatasetToLoad) {
  auto& valkey = server();
  valkey.cli({"DEBUG", "POPULATE", "1000000", "key", "64"});
  valkey.cli({"SAVE"});
  valkey.restart();  // returns once the server answers, while it still loads the dump
  auto config = fast_reconnect_config(valkey);
  config.command_timeout = 30s;
  std::vector<std::string> lines;
  config.log = [&](std::string_view line) { lines.emplace_back(line); };
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    EXPECT_TRUE((co_await client.get("key:999999")).has_value());
  });
  EXPECT_THAT(lines, ::testing::Contains(::testing::HasSubstr("event=server_loading")));
}

}  // namespace
}  // namespace opencode_cache::testing

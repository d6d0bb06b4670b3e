// BlockingClient against a real valkey-server: plain calls, call() with any Client method,
// exceptions, many threads on one connection, and shutting down when the server is gone.

#include "opencode_cache/valkey/blocking_client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/client_config.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
// The fixture takes the suite's name, BlockingClient; the class under test is `Blocking`.
using Blocking = valkey::BlockingClient;
using valkey::Client;
using valkey::ClientConfig;
using valkey::Command;
using valkey::errc;
using valkey::ServerError;

class BlockingClient : public ValkeyTest {};

TEST_F(BlockingClient, PingSetGetDel) {
  auto& valkey = server();
  Blocking client(client_config(valkey));
  EXPECT_TRUE(client.ping());
  EXPECT_EQ(client.get("k"), std::nullopt);
  EXPECT_TRUE(client.set("k", "v"));
  EXPECT_EQ(client.get("k"), "v");
  EXPECT_EQ(valkey.cli({"GET", "k"}), "v");
  EXPECT_EQ(client.del("k"), 1);
  EXPECT_EQ(client.del("k"), 0);
  EXPECT_EQ(client.get("k"), std::nullopt);
}

TEST_F(BlockingClient, SetOptionsAreHonoured) {
  auto& valkey = server();
  Blocking client(client_config(valkey));
  EXPECT_TRUE(client.set("k", "v", {.ttl = 60s}));
  EXPECT_EQ(valkey.cli({"TTL", "k"}), "60");
  EXPECT_FALSE(
      client.set("k", "other", {.condition = valkey::SetOptions::Condition::if_not_exists}));
  EXPECT_EQ(client.get("k"), "v");
}

TEST_F(BlockingClient, RawCommand) {
  Blocking client(client_config(server()));
  const auto reply = client.command(Command("ECHO", "hello"));
  EXPECT_EQ(reply.string, "hello");
  EXPECT_EQ(client.command(Command("INCRBY", "n", 5)).integer, 5);
}

TEST_F(BlockingClient, CallReachesAnyClientMethod) {
  auto& valkey = server();
  Blocking client(client_config(valkey));
  EXPECT_EQ(client.call([](Client& c) { return c.hset("h", "f", "v"); }), 1);
  EXPECT_EQ(client.call([](Client& c) { return c.hget("h", "f"); }), "v");
  EXPECT_EQ(client.call([](Client& c) { return c.incrby("counter", 41); }), 41);
  EXPECT_EQ(client.call([](Client& c) { return c.incr("counter"); }), 42);
  const auto pairs = client.call([](Client& c) { return c.hgetall("h"); });
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0].first, "f");
  EXPECT_EQ(pairs[0].second, "v");
  // A Task<void> method works too. Its arguments must outlive the call: the Task runs after
  // the lambda returned, so a temporary built inside the lambda would dangle.
  const std::vector<std::pair<std::string, std::string>> pairs_to_set = {{"a", "1"}, {"b", "2"}};
  client.call([&](Client& c) { return c.mset(pairs_to_set); });
  EXPECT_EQ(valkey.cli({"MGET", "a", "b"}), "1\n2");
  // Arguments captured by reference stay valid for the call.
  const std::string key = "captured";
  const std::string value(1000, 'x');
  client.call([&](Client& c) { return c.set(key, value); });
  EXPECT_EQ(client.get(key), value);
}

TEST_F(BlockingClient, ServerErrorsPropagateToTheCaller) {
  Blocking client(client_config(server()));
  client.call([](Client& c) { return c.hset("hash", "f", "v"); });
  try {
    client.get("hash");
    ADD_FAILURE() << "GET on a hash must throw";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.code(), errc::server_error);
    EXPECT_EQ(e.prefix(), "WRONGTYPE");
  }
  try {
    client.call([](Client& c) { return c.incr("hash"); });
    ADD_FAILURE() << "INCR on a hash must throw";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.prefix(), "WRONGTYPE");
  }
  EXPECT_THROW(client.command(Command("NOSUCHCOMMAND")), ServerError);
  // The client carries on afterwards.
  EXPECT_TRUE(client.ping());
}

TEST_F(BlockingClient, ClientErrorsPropagateWithTheirCode) {
  auto& valkey = server();
  auto config = client_config(valkey);
  Blocking client(config);
  client.quit();
  try {
    client.get("k");
    ADD_FAILURE() << "a quit client must refuse commands";
  } catch (const valkey::Error& e) {
    EXPECT_EQ(e.code(), errc::closed);
  }
}

TEST_F(BlockingClient, ManyThreadsShareOneClient) {
  auto& valkey = server();
  Blocking client(client_config(valkey));
  constexpr int threads = 8;
  constexpr int per_thread = 200;
  std::atomic<int> wrong{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        const std::string key = "t" + std::to_string(t) + ":" + std::to_string(i);
        const std::string value = "value-" + std::to_string(t * 100000 + i);
        try {
          if (!client.set(key, value)) ++wrong;
          if (client.get(key) != value) ++wrong;
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(valkey.cli({"DBSIZE"}), std::to_string(threads * per_thread));
  EXPECT_EQ(valkey.cli({"GET", "t7:199"}), "value-700199");
}

// Destroys `client` on another thread and reports whether that finished within `limit`.
// A destructor that hangs leaves that thread behind (detached) rather than the whole suite.
bool destroyed_within(std::unique_ptr<Blocking> client, std::chrono::seconds limit) {
  std::promise<void> destroyed;
  auto done = destroyed.get_future();
  std::thread([client = std::move(client), destroyed = std::move(destroyed)]() mutable {
    client.reset();
    destroyed.set_value();
  }).detach();
  return done.wait_for(limit) == std::future_status::ready;
}

TEST_F(BlockingClient, DestructorDoesNotHangWhenTheServerWasKilled) {
  auto& valkey = server();
  auto config = client_config(valkey);
  config.command_timeout = 300ms;
  config.connect_timeout = 300ms;
  auto client = std::make_unique<Blocking>(config);
  EXPECT_TRUE(client->set("k", "v"));
  valkey.kill();
  // With the server gone, commands fail within their deadline instead of blocking forever.
  EXPECT_THROW(client->get("k"), valkey::Error);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(destroyed_within(std::move(client), 10s)) << "~BlockingClient hung";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(BlockingClient, DestructorDoesNotHangWhileReconnecting) {
  auto& valkey = server();
  auto config = client_config(valkey);
  config.command_timeout = 200ms;
  config.connect_timeout = 200ms;
  config.reconnect.max_attempts = 0;  // keeps trying for ever
  config.reconnect.base_delay = 5000ms;
  config.reconnect.max_delay = 5000ms;
  auto client = std::make_unique<Blocking>(config);
  EXPECT_TRUE(client->ping());
  valkey.kill();
  // The client notices, fails this command and settles into a long backoff wait.
  EXPECT_THROW(client->get("k"), valkey::Error);
  EXPECT_THROW(client->get("k"), valkey::Error);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(destroyed_within(std::move(client), 10s)) << "~BlockingClient hung";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s)
      << "the destructor waited out the reconnect backoff";
}

TEST_F(BlockingClient, DestructorWithNothingEverSent) {
  auto config = client_config(server());
  EXPECT_TRUE(destroyed_within(std::make_unique<Blocking>(config), 10s));
}

}  // namespace
}  // namespace opencode_cache::testing

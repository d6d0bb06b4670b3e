// The client against a real valkey-server: commands, typed replies and errors, pipelining,
// handshake (AUTH, SELECT, SETNAME), TCP and Unix sockets.

#include "opencode_cache/valkey/client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "opencode_cache/valkey/reply.hpp"
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
using valkey::ServerError;
using valkey::resp::Type;

class ClientTest : public ValkeyTest {};

TEST_F(ClientTest, StringCommandsRoundTrip) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    EXPECT_TRUE(co_await client.ping());
    EXPECT_EQ(co_await client.get("missing"), std::nullopt);
    EXPECT_TRUE(co_await client.set("greeting", "hello"));
    EXPECT_EQ(co_await client.get("greeting"), "hello");
    EXPECT_TRUE(co_await client.exists("greeting"));
    EXPECT_EQ(co_await client.exists(strings("greeting", "missing")), 1);
    EXPECT_EQ(co_await client.ttl("greeting"), -1);
    EXPECT_TRUE(co_await client.expire("greeting", 100s));
    const auto ttl = co_await client.ttl("greeting");
    EXPECT_GT(ttl, 90);
    EXPECT_LE(ttl, 100);
    EXPECT_EQ(co_await client.del("greeting"), 1);
    EXPECT_EQ(co_await client.ttl("greeting"), -2);
    EXPECT_EQ(co_await client.incr("counter"), 1);
    EXPECT_EQ(co_await client.incrby("counter", 41), 42);
    co_await client.mset(string_pairs("a", "1", "b", "2"));
    const auto values = co_await client.mget(strings("a", "missing", "b"));
    EXPECT_EQ(values.size(), 3u);
    EXPECT_EQ(values.at(0), "1");
    EXPECT_EQ(values.at(1), std::nullopt);
    EXPECT_EQ(values.at(2), "2");
    EXPECT_EQ(co_await client.del(strings("a", "b", "missing")), 2);
  });
}

TEST_F(ClientTest, SetHonoursTtlAndConditions) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    EXPECT_TRUE(co_await client.set("k", "v", {.ttl = 60s}));
    EXPECT_EQ(co_await client.ttl("k"), 60);
    EXPECT_TRUE(co_await client.set("p", "v", {.ttl = 1500ms}));
    const auto pttl = (co_await client.command(Command("PTTL", "p"))).integer;
    EXPECT_GT(pttl, 1000);
    EXPECT_LE(pttl, 1500);
    using Condition = valkey::SetOptions::Condition;
    EXPECT_FALSE(co_await client.set("k", "other", {.condition = Condition::if_not_exists}));
    EXPECT_EQ(co_await client.get("k"), "v");
    EXPECT_FALSE(co_await client.set("absent", "x", {.condition = Condition::if_exists}));
    EXPECT_FALSE(co_await client.exists("absent"));
    EXPECT_TRUE(co_await client.set("k", "new", {.keep_ttl = true}));
    EXPECT_EQ(co_await client.ttl("k"), 60);
  });
}

TEST_F(ClientTest, HashAndSortedSetCommands) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    EXPECT_EQ(co_await client.hset("h", "f1", "v1"), 1);
    EXPECT_EQ(co_await client.hset("h", string_pairs("f2", "v2", "f1", "v1b")), 1);
    EXPECT_EQ(co_await client.hget("h", "f1"), "v1b");
    EXPECT_EQ(co_await client.hget("h", "nope"), std::nullopt);
    EXPECT_THAT(co_await client.hgetall("h"),
                ::testing::UnorderedElementsAreArray(string_pairs("f1", "v1b", "f2", "v2")));
    EXPECT_EQ(co_await client.hdel("h", strings("f1", "nope")), 1);
    EXPECT_EQ(co_await client.zadd("z", 10, "a"), 1);
    EXPECT_EQ(co_await client.zadd("z", 20, "b"), 1);
    EXPECT_EQ(co_await client.zadd("z", 30.5, "c"), 1);
    EXPECT_EQ(co_await client.zcard("z"), 3);
    EXPECT_EQ(co_await client.zremrangebyscore("z", "0", "20"), 2);
    EXPECT_EQ(co_await client.zcard("z"), 1);
    EXPECT_EQ(co_await client.publish("nobody-listens", "hi"), 0);
  });
}

TEST_F(ClientTest, ErrorRepliesAreTypedWithTheServersMessage) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.hset("hash", "f", "v");
    try {
      co_await client.get("hash");
      ADD_FAILURE() << "GET on a hash must fail";
    } catch (const ServerError& e) {
      EXPECT_EQ(e.code(), errc::server_error);
      EXPECT_EQ(e.prefix(), "WRONGTYPE");
      EXPECT_THAT(e.message(), ::testing::HasSubstr("wrong kind of value"));
    }
    try {
      co_await client.command(Command("NOSUCHCOMMAND", "x"));
      ADD_FAILURE() << "an unknown command must fail";
    } catch (const ServerError& e) {
      EXPECT_EQ(e.prefix(), "ERR");
    }
    try {
      co_await client.incr("hash");
      ADD_FAILURE() << "INCR on a hash must fail";
    } catch (const ServerError& e) {
      EXPECT_EQ(e.prefix(), "WRONGTYPE");
    }
    // The connection carries on after error replies.
    EXPECT_TRUE(co_await client.ping());
  });
}

TEST_F(ClientTest, ReplyOfTheWrongTypeIsAnUnexpectedReplyError) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.set("s", "text");
    try {
      valkey::reply::to_integer(co_await client.command(Command("GET", "s")));
      ADD_FAILURE() << "a string reply is not an integer";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), errc::unexpected_reply);
      EXPECT_THAT(e.what(), ::testing::HasSubstr("expected an integer"));
    }
  });
}

TEST_F(ClientTest, Resp3RepliesKeepTheirTypes) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.hset("h", "f", "v");
    const auto map = co_await client.command(Command("HGETALL", "h"));
    EXPECT_EQ(map.type, Type::map);
    co_await client.command(Command("SADD", "set", "m"));
    EXPECT_EQ((co_await client.command(Command("SMEMBERS", "set"))).type, Type::set);
    co_await client.zadd("z", 1.5, "m");
    const auto score = co_await client.command(Command("ZSCORE", "z", "m"));
    EXPECT_EQ(score.type, Type::double_number);
    EXPECT_DOUBLE_EQ(score.number, 1.5);
    EXPECT_EQ((co_await client.command(Command("GET", "missing"))).type, Type::null);
  });
}

TEST_F(ClientTest, Resp2ProtocolWorksToo) {
  auto config = client_config(server());
  config.protocol = 2;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.hset("h", "f", "v");
    const auto reply = co_await client.command(Command("HGETALL", "h"));
    EXPECT_EQ(reply.type, Type::array);
    EXPECT_THAT(co_await client.hgetall("h"), ::testing::ElementsAreArray(string_pairs("f", "v")));
    EXPECT_EQ(co_await client.get("missing"), std::nullopt);
  });
}

TEST_F(ClientTest, LargeValuesRoundTrip) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    std::string big(10 * 1024 * 1024, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 % 251);
    co_await client.set("big", big);
    const auto back = co_await client.get("big");
    EXPECT_TRUE(back.has_value());
    EXPECT_TRUE(back == big) << "10 MiB binary value came back different";
  });
}

TEST_F(ClientTest, ConcurrentCommandsShareFewWrites) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.connect();
    const auto writes_before = client.stats().writes;
    constexpr int callers = 1000;
    int done = 0;
    int wrong = 0;
    for (int i = 0; i < callers; ++i) {
      boost::asio::co_spawn(
          ex,
          [&client, &done, &wrong, i]() -> awaitable<void> {
            const std::string key = "k" + std::to_string(i);
            co_await client.set(key, std::to_string(i));
            if (co_await client.get(key) != std::to_string(i)) ++wrong;
            ++done;
          },
          boost::asio::detached);
    }
    co_await wait_until([&] { return done == callers; });
    EXPECT_EQ(wrong, 0);
    // 2000 commands issued in two waves: a handful of writes, not thousands.
    EXPECT_LE(client.stats().writes - writes_before, 10u);
  });
}

TEST_F(ClientTest, ExplicitPipelineReturnsEveryReplyInOrder) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    Pipeline pipeline;
    pipeline.add("SET", "p", "1").add("INCR", "p").add("HGET", "p", "f").add("GET", "p");
    const auto replies = co_await client.execute(pipeline);
    EXPECT_EQ(replies.size(), 4u);
    EXPECT_EQ(replies[0].string, "OK");
    EXPECT_EQ(replies[1].integer, 2);
    EXPECT_TRUE(replies[2].is_error());
    EXPECT_THAT(replies[2].string, ::testing::StartsWith("WRONGTYPE"));
    EXPECT_EQ(replies[3].string, "2");
    EXPECT_TRUE((co_await client.execute(Pipeline{})).empty());
  });
}

TEST_F(ClientTest, HandshakeSelectsDatabaseAndNamesTheConnection) {
  auto& valkey = server();
  auto config = client_config(valkey);
  config.database = 3;
  config.client_name = "handshake-test";
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.set("in-db-3", "yes");
    const auto name = co_await client.command(Command("CLIENT", "GETNAME"));
    EXPECT_EQ(name.string, "handshake-test");
  });
  EXPECT_EQ(valkey.cli({"-n", "3", "GET", "in-db-3"}), "yes");
  EXPECT_EQ(valkey.cli({"GET", "in-db-3"}), "");
}

TEST_F(ClientTest, UnixSocket) {
  auto& valkey = start_server({.unix_socket = true});
  ClientConfig config;
  config.unix_path = valkey.unix_path();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.set("over-unix", "1");
    EXPECT_EQ(co_await client.get("over-unix"), "1");
  });
  EXPECT_EQ(valkey.cli({"GET", "over-unix"}), "1");
}

TEST_F(ClientTest, ConfigFromUrlConnects) {
  auto& valkey = start_server({.password = "s3cret"});
  auto config =
      ClientConfig::from_url("valkey://:s3cret@127.0.0.1:" + std::to_string(valkey.port()) + "/2");
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.set("via-url", "1");
  });
  EXPECT_EQ(valkey.cli({"-n", "2", "GET", "via-url"}), "1");
}

TEST_F(ClientTest, AclUserGetsOnlyItsPermissions) {
  auto& valkey = start_server({.acl_users = {"user app on >apppass ~opencode:* +@all"}});
  auto config = client_config(valkey);
  config.username = "app";
  config.password = "apppass";
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.set("opencode:allowed", "1");
    EXPECT_EQ(co_await client.get("opencode:allowed"), "1");
    try {
      co_await client.set("elsewhere", "1");
      ADD_FAILURE() << "a key outside the user's pattern must be refused";
    } catch (const ServerError& e) {
      EXPECT_EQ(e.prefix(), "NOPERM");
    }
    const auto who = co_await client.command(Command("ACL", "WHOAMI"));
    EXPECT_EQ(who.string, "app");
  });
}

TEST_F(ClientTest, WrongPasswordFailsFastWithoutARetryStorm) {
  auto& valkey = start_server({.password = "right"});
  auto config = client_config(valkey);
  config.password = "wrong";
  config.reconnect.base_delay = 50ms;
  const auto connections_before = valkey.cli({"INFO", "stats"});
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    int auth_errors = 0;
    const auto start = Clock::now();
    for (int i = 0; i < 50; ++i) {
      try {
        co_await client.get("k");
      } catch (const valkey::Error& e) {
        if (e.code() == errc::auth_failed) ++auth_errors;
        if (i == 0) {
          EXPECT_THAT(e.what(), ::testing::HasSubstr("WRONGPASS"));
        }
      }
    }
    EXPECT_EQ(auth_errors, 50);
    EXPECT_LT(elapsed_since(start), 2s) << "auth failures must not wait for deadlines";
    EXPECT_LE(client.stats().connect_failures, 3u);
  });
  const auto stats = valkey.cli({"INFO", "stats"});
  const auto count = [](const std::string& info) {
    const auto at = info.find("total_connections_received:");
    return std::stoi(info.substr(at + std::string("total_connections_received:").size()));
  };
  // The cli's own connections count too; the client made at most a few.
  EXPECT_LE(count(stats) - count(connections_before), 5);
}

TEST_F(ClientTest, QuitClosesAndLaterCommandsFail) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.set("k", "v");
    co_await client.quit();
    EXPECT_EQ(client.state(), valkey::ConnectionState::closed);
    try {
      co_await client.get("k");
      ADD_FAILURE() << "a closed client must refuse commands";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), errc::closed);
    }
  });
}

}  // namespace
}  // namespace opencode_cache::testing

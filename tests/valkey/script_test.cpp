// Scripts run by EVALSHA with a transparent EVAL fallback, on a real server.

#include "opencode_cache/valkey/script.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "opencode_cache/valkey/client.hpp"
#include "support/async_test.hpp"
#include "support/client_config.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using valkey::Client;
using valkey::ClientConfig;
using valkey::Command;
using valkey::Pipeline;
using valkey::Script;

const Script& increment_by() {
  static const Script script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  return script;
}

class ScriptTest : public ValkeyTest {};

TEST_F(ScriptTest, Sha1IsComputedLocallyAsTheServerDoes) {
  auto& valkey = server();
  EXPECT_EQ(increment_by().sha1(), valkey.cli({"SCRIPT", "LOAD", increment_by().source()}));
  EXPECT_EQ(Script("return 1").sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

TEST_F(ScriptTest, FirstRunLoadsTheScriptAndLaterRunsUseEvalsha) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    EXPECT_EQ((co_await client.eval(increment_by(), strings("n"), strings("5"))).integer, 5);
    EXPECT_EQ((co_await client.eval(increment_by(), strings("n"), strings("2"))).integer, 7);
  });
  EXPECT_EQ(valkey.cli({"SCRIPT", "EXISTS", increment_by().sha1()}), "1");
}

TEST_F(ScriptTest, StillRunsAfterScriptFlush) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.eval(increment_by(), strings("n"), strings("1"));
    co_await client.command(Command("SCRIPT", "FLUSH"));
    EXPECT_EQ((co_await client.eval(increment_by(), strings("n"), strings("1"))).integer, 2);
  });
}

TEST_F(ScriptTest, StillRunsAfterAServerRestart) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.eval(increment_by(), strings("n"), strings("1"));
    valkey.restart();
    // A command in flight when the server died has an unknown outcome; a read-only PING is
    // resent and brings the connection back.
    EXPECT_TRUE(co_await client.ping());
    // The restarted server knows no scripts and no keys.
    EXPECT_EQ((co_await client.eval(increment_by(), strings("n"), strings("3"))).integer, 3);
  });
}

TEST_F(ScriptTest, ScriptErrorsComeBackAsServerErrors) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    const Script broken("return redis.call('NOSUCHCOMMAND')");
    try {
      co_await client.eval(broken, strings(), strings());
      ADD_FAILURE() << "the script calls an unknown command";
    } catch (const valkey::ServerError& e) {
      EXPECT_EQ(e.prefix(), "ERR");
    }
  });
}

TEST_F(ScriptTest, ScriptsInPipelinesRecoverFromNoscript) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.command(Command("SCRIPT", "FLUSH"));
    Pipeline pipeline;
    pipeline.add("SET", "a", "10")
        .add(increment_by(), strings("a"), strings("1"))
        .add("GET", "a")
        .add(increment_by(), strings("b"), strings("2"));
    const auto replies = co_await client.execute(pipeline);
    EXPECT_EQ(replies.size(), 4u);
    EXPECT_EQ(replies[1].integer, 11);
    // The retried call ran after the pipeline: GET saw the value before it.
    EXPECT_EQ(replies[2].string, "10");
    EXPECT_EQ(replies[3].integer, 2);
    EXPECT_EQ(co_await client.get("a"), "11");
  });
}

}  // namespace
}  // namespace opencode_cache::testing

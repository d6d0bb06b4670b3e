// opencode-cache's commands against a real valkey-server, through the same code the binary runs
// (cli::run), with its output captured.
#include "cli/cli_commands.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <sstream>

#include "support/async_test.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using ::testing::HasSubstr;
namespace json = boost::json;

class CliCommands : public ValkeyTest {
 protected:
  struct Result {
    int code = -1;
    std::string out;
    std::string err;
  };

  valkey::ClientConfig config_for(const ValkeyServer& valkey) {
    valkey::ClientConfig config;
    config.host = valkey.host();
    config.port = valkey.port();
    return config;
  }

  // Runs one command line against `cache` (and `state` when given).
  Result run(std::vector<std::string_view> words, ValkeyServer* state = nullptr,
             const cache::Encryption& encryption = {}) {
    const cli::Parsed parsed = cli::parse_arguments(words);
    EXPECT_TRUE(parsed.invocation) << parsed.error;
    Result result;
    std::ostringstream out;
    std::ostringstream err;
    run_async([&](Executor ex) -> awaitable<void> {
      valkey::Client cache_client(ex, config_for(server()));
      std::optional<valkey::Client> state_client;
      if (state != nullptr) state_client.emplace(ex, config_for(*state));
      valkey::Client& state_store = state_client ? *state_client : cache_client;
      cache::CacheService service(cache_client, state_store);
      ratelimit::RateLimiter limiter(state_store, ratelimit::RateLimiterConfig());
      cli::Stores stores{cache_client, state_store, service, limiter, cache::CacheKeys("opencode"),
                         encryption};
      cli::Output output{out, err};
      result.code = co_await cli::run(*parsed.invocation, stores, output);
    });
    result.out = out.str();
    result.err = err.str();
    return result;
  }
};

TEST_F(CliCommands, PingAnswersPong) {
  const Result text = run({"ping"});
  EXPECT_EQ(text.code, cli::exit_ok);
  EXPECT_THAT(text.out, HasSubstr("cache " + server().host()));
  EXPECT_THAT(text.out, HasSubstr("PONG"));
  const json::value doc = json::parse(run({"ping", "--json"}).out);
  EXPECT_TRUE(doc.at("cache").at("ok").as_bool());
}

TEST_F(CliCommands, GetDecodesJsonAndSaysWhenNothingIsThere) {
  server().cli({"SET", "opencode:context:c1", R"({"turns":[1,2]})"});
  const Result found = run({"get", "opencode:context:c1", "--json"});
  EXPECT_EQ(found.code, cli::exit_ok);
  EXPECT_EQ(json::parse(found.out), json::parse(R"({"turns":[1,2]})"));
  const Result missing = run({"get", "opencode:context:nope"});
  EXPECT_EQ(missing.code, cli::exit_not_found);
  EXPECT_THAT(missing.err, HasSubstr("no value at opencode:context:nope"));
}

TEST_F(CliCommands, InspectShowsTypeTtlSizeAndValue) {
  server().cli({"SET", "opencode:metadata:m", R"({"a":"b"})", "EX", "100"});
  const json::value doc = json::parse(run({"inspect", "opencode:metadata:m", "--json"}).out);
  EXPECT_EQ(doc.at("type").as_string(), "string");
  EXPECT_GT(doc.at("ttl_ms").as_int64(), 90000);
  EXPECT_EQ(doc.at("bytes").as_int64(), 9);
  EXPECT_EQ(doc.at("value").at("a").as_string(), "b");
  EXPECT_EQ(run({"inspect", "opencode:none"}).code, cli::exit_not_found);
}

TEST_F(CliCommands, BinaryValuesAreDescribedNotDumped) {
  server().cli({"SET", "opencode:response:r", std::string("\x01\x02raw", 5)});
  const Result shown = run({"get", "opencode:response:r"});
  EXPECT_THAT(shown.out, HasSubstr("<5 bytes, not text; starting 01 02"));
}

TEST_F(CliCommands, KeysStopsAtTheLimitAndSaysSo) {
  for (int i = 0; i < 5; ++i) server().cli({"SET", "opencode:context:k" + std::to_string(i), "1"});
  const Result all = run({"keys", "opencode:context:*", "--json"});
  EXPECT_EQ(json::parse(all.out).as_array().size(), 5u);
  const Result some = run({"keys", "opencode:context:*", "--limit", "2"});
  EXPECT_EQ(std::count(some.out.begin(), some.out.end(), '\n'), 2);
  EXPECT_THAT(some.err, HasSubstr("stopped at 2 keys"));
}

TEST_F(CliCommands, InvalidateANamespaceWithProgressAnIdAndAPattern) {
  std::vector<std::string> mset = {"MSET"};
  for (int i = 0; i < 25000; ++i) {
    mset.push_back("opencode:response:r" + std::to_string(i));
    mset.push_back("x");
  }
  server().cli(mset);
  server().cli({"SET", "opencode:context:c1", "1"});
  server().cli({"SET", "opencode:context:c2", "1"});
  server().cli({"SET", "opencode:metadata:m1", "1"});

  const Result namespace_wide = run({"invalidate", "response"});
  EXPECT_EQ(namespace_wide.out, "deleted 25000\n");
  EXPECT_THAT(namespace_wide.err, HasSubstr("keys deleted so far"));
  EXPECT_EQ(server().cli({"DBSIZE"}), "3");

  EXPECT_EQ(run({"invalidate", "context", "c1", "--json"}).out, "{\"deleted\":1}\n");
  EXPECT_EQ(run({"invalidate", "--pattern", "*:m*"}).out, "deleted 1\n");
  EXPECT_EQ(server().cli({"DBSIZE"}), "1");
}

TEST_F(CliCommands, SessionsGoToTheStateStore) {
  ValkeyServer& cache_valkey = server();
  ValkeyServer& state = start_server({});
  const Result set = run({"session", "set", "s1", R"({"user":"ana"})"}, &state);
  EXPECT_EQ(set.code, cli::exit_ok);
  EXPECT_EQ(state.cli({"GET", "opencode:session:s1"}), R"({"user":"ana"})");
  EXPECT_EQ(cache_valkey.cli({"EXISTS", "opencode:session:s1"}), "0");
  const Result got = run({"session", "get", "s1"}, &state);
  EXPECT_EQ(json::parse(got.out), json::parse(R"({"user":"ana"})"));
  EXPECT_EQ(run({"session", "get", "s2"}, &state).code, cli::exit_not_found);
  const Result bad = run({"session", "set", "s1", "[1]"}, &state);
  EXPECT_EQ(bad.code, cli::exit_usage);
  EXPECT_THAT(bad.err, HasSubstr("a session is a JSON object"));
}

TEST_F(CliCommands, RateLimitPeekCountsNothing) {
  const json::value first = json::parse(run({"ratelimit", "peek", "user", "ana", "--json"}).out);
  const json::value second = json::parse(run({"ratelimit", "peek", "user", "ana", "--json"}).out);
  EXPECT_TRUE(first.at("allowed").as_bool());
  EXPECT_EQ(first.at("remaining"), second.at("remaining"));
  EXPECT_EQ(first.at("limit"), first.at("remaining"));
}

TEST_F(CliCommands, AValkeyThatIsGoneIsExitCodeThree) {
  server().stop();
  const Result result = run({"ping"});
  EXPECT_EQ(result.code, cli::exit_valkey);
  EXPECT_THAT(result.err, HasSubstr("opencode-cache: "));
}

cache::Encryption sealed_context(std::vector<cache::EncryptionKey> keys) {
  cache::Encryption encryption;
  encryption.context = true;
  encryption.keys = std::move(keys);
  return encryption;
}

TEST_F(CliCommands, ReencryptSealsANamespaceAgainUnderTheFirstKey) {
  const cache::EncryptionKey old_key{"old", std::string(32, 'a')};
  const cache::EncryptionKey new_key{"new", std::string(32, 'b')};
  // Built here: g++ 12 miscompiles braced initializers inside coroutines.
  const cache::Json turns = json::parse(R"({"turns":3})");
  auto context_with = [&](const cache::Encryption& encryption,
                          bool write) -> std::optional<cache::Json> {
    std::optional<cache::Json> read;
    run_async([&](Executor ex) -> awaitable<void> {
      valkey::Client client(ex, config_for(server()));
      cache::CacheConfig config;
      config.encryption = encryption;
      cache::CacheService service(client, config);
      if (write) co_await service.cache_context("c1", turns);
      read = co_await service.get_cached_context("c1");
    });
    return read;
  };
  ASSERT_TRUE(context_with(sealed_context({old_key}), true));
  server().cli({"SET", "opencode:context:plain", "{}"});

  const Result rotated =
      run({"reencrypt", "context", "--json"}, nullptr, sealed_context({new_key, old_key}));
  EXPECT_EQ(rotated.code, cli::exit_ok);
  EXPECT_EQ(json::parse(rotated.out),
            json::parse(R"({"resealed":1,"current":0,"unopened":1,"changed":0})"));
  // The old key can go now.
  EXPECT_EQ(context_with(sealed_context({new_key}), false), turns);
  const Result again = run({"reencrypt", "context"}, nullptr, sealed_context({new_key}));
  EXPECT_THAT(again.out, HasSubstr("resealed 0, already current 1"));

  const Result not_sealed = run({"reencrypt", "metadata"}, nullptr, sealed_context({new_key}));
  EXPECT_EQ(not_sealed.code, cli::exit_usage);
  EXPECT_THAT(not_sealed.err, HasSubstr("metadata in CACHE_ENCRYPT"));
}

TEST_F(CliCommands, StatsCountsKeysPerNamespace) {
  server().cli({"SET", "opencode:context:c1", "1"});
  server().cli({"SET", "opencode:context:c2", "1"});
  const json::value doc = json::parse(run({"stats", "--json"}).out);
  EXPECT_EQ(doc.at("keys").at("context").as_int64(), 2);
  EXPECT_GT(doc.at("valkey").at("used_memory").as_int64(), 0);
  EXPECT_THAT(run({"stats"}).out, HasSubstr("context"));
}

}  // namespace
}  // namespace opencode_cache::testing

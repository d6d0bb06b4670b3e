// CacheService on a real server: the seed's data format, its fixed flaws, and fail-soft.

#include "opencode_cache/cache/cache_service.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "support/async_test.hpp"
#include "support/client_config.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using cache::CacheConfig;
using cache::CacheService;
using cache::Json;
using cache::JsonObject;
using valkey::Client;
using valkey::ClientConfig;

JsonObject object_of(std::string_view json) {
  return boost::json::parse(json).as_object();
}

class CacheServiceTest : public ValkeyTest {};

TEST_F(CacheServiceTest, ResponseIsStoredInTheSeedsKeyAndShape) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    co_await cache.cache_response("hello", "gpt-4", "Hi there");
    EXPECT_EQ(co_await cache.get_cached_response("hello", "gpt-4"), "Hi there");
    EXPECT_EQ(co_await cache.get_cached_response("hello", "gpt-3"), std::nullopt);
  });
  // sha256("gpt-4:hello") starts with 70b9d83fa68b044f.
  const std::string key = "opencode:response:70b9d83fa68b044f";
  const auto stored = boost::json::parse(valkey.cli({"GET", key})).as_object();
  EXPECT_EQ(stored.at("prompt"), "hello");
  EXPECT_EQ(stored.at("model"), "gpt-4");
  EXPECT_EQ(stored.at("response"), "Hi there");
  EXPECT_TRUE(stored.at("timestamp").is_int64());
  EXPECT_EQ(stored.size(), 4u);
  const int ttl = std::stoi(valkey.cli({"TTL", key}));
  EXPECT_GT(ttl, 3590);
  EXPECT_LE(ttl, 3600);
}

TEST_F(CacheServiceTest, RawValuesKeepTheirBytesAndTheNamespacesTtl) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  const std::string bytes = std::string("data: {\"a\":1}\n\n\0binary", 23);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    EXPECT_TRUE(co_await cache.write_raw(cache::ns::response, "k1", bytes));
    auto read = co_await cache.read_raw(cache::ns::response, "k1");
    EXPECT_TRUE(read.reachable);
    EXPECT_EQ(read.value, bytes);
    auto missing = co_await cache.read_raw(cache::ns::response, "k2");
    EXPECT_TRUE(missing.reachable);
    EXPECT_EQ(missing.value, std::nullopt);
    EXPECT_EQ(cache.stats().by_namespace().at("response").hits, 1u);
    EXPECT_EQ(cache.stats().by_namespace().at("response").misses, 1u);
  });
  const int ttl = std::stoi(valkey.cli({"TTL", "opencode:response:k1"}));
  EXPECT_GT(ttl, 3500);
  EXPECT_LE(ttl, 3600);
  valkey.kill();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    auto read = co_await cache.read_raw(cache::ns::response, "k1");
    EXPECT_FALSE(read.reachable);
    EXPECT_EQ(read.value, std::nullopt);
    EXPECT_FALSE(co_await cache.write_raw(cache::ns::response, "k1", bytes));
  });
}

TEST_F(CacheServiceTest, ResponseWrittenByTheSeedReadsBack) {
  auto& valkey = server();
  valkey.cli(
      {"SET", "opencode:response:70b9d83fa68b044f",
       R"({"prompt":"hello","model":"gpt-4","response":"from TypeScript","timestamp":1732400000000})",
       "EX", "3600"});
  auto config = quick_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    EXPECT_EQ(co_await cache.get_cached_response("hello", "gpt-4"), "from TypeScript");
  });
}

TEST_F(CacheServiceTest, DelimiterCollisionIsAMissNotTheOtherAnswer) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    // "a:b" + ":" + "c" and "a" + ":" + "b:c" hash alike: one key for both.
    EXPECT_EQ(cache.keys().response_key("c", "a:b"), cache.keys().response_key("b:c", "a"));
    co_await cache.cache_response("c", "a:b", "answer for model a:b");
    EXPECT_EQ(co_await cache.get_cached_response("b:c", "a"), std::nullopt);
    EXPECT_EQ(co_await cache.get_cached_response("c", "a:b"), "answer for model a:b");
  });
}

TEST_F(CacheServiceTest, ForeignValueUnderAResponseKeyIsACountedMiss) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    const auto key = cache.keys().response_key("p", "m");
    valkey.cli({"SET", key, "not json {"});
    EXPECT_EQ(co_await cache.get_cached_response("p", "m"), std::nullopt);
    valkey.cli({"SET", key, R"(["an", "array"])"});
    EXPECT_EQ(co_await cache.get_cached_response("p", "m"), std::nullopt);
    valkey.cli({"DEL", key});
    valkey.cli({"HSET", key, "f", "v"});  // not even a string
    EXPECT_EQ(co_await cache.get_cached_response("p", "m"), std::nullopt);
    const auto& stats = cache.stats().by_namespace().at("response");
    EXPECT_EQ(stats.misses, 3u);
    EXPECT_EQ(stats.invalid, 2u);
    EXPECT_EQ(stats.errors, 1u);  // WRONGTYPE
  });
}

TEST_F(CacheServiceTest, PerCallTtlOverridesTheDefault) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    co_await cache.cache_response("p", "m", "r", {.ttl = 42s});
    co_await cache.cache_context("conv", Json(1), {});
    co_await cache.set_metadata("meta", Json("x"), {.ttl = 7s});
    EXPECT_EQ(co_await client.ttl(cache.keys().response_key("p", "m")), 42);
    EXPECT_EQ(co_await client.ttl("opencode:context:conv"), 1800);
    EXPECT_EQ(co_await client.ttl("opencode:metadata:meta"), 7);
  });
}

TEST_F(CacheServiceTest, SessionLifecycle) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    EXPECT_EQ(co_await cache.get_session("s1"), std::nullopt);
    EXPECT_FALSE(co_await cache.update_session("s1", object_of(R"({"a":1})")));
    EXPECT_EQ(co_await client.exists("opencode:session:s1"), false);
    co_await cache.set_session("s1",
                               object_of(R"({"user":"u","files":[],"big":12345678901234567})"));
    EXPECT_TRUE(co_await cache.update_session("s1", object_of(R"({"model":"gpt-4"})")));
    const auto session = co_await cache.get_session("s1");
    EXPECT_TRUE(session.has_value());
    // Untouched fields keep their exact JSON: [] stays an array, big integers stay exact.
    EXPECT_EQ(boost::json::serialize(*session),
              R"({"user":"u","files":[],"big":12345678901234567,"model":"gpt-4"})");
    co_await client.expire("opencode:session:s1", 100s);
    EXPECT_TRUE(co_await cache.touch_session("s1"));
    EXPECT_EQ(co_await client.ttl("opencode:session:s1"), 86400);
    EXPECT_TRUE(co_await cache.delete_session("s1"));
    EXPECT_FALSE(co_await cache.touch_session("s1"));
    EXPECT_FALSE(co_await cache.delete_session("s1"));
  });
}

TEST_F(CacheServiceTest, SessionReadsAndUpdatesSlideTheTtl) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    co_await cache.set_session("s", object_of(R"({"a":1})"));
    co_await client.expire("opencode:session:s", 10s);
    co_await cache.get_session("s");
    EXPECT_EQ(co_await client.ttl("opencode:session:s"), 86400);
    co_await client.expire("opencode:session:s", 10s);
    co_await cache.update_session("s", object_of(R"({"b":2})"));
    EXPECT_EQ(co_await client.ttl("opencode:session:s"), 86400);
  });
}

TEST_F(CacheServiceTest, FiftyConcurrentSessionUpdatesAllSurvive) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    Client other(ex, config);  // a second instance, its own connection
    CacheService cache(client);
    CacheService other_cache(other);
    co_await cache.set_session("shared", object_of(R"({"created":true})"));
    int done = 0;
    int failed = 0;
    for (int i = 0; i < 50; ++i) {
      CacheService& writer = i % 2 == 0 ? cache : other_cache;
      boost::asio::co_spawn(
          ex,
          [&, i]() -> awaitable<void> {
            JsonObject update;
            update["field" + std::to_string(i)] = i;
            if (!co_await writer.update_session("shared", update)) ++failed;
            ++done;
          },
          boost::asio::detached);
    }
    co_await wait_until([&] { return done == 50; });
    EXPECT_EQ(failed, 0);
    const auto session = co_await cache.get_session("shared");
    EXPECT_EQ(session->size(), 51u);
    for (int i = 0; i < 50; ++i) {
      EXPECT_EQ(session->at("field" + std::to_string(i)), i) << "field" << i << " was lost";
    }
  });
}

TEST_F(CacheServiceTest, SessionThatIsNotAnObjectIsAnError) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  valkey.cli({"SET", "opencode:session:bad", "[1,2]"});
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    try {
      co_await cache.get_session("bad");
      ADD_FAILURE() << "a session must be a JSON object";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), valkey::errc::invalid_json);
    }
    try {
      co_await cache.update_session("bad", object_of(R"({"a":1})"));
      ADD_FAILURE() << "a session must be a JSON object";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), valkey::errc::invalid_json);
    }
    EXPECT_EQ(co_await client.get("opencode:session:bad"), "[1,2]");  // untouched
  });
}

TEST_F(CacheServiceTest, ContextAndMetadataHoldAnyJson) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    const Json context = boost::json::parse(R"([{"role":"user","content":"hi"}])");
    co_await cache.cache_context("c1", context);
    EXPECT_EQ(co_await cache.get_cached_context("c1"), context);
    co_await cache.set_metadata("m1", Json("plain string"));
    EXPECT_EQ(co_await cache.get_metadata("m1"), Json("plain string"));
    EXPECT_TRUE(co_await cache.delete_context("c1"));
    EXPECT_EQ(co_await cache.get_cached_context("c1"), std::nullopt);
    EXPECT_TRUE(co_await cache.delete_metadata("m1"));
    EXPECT_FALSE(co_await cache.delete_metadata("m1"));
    const auto& stats = cache.stats().by_namespace().at("context");
    EXPECT_EQ(stats.hits, 1u);
    EXPECT_EQ(stats.misses, 1u);
    EXPECT_EQ(stats.writes, 1u);
  });
}

TEST_F(CacheServiceTest, ReadsCanRefreshTheTtl) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client, CacheConfig{.refresh_ttl_on_read = true});
    co_await cache.cache_context("c", Json(1));
    co_await client.expire("opencode:context:c", 10s);
    co_await cache.get_cached_context("c");
    EXPECT_EQ(co_await client.ttl("opencode:context:c"), 1800);
  });
}

TEST_F(CacheServiceTest, InvalidationOfOneKeyANamespaceAndAPattern) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    co_await cache.set_metadata("a", Json(1));
    co_await cache.set_metadata("b", Json(2));
    co_await cache.cache_context("x1", Json(1));
    co_await cache.cache_context("x2", Json(2));
    co_await cache.cache_context("y1", Json(3));
    co_await client.set("unrelated:context:x1", "keep");
    EXPECT_TRUE(co_await cache.invalidate("metadata", "a"));
    EXPECT_FALSE(co_await cache.invalidate("metadata", "a"));
    EXPECT_EQ(co_await cache.invalidate_pattern("context:x*"), 2u);
    EXPECT_EQ(co_await cache.get_cached_context("y1"), Json(3));
    EXPECT_EQ(co_await cache.invalidate_namespace("context"), 1u);
    EXPECT_EQ(co_await cache.invalidate_namespace("metadata"), 1u);
    EXPECT_EQ(co_await client.get("unrelated:context:x1"), "keep");
  });
}

TEST_F(CacheServiceTest, PatternInvalidationOver200kKeysCountsRight) {
  auto& valkey = server();
  valkey.cli({"DEBUG", "POPULATE", "150000", "opencode:context", "16"});
  valkey.cli({"DEBUG", "POPULATE", "50000", "opencode:session", "16"});
  auto config = quick_reconnect_config(valkey);
  config.command_timeout = 30s;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    EXPECT_EQ(co_await cache.invalidate_pattern("context:*"), 150000u);
    const auto counts = co_await cache.key_counts();
    EXPECT_EQ(counts.count("context"), 0u);
    EXPECT_EQ(counts.at("session"), 50000u);
  });
  EXPECT_EQ(valkey.cli({"DBSIZE"}), "50000");
}

TEST_F(CacheServiceTest, BatchesReadAndWriteInOneRoundTrip) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    std::vector<std::pair<std::string, Json>> entries;
    for (int i = 0; i < 100; ++i) entries.emplace_back("k" + std::to_string(i), Json(i));
    const auto writes_before = client.stats().writes;
    co_await cache.set_many("metadata", entries, {.ttl = 60s});
    EXPECT_EQ(client.stats().writes - writes_before, 1u);
    co_await client.set("opencode:metadata:bad", "{");
    const auto values = co_await cache.get_many("metadata", strings("k0", "k99", "missing", "bad"));
    EXPECT_EQ(values.size(), 4u);
    EXPECT_EQ(values[0], Json(0));
    EXPECT_EQ(values[1], Json(99));
    EXPECT_EQ(values[2], std::nullopt);
    EXPECT_EQ(values[3], std::nullopt);
    EXPECT_EQ(co_await client.ttl("opencode:metadata:k5"), 60);
  });
}

TEST_F(CacheServiceTest, StatsIncludeValkeysOwnFigures) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    co_await cache.set_metadata("a", Json(1));
    co_await cache.get_metadata("a");
    co_await cache.get_metadata("nope");
    const auto info = co_await cache.server_info();
    EXPECT_GT(info.used_memory, 0u);
    EXPECT_GE(info.keyspace_hits, 1u);
    EXPECT_GE(info.keyspace_misses, 1u);
    EXPECT_GE(info.connected_clients, 1u);
    const auto total = cache.stats().total();
    EXPECT_EQ(total.hits, 1u);
    EXPECT_EQ(total.misses, 1u);
    EXPECT_EQ(total.latency.count(), 3u);
    EXPECT_GT(total.latency.percentile_us(50), 0u);
  });
}

TEST_F(CacheServiceTest, ConfigFromEnvironment) {
  std::map<std::string, std::string> env{
      {"CACHE_TTL_RESPONSE", "10"}, {"CACHE_TTL_SESSION", "20"}, {"CACHE_KEY_PREFIX", "oc"}};
  auto lookup = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  const auto config = CacheConfig::from_env(lookup);
  EXPECT_EQ(config.ttl.response, 10s);
  EXPECT_EQ(config.ttl.session, 20s);
  EXPECT_EQ(config.ttl.context, 1800s);
  EXPECT_EQ(config.ttl.metadata, 300s);
  EXPECT_EQ(config.prefix, "oc");
  for (const char* bad : {"0", "-5", "ten", "10s", "1.5"}) {
    env["CACHE_TTL_METADATA"] = bad;
    try {
      CacheConfig::from_env(lookup);
      ADD_FAILURE() << "accepted CACHE_TTL_METADATA=" << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr("CACHE_TTL_METADATA"));
    }
  }
}

}  // namespace
}  // namespace opencode_cache::testing

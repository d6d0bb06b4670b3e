// update_session merges on the server in one round trip (src/cache/lua/merge_session.lua):
// what it keeps of the stored text, and what it refuses to touch.

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <string>

#include "opencode_cache/cache/cache_service.hpp"
#include "support/async_test.hpp"
#include "support/client_config.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using cache::CacheService;
using cache::JsonObject;
using valkey::Client;
using valkey::ClientConfig;

JsonObject object_of(std::string_view json) {
  return boost::json::parse(json).as_object();
}

// "calls=N" of one command in INFO commandstats; 0 when the command never ran.
int calls_of(const ValkeyServer& server, const std::string& command) {
  const std::string stats = server.cli({"INFO", "commandstats"});
  const std::string label = "cmdstat_" + command + ":calls=";
  const auto at = stats.find(label);
  return at == std::string::npos ? 0 : std::stoi(stats.substr(at + label.size()));
}

class SessionUpdateTest : public ValkeyTest {};

TEST_F(SessionUpdateTest, IsOneScriptCallThatReadsNothingBeforehand) {
  auto& valkey = server();
  auto config = client_config(valkey);
  valkey.cli({"SET", "opencode:session:s", R"({"a":1})"});
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    EXPECT_TRUE(co_await cache.update_session("s", object_of(R"({"b":1})")));  // loads it
    valkey.cli({"CONFIG", "RESETSTAT"});
    EXPECT_TRUE(co_await cache.update_session("s", object_of(R"({"b":2})")));
  });
  EXPECT_EQ(calls_of(valkey, "evalsha"), 1);
  EXPECT_EQ(calls_of(valkey, "eval"), 0);
  EXPECT_EQ(calls_of(valkey, "get"), 1);  // the script's own: the client read nothing
  EXPECT_EQ(valkey.cli({"GET", "opencode:session:s"}), R"({"a":1,"b":2})");
}

TEST_F(SessionUpdateTest, KeepsEveryOtherMemberByteForByteAndReplacesNamedOnesInPlace) {
  auto& valkey = server();
  auto config = client_config(valkey);
  // As another writer might have stored it: spaces, nested brackets and quotes in strings,
  // numbers a double cannot hold, an empty array, a name written with an escape.
  const std::string stored = R"( { "big" : 12345678901234567890, "files": [], "note": "}]\" {[", )"
                             R"("\u0074urn": 1, "nested": {"x": [1, {"y": "]"}]}, "f": 1.50 } )";
  valkey.cli({"SET", "opencode:session:s", stored});
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    EXPECT_TRUE(co_await cache.update_session(
        "s", object_of(R"({"turn":2,"files":["a.cpp"],"model":"gpt-4o"})")));
    const auto session = co_await cache.get_session("s");
    EXPECT_TRUE(session.has_value());
    if (!session) co_return;
    EXPECT_EQ(session->size(), 7u);  // "turn" replaced, not added beside "\u0074urn"
    EXPECT_EQ(session->at("turn"), 2);
  });
  EXPECT_EQ(valkey.cli({"GET", "opencode:session:s"}),
            R"({"big" : 12345678901234567890,"files":["a.cpp"],"note": "}]\" {[",)"
            R"("turn":2,"nested": {"x": [1, {"y": "]"}]},"f": 1.50,"model":"gpt-4o"})");
}

TEST_F(SessionUpdateTest, NamesThatNeedEscapesAreWrittenAsJson) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    co_await cache.set_session("s", object_of(R"({"a\"b":1})"));
    JsonObject updates;
    updates["a\"b"] = 2;
    updates["line\nbreak"] = "\"quoted\"";
    EXPECT_TRUE(co_await cache.update_session("s", updates));
    const auto session = co_await cache.get_session("s");
    EXPECT_TRUE(session.has_value());
    if (!session) co_return;
    EXPECT_EQ(*session, updates);
  });
}

TEST_F(SessionUpdateTest, AnEmptyObjectGetsItsFirstFieldsAndAMissingSessionStaysMissing) {
  auto& valkey = server();
  auto config = client_config(valkey);
  valkey.cli({"SET", "opencode:session:empty", "{ }"});
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    EXPECT_TRUE(co_await cache.update_session("empty", object_of(R"({"a":1,"b":[]})")));
    EXPECT_FALSE(co_await cache.update_session("missing", object_of(R"({"a":1})")));
    EXPECT_FALSE(co_await client.exists("opencode:session:missing"));
  });
  EXPECT_EQ(valkey.cli({"GET", "opencode:session:empty"}), R"({"a":1,"b":[]})");
}

TEST_F(SessionUpdateTest, KeepsTheTtlWhenSessionsDoNotSlide) {
  auto& valkey = server();
  auto config = client_config(valkey);
  valkey.cli({"SET", "opencode:session:s", R"({"a":1})", "EX", "500"});
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    cache::CacheConfig fixed;
    fixed.sliding_session_ttl = false;
    CacheService cache(client, fixed);
    EXPECT_TRUE(co_await cache.update_session("s", object_of(R"({"a":2})")));
    const auto ttl = co_await client.ttl("opencode:session:s");
    EXPECT_GT(ttl, 490);
    EXPECT_LE(ttl, 500);
  });
}

// Values someone else wrote under a session key: each update is refused with an error naming
// the session, and the value, its type and its TTL are left exactly as they were.
TEST_F(SessionUpdateTest, ValuesThatAreNotJsonObjectsAreRefusedAndLeftAlone) {
  auto& valkey = server();
  auto config = client_config(valkey);
  const std::vector<std::string> foreign = {"hello",     "[1,2]",         R"("text")",    "42",
                                            R"({"a":1)", R"({"a":1} {})", R"({"a":0x10})"};
  for (std::size_t i = 0; i < foreign.size(); ++i) {
    valkey.cli({"SET", "opencode:session:f" + std::to_string(i), foreign[i], "EX", "500"});
  }
  valkey.cli({"HSET", "opencode:session:hash", "field", "value"});
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < foreign.size(); ++i) ids.push_back("f" + std::to_string(i));
    ids.emplace_back("hash");
    for (const std::string& id : ids) {
      std::string message;
      try {
        co_await cache.update_session(id, object_of(R"({"a":2})"));
        ADD_FAILURE() << "session " << id << " was updated";
      } catch (const valkey::Error& e) {
        EXPECT_EQ(e.code(), valkey::errc::invalid_json) << id;
        message = e.what();
      }
      EXPECT_NE(message.find("session '" + id + "'"), std::string::npos) << message;
    }
    EXPECT_EQ(cache.stats().by_namespace().at("session").invalid, ids.size());
  });
  for (std::size_t i = 0; i < foreign.size(); ++i) {
    const std::string key = "opencode:session:f" + std::to_string(i);
    EXPECT_EQ(valkey.cli({"GET", key}), foreign[i]);
    EXPECT_GT(std::stoi(valkey.cli({"TTL", key})), 490);
  }
  EXPECT_EQ(valkey.cli({"HGET", "opencode:session:hash", "field"}), "value");
}

}  // namespace
}  // namespace opencode_cache::testing

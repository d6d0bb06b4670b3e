// The JSON helpers against a real valkey-server: user types with Boost.JSON conversions,
// values the seed's TypeScript writes, and values that are not the JSON asked for.

#include "opencode_cache/valkey/json.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "support/async_test.hpp"
#include "support/client_config.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using valkey::Client;
using valkey::ClientConfig;
using valkey::errc;
namespace json = valkey::json;

// The seed's cache entry, as its TypeScript stores it with JSON.stringify.
struct CacheEntry {
  std::string prompt;
  std::string model;
  std::string response;
  std::int64_t timestamp = 0;

  friend bool operator==(const CacheEntry&, const CacheEntry&) = default;
  friend std::ostream& operator<<(std::ostream& out, const CacheEntry& e) {
    return out << "{" << e.prompt << ", " << e.model << ", " << e.response << ", " << e.timestamp
               << "}";
  }
};

void tag_invoke(boost::json::value_from_tag, boost::json::value& out, const CacheEntry& entry) {
  out = {{"prompt", entry.prompt},
         {"model", entry.model},
         {"response", entry.response},
         {"timestamp", entry.timestamp}};
}

CacheEntry tag_invoke(boost::json::value_to_tag<CacheEntry>, const boost::json::value& in) {
  const auto& object = in.as_object();
  return CacheEntry{
      .prompt = boost::json::value_to<std::string>(object.at("prompt")),
      .model = boost::json::value_to<std::string>(object.at("model")),
      .response = boost::json::value_to<std::string>(object.at("response")),
      .timestamp = boost::json::value_to<std::int64_t>(object.at("timestamp")),
  };
}

CacheEntry entry(const std::string& prompt, std::int64_t timestamp = 1700000000000) {
  return {.prompt = prompt,
          .model = "gpt-x",
          .response = "answer to " + prompt,
          .timestamp = timestamp};
}

// Awaits `get` and returns the Error it throws; fails the test when it throws none.
template <class T>
awaitable<valkey::Error> json_error(valkey::Task<std::optional<T>> get) {
  try {
    co_await std::move(get);
  } catch (const valkey::Error& e) {
    co_return e;
  }
  ADD_FAILURE() << "reading the value must throw";
  co_return valkey::Error(errc::server_error, "did not throw");
}

class ClientJson : public ValkeyTest {};

TEST_F(ClientJson, UserTypeRoundTripsWithTtl) {
  auto& valkey = server();
  auto config = client_config(valkey);
  const CacheEntry written =
      entry("what is \"valkey\"?\n\xC3\xA9t\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC");
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await json::set(client, "opencode:entry", written, 120s);
    const auto back = co_await json::get<CacheEntry>(client, "opencode:entry");
    EXPECT_EQ(back, written);
  });
  const auto ttl = std::stoi(valkey.cli({"TTL", "opencode:entry"}));
  EXPECT_GT(ttl, 100);
  EXPECT_LE(ttl, 120);
  // Stored as plain JSON text that any other client can read.
  const auto stored = boost::json::parse(valkey.cli({"GET", "opencode:entry"}));
  EXPECT_EQ(stored.at("prompt").as_string(), written.prompt);
  EXPECT_EQ(stored.at("timestamp").to_number<std::int64_t>(), 1700000000000);
}

TEST_F(ClientJson, SetWithoutTtlDoesNotExpire) {
  auto& valkey = server();
  auto config = client_config(valkey);
  const CacheEntry written = entry("forever");
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await json::set(client, "k", written);
    EXPECT_EQ(co_await json::get<CacheEntry>(client, "k"), written);
  });
  EXPECT_EQ(valkey.cli({"TTL", "k"}), "-1");
}

TEST_F(ClientJson, StandardTypesRoundTrip) {
  auto config = client_config(server());
  const std::vector<std::string> list = strings("a", "b", "c");
  const std::map<std::string, int> counts = {{"x", 1}, {"y", 2}};
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await json::set(client, "n", 42);
    co_await json::set(client, "list", list);
    co_await json::set(client, "counts", counts);
    co_await json::set(client, "text", std::string("plain \"text\""));
    EXPECT_EQ(co_await json::get<int>(client, "n"), 42);
    EXPECT_EQ(co_await json::get<std::vector<std::string>>(client, "list"), list);
    const auto counts_back = co_await json::get<std::map<std::string, int>>(client, "counts");
    EXPECT_EQ(counts_back, counts);
    EXPECT_EQ(co_await json::get<std::string>(client, "text"), "plain \"text\"");
  });
}

TEST_F(ClientJson, MissingKeyIsNullopt) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    EXPECT_EQ(co_await json::get<CacheEntry>(client, "nothing here"), std::nullopt);
    EXPECT_EQ(co_await json::hget<CacheEntry>(client, "no hash", "f"), std::nullopt);
    EXPECT_TRUE((co_await json::hgetall<CacheEntry>(client, "no hash")).empty());
  });
}

TEST_F(ClientJson, HashFieldsRoundTrip) {
  auto& valkey = server();
  auto config = client_config(valkey);
  const CacheEntry first = entry("first", 1);
  const CacheEntry second = entry("second", 2);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await json::hset(client, "h", "one", first);
    co_await json::hset(client, "h", "two", second);
    EXPECT_EQ(co_await json::hget<CacheEntry>(client, "h", "one"), first);
    EXPECT_EQ(co_await json::hget<CacheEntry>(client, "h", "two"), second);
    EXPECT_EQ(co_await json::hget<CacheEntry>(client, "h", "three"), std::nullopt);
    auto all = co_await json::hgetall<CacheEntry>(client, "h");
    std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.first < b.first; });
    EXPECT_EQ(all.size(), 2u);
    if (all.size() == 2) {
      EXPECT_EQ(all[0].first, "one");
      EXPECT_EQ(all[0].second, first);
      EXPECT_EQ(all[1].first, "two");
      EXPECT_EQ(all[1].second, second);
    }
  });
  EXPECT_EQ(valkey.cli({"HLEN", "h"}), "2");
}

TEST_F(ClientJson, HgetallLeavesOutJsonNullFields) {
  auto& valkey = server();
  valkey.cli({"HSET", "h", "present", "[1,2]", "gone", "null"});
  auto config = client_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    const auto all = co_await json::hgetall<std::vector<int>>(client, "h");
    EXPECT_EQ(all.size(), 1u);
    if (!all.empty()) {
      EXPECT_EQ(all[0].first, "present");
      EXPECT_EQ(all[0].second.size(), 2u);
    }
    EXPECT_EQ(co_await json::hget<std::vector<int>>(client, "h", "gone"), std::nullopt);
  });
}

TEST_F(ClientJson, ForeignNonJsonValueIsInvalidJsonNamingTheKey) {
  auto& valkey = server();
  valkey.cli({"SET", "written:elsewhere", "not json{"});
  valkey.cli({"HSET", "foreign:hash", "bad:field", "{oops"});
  auto config = client_config(valkey);
  const CacheEntry good = entry("good");
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    const auto e = co_await json_error(json::get<CacheEntry>(client, "written:elsewhere"));
    EXPECT_EQ(e.code(), errc::invalid_json);
    EXPECT_THAT(e.what(), HasSubstr("written:elsewhere"));

    const auto field =
        co_await json_error(json::hget<CacheEntry>(client, "foreign:hash", "bad:field"));
    EXPECT_EQ(field.code(), errc::invalid_json);
    EXPECT_THAT(field.what(), HasSubstr("foreign:hash"));
    EXPECT_THAT(field.what(), HasSubstr("bad:field"));

    // The connection is unharmed: the next commands work.
    EXPECT_TRUE(co_await client.ping());
    co_await json::set(client, "good", good);
    EXPECT_EQ(co_await json::get<CacheEntry>(client, "good"), good);
    EXPECT_EQ(co_await client.get("written:elsewhere"), "not json{");
  });
}

TEST_F(ClientJson, HgetallWithAForeignValueIsInvalidJson) {
  auto& valkey = server();
  valkey.cli({"HSET", "mixed", "ok", "1", "broken", "nope"});
  auto config = client_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    try {
      co_await json::hgetall<int>(client, "mixed");
      ADD_FAILURE() << "a field that is not JSON must throw";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), errc::invalid_json);
      EXPECT_THAT(e.what(), HasSubstr("broken"));
      EXPECT_THAT(e.what(), HasSubstr("mixed"));
    }
  });
}

TEST_F(ClientJson, JsonOfTheWrongShapeIsInvalidJson) {
  auto& valkey = server();
  valkey.cli({"SET", "array", "[1,2,3]"});
  valkey.cli({"SET", "partial", R"({"prompt":"p","model":"m"})"});
  valkey.cli({"SET", "mistyped", R"({"prompt":1,"model":"m","response":"r","timestamp":0})"});
  valkey.cli({"SET", "text", R"("just text")"});
  auto config = client_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    for (const std::string& key : strings("array", "partial", "mistyped", "text")) {
      const auto e = co_await json_error(json::get<CacheEntry>(client, key));
      EXPECT_EQ(e.code(), errc::invalid_json) << key;
      EXPECT_THAT(e.what(), HasSubstr("'" + key + "'"));
    }
    const auto e = co_await json_error(json::get<int>(client, "text"));
    EXPECT_EQ(e.code(), errc::invalid_json);
    EXPECT_TRUE(co_await client.ping());
  });
}

TEST_F(ClientJson, StoredNullReadsAsNullopt) {
  auto& valkey = server();
  valkey.cli({"SET", "null-value", "null"});
  auto config = client_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    EXPECT_EQ(co_await json::get<CacheEntry>(client, "null-value"), std::nullopt);
    EXPECT_EQ(co_await json::get<int>(client, "null-value"), std::nullopt);
  });
}

TEST_F(ClientJson, ValueWrittenByTheSeedsTypescriptReadsBack) {
  auto& valkey = server();
  // JSON.stringify({prompt, model, response, timestamp: Date.now()}), as the seed stores it.
  valkey.cli({"SET", "opencode:cache:abc",
              R"({"prompt":"p","model":"m","response":"r","timestamp":1700000000000})"});
  // JSON.stringify escapes control characters and quotes; \u escapes must decode.
  valkey.cli({"SET", "opencode:cache:escaped",
              R"({"prompt":"line\n\"q\" caf\u00e9","model":"m","response":"r","timestamp":1})"});
  auto config = client_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    const auto plain = co_await json::get<CacheEntry>(client, "opencode:cache:abc");
    EXPECT_TRUE(plain.has_value());
    if (plain) {
      EXPECT_EQ(plain->prompt, "p");
      EXPECT_EQ(plain->model, "m");
      EXPECT_EQ(plain->response, "r");
      EXPECT_EQ(plain->timestamp, 1700000000000);
    }
    const auto escaped = co_await json::get<CacheEntry>(client, "opencode:cache:escaped");
    EXPECT_TRUE(escaped.has_value());
    if (escaped) {
      EXPECT_EQ(escaped->prompt, "line\n\"q\" caf\xC3\xA9");
    }
  });
}

}  // namespace
}  // namespace opencode_cache::testing

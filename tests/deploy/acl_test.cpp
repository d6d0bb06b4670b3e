// The ACL scripts/valkey-serve renders: no access without a password, the application user
// confined to its key prefix and channels and refused every administrative command, while
// everything the library sends on the application's behalf keeps working as that user.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "deploy/project_valkey.hpp"
#include "opencode_cache/cache/cache_service.hpp"
#include "opencode_cache/ratelimit/rate_limiter.hpp"
#include "opencode_cache/valkey/error.hpp"
#include "opencode_cache/valkey/pipeline.hpp"
#include "opencode_cache/valkey/scanner.hpp"
#include "opencode_cache/valkey/subscriber.hpp"
#include "opencode_cache/valkey/watch_transaction.hpp"
#include "support/async_test.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using cache::CacheService;
using cache::Json;
using cache::JsonObject;
using ratelimit::Algorithm;
using ratelimit::RateLimiter;
using ratelimit::RateLimiterConfig;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using valkey::Client;
using valkey::Command;
using valkey::Pipeline;

// The commands issue 12 names, and a few more, each in a form the server would otherwise run.
std::vector<std::vector<std::string>> denied_commands() {
  return {
      {"FLUSHALL"},
      {"FLUSHDB"},
      {"CONFIG", "GET", "maxmemory"},
      {"CONFIG", "SET", "maxmemory", "1gb"},
      {"KEYS", "opencode:*"},
      {"DEBUG", "SLEEP", "0"},
      {"SHUTDOWN", "NOSAVE"},
      {"MODULE", "LIST"},
      {"MIGRATE", "127.0.0.1", "1", "opencode:kept", "0", "1000"},
      {"ACL", "SETUSER", "opencode", "+@all"},
      {"SCRIPT", "FLUSH"},
      {"FUNCTION", "FLUSH"},
  };
}

Command command_of(const std::vector<std::string>& words) {
  return Command(words.front()).args(std::vector<std::string>(words.begin() + 1, words.end()));
}

std::vector<std::string> dry_run_as_app_user(const std::vector<std::string>& words) {
  std::vector<std::string> dry_run = {"ACL", "DRYRUN", kAppUser};
  dry_run.insert(dry_run.end(), words.begin(), words.end());
  return dry_run;
}

// The server's refusal of `command` as the client's user ("NOPERM ..."), or "accepted".
awaitable<std::string> refusal_of(Client& client, Command command) {
  try {
    co_await client.command(std::move(command));
  } catch (const valkey::ServerError& e) {
    co_return e.message();
  }
  co_return "accepted";
}

class AclTest : public ValkeyTest {};

TEST_F(AclTest, AppUserIsRefusedEveryAdministrativeCommand) {
  for (const char* role : {"cache", "state"}) {
    SCOPED_TRACE(role);
    auto& valkey = start_server(project_valkey(role));
    valkey.cli({"SET", "opencode:kept", "1"});
    const auto config = app_config(valkey);
    run_async([&](Executor ex) -> awaitable<void> {
      Client client(ex, config);
      for (const auto& words : denied_commands()) {
        const std::string refusal = co_await refusal_of(client, command_of(words));
        // DEBUG is off for every user (enable-debug-command no), which Valkey checks first.
        if (words.front() == "DEBUG") {
          EXPECT_THAT(refusal, HasSubstr("DEBUG command not allowed"));
        } else {
          EXPECT_THAT(refusal, StartsWith("NOPERM")) << words.front();
        }
      }
    });
    // The ACL's own verdict, whatever else guards a command.
    for (const auto& words : denied_commands()) {
      EXPECT_THAT(valkey.cli(dry_run_as_app_user(words)), HasSubstr("no permissions"))
          << words.front();
    }
    // Nothing above ran: the key is still there and the server still up.
    EXPECT_EQ(valkey.cli({"GET", "opencode:kept"}), "1");
    EXPECT_EQ(valkey.cli({"CONFIG", "GET", "maxmemory"}).find("1073741824"), std::string::npos);
  }
}

TEST_F(AclTest, AppUserReachesOnlyItsKeysAndChannels) {
  auto& valkey = start_server(project_valkey("cache"));
  const auto config = app_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    EXPECT_THAT(co_await refusal_of(client, Command("SET", "other:key", "1")),
                StartsWith("NOPERM"));
    EXPECT_THAT(co_await refusal_of(client, Command("GET", "other:key")), StartsWith("NOPERM"));
    EXPECT_THAT(co_await refusal_of(client, Command("PUBLISH", "other", "x")),
                StartsWith("NOPERM"));
    // A script cannot reach past the prefix either.
    EXPECT_THAT(co_await refusal_of(client, Command("EVAL", "return redis.call('SET', KEYS[1], 1)",
                                                    "1", "other:key")),
                HasSubstr("NOPERM"));
    valkey::Subscriber subscriber(ex, config);
    EXPECT_THROW(co_await subscriber.subscribe("other"), valkey::ServerError);
  });
  EXPECT_EQ(valkey.cli({"EXISTS", "other:key"}), "0");
}

TEST_F(AclTest, NoAccessWithoutTheRightPassword) {
  auto& valkey = start_server(project_valkey("cache"));
  auto anonymous = app_config(valkey);
  anonymous.username.clear();
  anonymous.password.clear();
  auto wrong = app_config(valkey);
  wrong.password = "guess";
  auto as_default = app_config(valkey);
  as_default.username = "default";
  as_default.password = "any";
  run_async([&](Executor ex) -> awaitable<void> {
    Client no_user(ex, anonymous);
    EXPECT_THROW(co_await no_user.ping(), valkey::Error);
    Client wrong_password(ex, wrong);
    EXPECT_THROW(co_await wrong_password.ping(), valkey::Error);
    Client default_user(ex, as_default);
    EXPECT_THROW(co_await default_user.ping(), valkey::Error);
  });
  // The password is nowhere in plain text: the ACL file has its SHA-256 only, mode 0600.
  const auto acl_file = valkey.dir() / "run" / "cache-users.acl";
  ASSERT_TRUE(std::filesystem::exists(acl_file));
  EXPECT_EQ(std::filesystem::status(acl_file).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::ifstream in(acl_file);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("user default off"));
  EXPECT_EQ(text.find(kAppPassword), std::string::npos);
  EXPECT_EQ(text.find(kAdminPassword), std::string::npos);
}

awaitable<Json> fetch_models() {
  co_return Json("models");
}

// A representative pass over the library's operations, as the deployed server makes them.
awaitable<void> use_the_cache_service(CacheService& cache) {
  co_await cache.cache_response("hello", "gpt-4", "hi");
  EXPECT_EQ(co_await cache.get_cached_response("hello", "gpt-4"), "hi");

  JsonObject session;
  session["user"] = "alice";
  co_await cache.set_session("s1", session);
  JsonObject changes;
  changes["title"] = "t";
  EXPECT_TRUE(co_await cache.update_session("s1", changes));  // EVALSHA
  EXPECT_TRUE((co_await cache.get_session("s1")).has_value());
  EXPECT_TRUE(co_await cache.touch_session("s1"));

  co_await cache.cache_context("c1", Json("context"));
  EXPECT_EQ(co_await cache.get_cached_context("c1"), Json("context"));
  co_await cache.set_metadata("m1", Json(1));
  EXPECT_EQ(co_await cache.get_metadata("m1"), Json(1));
  std::vector<std::pair<std::string, Json>> entries;
  entries.emplace_back("a", Json(1));
  entries.emplace_back("b", Json(2));
  co_await cache.set_many("metadata", entries);
  EXPECT_EQ((co_await cache.get_many("metadata", strings("a", "b"))).size(), 2u);
  // A lease (SET NX) and its release script.
  EXPECT_EQ(co_await cache.get_or_fetch("models", fetch_models), Json("models"));

  EXPECT_GT((co_await cache.server_info()).maxmemory, 0u);     // INFO
  EXPECT_EQ((co_await cache.key_counts()).at("session"), 1u);  // SCAN
  EXPECT_TRUE(co_await cache.invalidate("context", "c1"));     // UNLINK
  EXPECT_EQ(co_await cache.invalidate_namespace("metadata"), 3u);
  EXPECT_TRUE(co_await cache.delete_session("s1"));
  EXPECT_GE(co_await cache.invalidate_pattern("*"), 1u);
  EXPECT_EQ(cache.stats().total().errors, 0u);
  EXPECT_EQ(cache.stats().total().writes_dropped, 0u);
}

std::vector<ratelimit::LimitRef> user_and_provider() {
  return {{"user", "bob"}, {"provider", "openai"}};
}

awaitable<void> use_the_rate_limiter(Client& state) {
  RateLimiterConfig config;
  config.limits["global"].algorithm = Algorithm::gcra;
  RateLimiter limiter(state, config);
  EXPECT_TRUE((co_await limiter.check("user", "alice")).allowed);  // sliding log script
  EXPECT_TRUE((co_await limiter.check("global", "all")).allowed);  // GCRA
  EXPECT_TRUE(ratelimit::all_allowed(co_await limiter.check_many(user_and_provider())));
  EXPECT_EQ((co_await limiter.peek("user", "alice")).remaining, 59u);
  EXPECT_EQ(limiter.stats().unavailable, 0u);
}

awaitable<void> use_the_client(Client& client) {
  EXPECT_TRUE(co_await client.ping());
  EXPECT_TRUE(co_await client.set("opencode:k", "v", {.ttl = 60s}));
  EXPECT_EQ(co_await client.get("opencode:k"), "v");
  EXPECT_EQ(co_await client.incr("opencode:n"), 1);
  EXPECT_EQ(co_await client.hset("opencode:h", "f", "v"), 1);
  Pipeline pipeline;
  pipeline.add("GET", "opencode:k");
  pipeline.add("EXPIRE", "opencode:n", 60);
  EXPECT_EQ((co_await client.execute(pipeline)).size(), 2u);
  EXPECT_EQ((co_await client.transaction(pipeline)).size(), 2u);  // MULTI/EXEC
  co_await valkey::watch_transaction(client, strings("opencode:n"),
                                     [](Client& c) -> valkey::Task<std::optional<Pipeline>> {
                                       co_await c.get("opencode:n");
                                       Pipeline writes;
                                       writes.add("INCR", "opencode:n");
                                       co_return writes;
                                     });
  const auto sha = co_await client.command(
      Command("SCRIPT", "LOAD", std::string(RateLimiter::script().source())));
  EXPECT_EQ(sha.string, RateLimiter::script().sha1());
  valkey::Scanner scanner = valkey::Scanner::keys(client, {.match = "opencode:*", .count = 100});
  std::size_t keys = 0;
  while (auto batch = co_await scanner.next()) keys += batch->size();
  EXPECT_EQ(keys, 3u);
  EXPECT_EQ(co_await client.del(strings("opencode:k", "opencode:n", "opencode:h")), 3);
}

awaitable<void> use_pub_sub(Executor ex, Client& client, const valkey::ClientConfig& config) {
  valkey::Subscriber subscriber(ex, config);
  co_await subscriber.subscribe("opencode:events");
  // Valkey's ACL compares a PSUBSCRIBE pattern with the allowed ones literally: the
  // prefix's own pattern is allowed, a narrower one ("opencode:events:*") is not.
  co_await subscriber.psubscribe("opencode:*");
  EXPECT_EQ(co_await client.publish("opencode:events", "hello"), 2);
  EXPECT_EQ((co_await subscriber.next()).payload, "hello");
  EXPECT_EQ((co_await subscriber.next()).payload, "hello");
}

TEST_F(AclTest, LibraryOperationsWorkAsTheAppUser) {
  auto& cache_valkey = start_server(project_valkey("cache"));
  auto& state_valkey = start_server(project_valkey("state"));
  const auto cache_config = app_config(cache_valkey);
  const auto state_config = app_config(state_valkey);
  // Twice: the second pass after the servers forgot every script (SCRIPT FLUSH, as after a
  // restart), so that the NOSCRIPT fallback to EVAL runs as the app user too.
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "scripts cached" : "after SCRIPT FLUSH");
    run_async([&](Executor ex) -> awaitable<void> {
      Client cache_client(ex, cache_config);
      Client state_client(ex, state_config);
      CacheService cache(cache_client, state_client);
      co_await use_the_cache_service(cache);
      co_await use_the_rate_limiter(state_client);
      co_await use_the_client(cache_client);
      co_await use_pub_sub(ex, cache_client, cache_config);
    });
    cache_valkey.cli({"SCRIPT", "FLUSH"});
    state_valkey.cli({"SCRIPT", "FLUSH"});
    state_valkey.cli({"FLUSHALL"});  // the admin may; the limiter's counts start over
  }
}

}  // namespace
}  // namespace opencode_cache::testing

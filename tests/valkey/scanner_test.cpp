// SCAN, HSCAN, SSCAN and ZSCAN iterations on a real server.

#include "opencode_cache/valkey/scanner.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "support/async_test.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using valkey::Client;
using valkey::ClientConfig;
using valkey::Command;
using valkey::Scanner;

ClientConfig config_for(const ValkeyServer& server) {
  ClientConfig config;
  config.host = server.host();
  config.port = server.port();
  return config;
}

class ScanTest : public ValkeyTest {};

TEST_F(ScanTest, MatchVisitsEveryMatchingKeyOf200kWithBoundedBatches) {
  auto& valkey = server();
  // 200k keys: 100k match, 100k do not.
  valkey.cli({"DEBUG", "POPULATE", "100000", "opencode:response", "8"});
  valkey.cli({"DEBUG", "POPULATE", "100000", "other:thing", "8"});
  auto config = config_for(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    auto scanner = Scanner::keys(client, {.match = "opencode:response:*", .count = 1000});
    std::set<std::string> seen;
    std::size_t largest_batch = 0;
    std::size_t returned = 0;
    while (auto batch = co_await scanner.next()) {
      largest_batch = std::max(largest_batch, batch->size());
      returned += batch->size();
      for (auto& key : *batch) {
        EXPECT_TRUE(key.starts_with("opencode:response:")) << key;
        seen.insert(std::move(key));
      }
    }
    EXPECT_TRUE(scanner.done());
    EXPECT_EQ(seen.size(), 100000u);
    EXPECT_GE(returned, seen.size());  // duplicates are allowed, misses are not
    // Memory per step follows COUNT, not the keyspace.
    EXPECT_LE(largest_batch, 5000u);
  });
}

TEST_F(ScanTest, TypeFilterKeepsOnlyThatType) {
  auto config = config_for(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.set("s1", "v");
    co_await client.hset("h1", "f", "v");
    co_await client.hset("h2", "f", "v");
    auto scanner = Scanner::keys(client, {.type = "hash"});
    std::set<std::string> seen;
    while (auto batch = co_await scanner.next()) seen.insert(batch->begin(), batch->end());
    EXPECT_EQ(seen, (std::set<std::string>{"h1", "h2"}));
  });
}

TEST_F(ScanTest, HashSetAndSortedSetIterations) {
  auto config = config_for(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    for (int i = 0; i < 500; ++i) {
      const auto n = std::to_string(i);
      co_await client.hset("hash", "f" + n, "v" + n);
      co_await client.command(Command("SADD", "set", "m" + n));
      co_await client.zadd("zset", i, "z" + n);
    }
    std::map<std::string, std::string> fields;
    auto hash = Scanner::hash(client, "hash", {.count = 50});
    while (auto batch = co_await hash.next()) {
      for (std::size_t i = 0; i + 1 < batch->size(); i += 2) fields[(*batch)[i]] = (*batch)[i + 1];
    }
    EXPECT_EQ(fields.size(), 500u);
    EXPECT_EQ(fields["f42"], "v42");

    std::set<std::string> members;
    auto set = Scanner::set(client, "set", {.match = "m1*"});
    while (auto batch = co_await set.next()) members.insert(batch->begin(), batch->end());
    EXPECT_EQ(members.size(), 111u);  // m1, m10-m19, m100-m199

    std::map<std::string, std::string> scores;
    auto zset = Scanner::sorted_set(client, "zset");
    while (auto batch = co_await zset.next()) {
      for (std::size_t i = 0; i + 1 < batch->size(); i += 2) scores[(*batch)[i]] = (*batch)[i + 1];
    }
    EXPECT_EQ(scores.size(), 500u);
    EXPECT_EQ(scores["z7"], "7");
  });
}

TEST_F(ScanTest, EmptyKeyspaceEndsAtOnce) {
  auto config = config_for(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    auto scanner = Scanner::keys(client);
    const auto first = co_await scanner.next();
    EXPECT_TRUE(first.has_value());
    EXPECT_TRUE(first->empty());
    EXPECT_EQ(co_await scanner.next(), std::nullopt);
  });
}

}  // namespace
}  // namespace opencode_cache::testing

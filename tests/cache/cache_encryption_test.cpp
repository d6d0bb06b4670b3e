// Sealed namespaces (CacheConfig::encryption) on a real server: what Valkey holds, what the
// caller reads back, tampering, rotation, and the seed's plain format when off.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <stdexcept>

#include "cache/key_name_hash.hpp"
#include "opencode_cache/cache/cache_service.hpp"
#include "support/async_test.hpp"
#include "support/client_config.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using cache::CacheConfig;
using cache::CacheService;
using cache::EncryptionKey;
using cache::Json;
using cache::JsonObject;
using valkey::Client;
using valkey::ClientConfig;

const EncryptionKey key_a{"a", std::string(32, 'A')};
const EncryptionKey key_b{"b", std::string(32, 'B')};
const std::string name_key(32, 'N');
const std::string magic = "\x89OCE";

CacheConfig sealed(std::vector<EncryptionKey> keys, std::string key_name_key = name_key) {
  CacheConfig config;
  config.encryption.response = true;
  config.encryption.context = true;
  config.encryption.session = true;
  config.encryption.keys = std::move(keys);
  config.encryption.key_name_key = std::move(key_name_key);
  return config;
}

JsonObject object_of(std::string_view json) {
  return boost::json::parse(json).as_object();
}

// HMAC-SHA-256 by OpenSSL's one-shot HMAC(), apart from the library's own code.
std::string hmac_hex(const std::string& key, const std::string& text) {
  unsigned char digest[32];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest, &length);
  std::string out;
  constexpr char hex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

std::uint64_t decrypt_failures(const CacheService& cache, std::string_view namespace_name) {
  const auto& all = cache.stats().by_namespace();
  const auto it = all.find(namespace_name);
  return it == all.end() ? 0 : it->second.decrypt_failures;
}

class CacheEncryptionTest : public ValkeyTest {};

TEST_F(CacheEncryptionTest, ResponseIsSealedUnderAnHmacKeyName) {
  auto& valkey = server();
  const std::string key = "opencode:response:" + hmac_hex(name_key, "5:gpt-4:hello");
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config(valkey));
    CacheService cache(client, sealed({key_a}));
    EXPECT_EQ(cache.keys().response_key("hello", "gpt-4"), key);
    co_await cache.cache_response("hello", "gpt-4", "Hi there");
    EXPECT_EQ(co_await cache.get_cached_response("hello", "gpt-4"), "Hi there");
    EXPECT_EQ(co_await cache.get_cached_response("hello", "gpt-3"), std::nullopt);
    const auto stored = co_await client.get(key);
    EXPECT_TRUE(stored && stored->starts_with(magic));
    EXPECT_EQ(stored->find("Hi there"), std::string::npos);
    EXPECT_EQ(stored->find("hello"), std::string::npos);
  });
  // The seed's key, sha256("gpt-4:hello"), is not there to match a guessed prompt against.
  EXPECT_EQ(valkey.cli({"EXISTS", "opencode:response:70b9d83fa68b044f"}), "0");
  EXPECT_EQ(valkey.cli({"DBSIZE"}), "1");
  const int ttl = std::stoi(valkey.cli({"TTL", key}));
  EXPECT_GT(ttl, 3590);
}

TEST_F(CacheEncryptionTest, WithoutAnHmacKeyResponseNamesUseOneDerivedFromTheFirstKey) {
  auto& valkey = server();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config(valkey));
    CacheService cache(client, sealed({key_a}, ""));
    const std::string derived = cache::derive_key_name_key(key_a.bytes);
    EXPECT_EQ(cache.keys().response_key("hello", "gpt-4"),
              "opencode:response:" + hmac_hex(derived, "5:gpt-4:hello"));
    co_await cache.cache_response("hello", "gpt-4", "Hi there");
    EXPECT_EQ(co_await cache.get_cached_response("hello", "gpt-4"), "Hi there");
    co_return;
  });
}

TEST_F(CacheEncryptionTest, GatewayEntriesAreSealedUnderAnHmacOfTheirId) {
  auto& valkey = server();
  const std::string bytes = std::string("data: {\"a\":1}\n\n\0binary", 23);
  const std::string key = "opencode:response:" + hmac_hex(name_key, "k1");
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config(valkey));
    CacheService cache(client, sealed({key_a}));
    EXPECT_TRUE(co_await cache.write_raw(cache::ns::response, "k1", bytes));
    EXPECT_EQ((co_await cache.read_raw(cache::ns::response, "k1")).value, bytes);
    const auto stored = co_await client.get(key);
    EXPECT_TRUE(stored && stored->starts_with(magic));
    EXPECT_EQ(co_await client.get("opencode:response:k1"), std::nullopt);
    // The app API's documents are read and written raw too.
    EXPECT_TRUE(co_await cache.write_raw(cache::ns::context, "doc", R"({"x":1})"));
    EXPECT_EQ((co_await cache.read_raw(cache::ns::context, "doc")).value, R"({"x":1})");
    const auto document = co_await client.get("opencode:context:doc");
    EXPECT_TRUE(document && document->starts_with(magic));
    EXPECT_TRUE(co_await cache.invalidate(cache::ns::response, "k1"));
    EXPECT_EQ(co_await client.get(key), std::nullopt);
  });
}

TEST_F(CacheEncryptionTest, ContextRoundTripsSealed) {
  auto& valkey = server();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config(valkey));
    CacheService cache(client, sealed({key_a}));
    const Json context = boost::json::parse(R"({"messages":["secret code"],"n":12345678901234})");
    co_await cache.cache_context("c1", context);
    EXPECT_EQ(co_await cache.get_cached_context("c1"), context);
    const auto stored = co_await client.get("opencode:context:c1");
    EXPECT_TRUE(stored && stored->starts_with(magic));
    EXPECT_EQ(stored->find("secret"), std::string::npos);
    std::vector<std::pair<std::string, Json>> entries;
    entries.emplace_back("m1", Json(1));
    entries.emplace_back("m2", Json("two"));
    co_await cache.set_many(cache::ns::context, entries);
    std::vector<std::string> ids;
    ids.emplace_back("m1");
    ids.emplace_back("m2");
    ids.emplace_back("c1");
    const auto values = co_await cache.get_many(cache::ns::context, ids);
    EXPECT_EQ(values[0], Json(1));
    EXPECT_EQ(values[1], Json("two"));
    EXPECT_EQ(values[2], context);
    const auto m1 = co_await client.get("opencode:context:m1");
    EXPECT_TRUE(m1 && m1->starts_with(magic));
  });
}

TEST_F(CacheEncryptionTest, SessionsRoundTripSealed) {
  auto& valkey = server();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config(valkey));
    CacheService cache(client, sealed({key_a}));
    co_await cache.set_session("s1", object_of(R"({"user":"ada","turns":1})"));
    EXPECT_EQ(co_await cache.get_session("s1"), object_of(R"({"user":"ada","turns":1})"));
    EXPECT_TRUE(co_await cache.update_session("s1", object_of(R"({"turns":2,"model":"m"})")));
    EXPECT_EQ(co_await cache.get_session("s1"),
              object_of(R"({"user":"ada","turns":2,"model":"m"})"));
    const auto stored = co_await client.get("opencode:session:s1");
    EXPECT_TRUE(stored && stored->starts_with(magic));
    EXPECT_EQ(stored->find("ada"), std::string::npos);
    EXPECT_FALSE(co_await cache.update_session("nobody", object_of(R"({"a":1})")));
  });
}

// Each damaged copy is read as a miss, counted, and the stored bytes stay as they were.
TEST_F(CacheEncryptionTest, TamperedValuesAreCountedMisses) {
  auto& valkey = server();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config(valkey));
    CacheService cache(client, sealed({key_a}));
    co_await cache.cache_context("c1", Json("secret"));
    const std::string good = *co_await client.get("opencode:context:c1");

    std::string flipped = good;
    flipped[good.size() / 2] = static_cast<char>(flipped[good.size() / 2] ^ 0x04);
    co_await client.set("opencode:context:flipped", flipped);
    EXPECT_EQ(co_await cache.get_cached_context("flipped"), std::nullopt);
    EXPECT_EQ(co_await client.get("opencode:context:flipped"), flipped);

    co_await client.set("opencode:context:truncated", good.substr(0, good.size() - 1));
    EXPECT_EQ(co_await cache.get_cached_context("truncated"), std::nullopt);
    co_await client.set("opencode:context:header", good.substr(0, 10));
    EXPECT_EQ(co_await cache.get_cached_context("header"), std::nullopt);

    co_await client.set("opencode:context:copied", good);
    EXPECT_EQ(co_await cache.get_cached_context("copied"), std::nullopt);

    co_await client.set("opencode:context:plain", R"("not sealed")");
    EXPECT_EQ(co_await cache.get_cached_context("plain"), std::nullopt);

    EXPECT_EQ(decrypt_failures(cache, cache::ns::context), 5u);
    EXPECT_EQ(cache.stats().by_namespace().at("context").misses, 5u);
    EXPECT_EQ(cache.stats().by_namespace().at("context").invalid, 0u);
    EXPECT_EQ(co_await cache.get_cached_context("c1"), Json("secret"));  // the original opens
  });
}

TEST_F(CacheEncryptionTest, ResponseCopiedToAnotherKeyIsAMiss) {
  auto& valkey = server();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config(valkey));
    CacheService cache(client, sealed({key_a}));
    co_await cache.cache_response("p1", "m", "answer one");
    co_await cache.cache_response("p2", "m", "answer two");
    // An attacker who can write Valkey swaps the answers: neither opens under the other name.
    const std::string key1 = cache.keys().response_key("p1", "m");
    const std::string key2 = cache.keys().response_key("p2", "m");
    const std::string one = *co_await client.get(key1);
    co_await client.set(key2, one);
    EXPECT_EQ(co_await cache.get_cached_response("p2", "m"), std::nullopt);
    EXPECT_TRUE(co_await cache.write_raw(cache::ns::response, "r1", "stream bytes"));
    const std::string raw_key = "opencode:response:" + hmac_hex(name_key, "r1");
    co_await client.set("opencode:response:" + hmac_hex(name_key, "r2"),
                        *co_await client.get(raw_key));
    const auto moved = co_await cache.read_raw(cache::ns::response, "r2");
    EXPECT_TRUE(moved.reachable);
    EXPECT_EQ(moved.value, std::nullopt);
    EXPECT_EQ(decrypt_failures(cache, cache::ns::response), 2u);
  });
}

TEST_F(CacheEncryptionTest, ValueUnderAnUnknownKeyIdIsAMiss) {
  auto& valkey = server();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config(valkey));
    CacheService writer(client, sealed({key_a}));
    CacheService reader(client, sealed({key_b}));
    co_await writer.cache_context("c1", Json("secret"));
    co_await writer.cache_response("p", "m", "answer");
    EXPECT_EQ(co_await reader.get_cached_context("c1"), std::nullopt);
    EXPECT_EQ(co_await reader.get_cached_response("p", "m"), std::nullopt);
    EXPECT_EQ(decrypt_failures(reader, cache::ns::context), 1u);
    EXPECT_EQ(decrypt_failures(reader, cache::ns::response), 1u);
  });
}

TEST_F(CacheEncryptionTest, SessionThatDoesNotOpenIsAnErrorNotAMissingSession) {
  auto& valkey = server();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config(valkey));
    CacheService cache(client, sealed({key_a}));
    co_await cache.set_session("s1", object_of(R"({"user":"ada"})"));
    std::string stored = *co_await client.get("opencode:session:s1");
    stored.back() = static_cast<char>(stored.back() ^ 1);
    co_await client.set("opencode:session:s1", stored);
    try {
      co_await cache.get_session("s1");
      ADD_FAILURE() << "a tampered session must not read";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), valkey::errc::undecryptable);
      EXPECT_NE(std::string(e.what()).find("session 's1' does not authenticate"), std::string::npos)
          << e.what();
    }
    try {
      co_await cache.update_session("s1", object_of(R"({"a":1})"));
      ADD_FAILURE() << "a tampered session must not be updated";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), valkey::errc::undecryptable);
    }
    EXPECT_EQ(co_await client.get("opencode:session:s1"), stored);  // untouched
    CacheService other_keys(client, sealed({key_b}));
    co_await cache.set_session("s2", object_of(R"({"user":"bob"})"));
    try {
      co_await other_keys.get_session("s2");
      ADD_FAILURE() << "a session under an unknown key must not read";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), valkey::errc::undecryptable);
      EXPECT_NE(std::string(e.what()).find("not configured"), std::string::npos) << e.what();
    }
    EXPECT_EQ(decrypt_failures(cache, cache::ns::session), 2u);
    EXPECT_EQ(decrypt_failures(other_keys, cache::ns::session), 1u);
  });
}

TEST_F(CacheEncryptionTest, RotationReadsOldValuesAndSealsNewOnesUnderTheNewKey) {
  auto& valkey = server();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config(valkey));
    CacheService before(client, sealed({key_a}));
    co_await before.cache_response("p", "m", "old answer");
    co_await before.cache_context("c1", Json("old context"));
    co_await before.set_session("s1", object_of(R"({"turns":1})"));

    CacheService rotated(client, sealed({key_b, key_a}));
    EXPECT_EQ(co_await rotated.get_cached_response("p", "m"), "old answer");
    EXPECT_EQ(co_await rotated.get_cached_context("c1"), Json("old context"));
    EXPECT_EQ(co_await rotated.get_session("s1"), object_of(R"({"turns":1})"));

    co_await rotated.cache_context("c2", Json("new context"));
    EXPECT_TRUE(co_await rotated.update_session("s1", object_of(R"({"turns":2})")));
    for (const char* key : {"opencode:context:c2", "opencode:session:s1"}) {
      const auto stored = co_await client.get(key);
      EXPECT_TRUE(stored && stored->size() > 7 &&
                  stored->substr(5, 2) ==
                      "\x01"
                      "b")
          << key;
    }
    // Once key a is retired, what it sealed is gone; what b sealed still reads.
    CacheService retired(client, sealed({key_b}));
    EXPECT_EQ(co_await retired.get_cached_context("c1"), std::nullopt);
    EXPECT_EQ(co_await retired.get_cached_context("c2"), Json("new context"));
    EXPECT_EQ(co_await retired.get_session("s1"), object_of(R"({"turns":2})"));
  });
}

TEST_F(CacheEncryptionTest, RotationWithoutAnHmacKeyStartsResponsesCold) {
  auto& valkey = server();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config(valkey));
    CacheService before(client, sealed({key_a}, ""));
    co_await before.cache_response("p", "m", "old answer");
    CacheService rotated(client, sealed({key_b, key_a}, ""));
    EXPECT_NE(rotated.keys().response_key("p", "m"), before.keys().response_key("p", "m"));
    EXPECT_EQ(co_await rotated.get_cached_response("p", "m"), std::nullopt);
  });
}

TEST_F(CacheEncryptionTest, OffByDefaultValuesAreTheSeedsPlainBytes) {
  auto& valkey = server();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config(valkey));
    CacheService cache(client);
    const Json context = boost::json::parse(R"({"messages":["hi"],"n":1})");
    co_await cache.cache_context("c1", context);
    EXPECT_EQ(co_await client.get("opencode:context:c1"), boost::json::serialize(context));
    const JsonObject session = object_of(R"({"user":"ada"})");
    co_await cache.set_session("s1", session);
    EXPECT_EQ(co_await client.get("opencode:session:s1"), boost::json::serialize(session));
    EXPECT_TRUE(co_await cache.write_raw(cache::ns::response, "k1", "raw bytes"));
    EXPECT_EQ(co_await client.get("opencode:response:k1"), "raw bytes");
    co_await cache.cache_response("hello", "gpt-4", "Hi there");
    const auto entry = co_await client.get("opencode:response:70b9d83fa68b044f");
    EXPECT_TRUE(entry && boost::json::parse(*entry).as_object().at("response") == "Hi there");
  });
}

TEST_F(CacheEncryptionTest, OnlyTheChosenNamespacesAreSealed) {
  auto& valkey = server();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config(valkey));
    CacheConfig config;
    config.encryption.session = true;
    config.encryption.keys.push_back(key_a);
    CacheService cache(client, config);
    co_await cache.cache_context("c1", Json("plain"));
    EXPECT_EQ(co_await client.get("opencode:context:c1"), R"("plain")");
    co_await cache.cache_response("hello", "gpt-4", "Hi there");
    EXPECT_TRUE(co_await client.get("opencode:response:70b9d83fa68b044f"));
    co_await cache.set_metadata("x", Json(1));
    EXPECT_EQ(co_await client.get("opencode:metadata:x"), "1");
    co_await cache.set_session("s1", object_of(R"({"user":"ada"})"));
    const auto stored = co_await client.get("opencode:session:s1");
    EXPECT_TRUE(stored && stored->starts_with(magic));
  });
}

TEST_F(CacheEncryptionTest, UnusableSettingsAreRefusedAtConstruction) {
  auto& valkey = server();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config(valkey));
    CacheConfig no_keys;
    no_keys.encryption.context = true;
    EXPECT_THROW(CacheService(client, no_keys), std::invalid_argument);
    EXPECT_THROW(CacheService(client, sealed({key_a}, "short")), std::invalid_argument);
    EXPECT_THROW(CacheService(client, sealed({EncryptionKey{"a", "short"}})),
                 std::invalid_argument);
    co_return;
  });
}

}  // namespace
}  // namespace opencode_cache::testing

// The gateway with CACHE_ENCRYPT=response: answers and streams are served as before, while
// Valkey holds only sealed bytes under HMAC key names.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <sstream>

#include "server/support/gateway_fixture.hpp"

namespace opencode_cache::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string name_key(32, 'N');
const Env sealed = {{"CACHE_ENCRYPT", "response"},
                    {"CACHE_ENCRYPTION_KEYS", "k1:QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="},
                    {"CACHE_KEY_HMAC_KEY", "Tk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk4="}};

std::string hmac_hex(const std::string& key, const std::string& text) {
  unsigned char digest[32];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest, &length);
  std::ostringstream out;
  for (unsigned int i = 0; i < length; ++i) {
    constexpr char hex[] = "0123456789abcdef";
    out << hex[digest[i] >> 4] << hex[digest[i] & 15];
  }
  return out.str();
}

class GatewayEncryptionTest : public GatewayTest {};

TEST_F(GatewayEncryptionTest, AnswersAreSealedUnderHmacKeyNamesAndStillHit) {
  start(sealed);
  HttpClient http = client();
  const auto first = http.post("/v1/chat/completions", chat_body("hello", false));
  const auto second = http.post("/v1/chat/completions", chat_body("hello", false));
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(second.header("x-cache"), "HIT");
  EXPECT_EQ(second.body, first.body);
  EXPECT_EQ(upstream.calls(), 1u);
  const std::string key = "opencode:response:" + hmac_hex(name_key, first.header("x-cache-key"));
  EXPECT_EQ(server().cli({"KEYS", "opencode:response:*"}), key);
  const std::string stored = server().cli({"GET", key});
  EXPECT_TRUE(stored.starts_with("\x89OCE")) << stored;
  EXPECT_THAT(stored, Not(HasSubstr("answer 1 to hello")));
}

TEST_F(GatewayEncryptionTest, StreamsAreSealedAndReplayByteIdentical) {
  start(sealed);
  HttpClient http = client();
  const auto first = http.post("/v1/chat/completions", chat_body("stream me", true));
  const auto second = http.post("/v1/chat/completions", chat_body("stream me", true));
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(second.header("x-cache"), "HIT");
  EXPECT_EQ(second.body, first.body);
  const std::string key = "opencode:response:" + hmac_hex(name_key, first.header("x-cache-key"));
  const std::string stored = server().cli({"GET", key});
  EXPECT_TRUE(stored.starts_with("\x89OCE"));
  EXPECT_THAT(stored, Not(HasSubstr("stream me")));
}

TEST_F(GatewayEncryptionTest, EntryThatDoesNotOpenIsAMissAndIsReplaced) {
  start(sealed);
  HttpClient http = client();
  const auto first = http.post("/v1/chat/completions", chat_body("hello", false));
  const std::string key = "opencode:response:" + hmac_hex(name_key, first.header("x-cache-key"));
  server().cli({"APPEND", key, "x"});  // one byte more: the tag no longer matches
  const auto second = http.post("/v1/chat/completions", chat_body("hello", false));
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.header("x-cache"), "MISS");
  EXPECT_THAT(second.body, HasSubstr("answer 2 to hello"));
  EXPECT_EQ(upstream.calls(), 2u);
  // Stored afresh (after the answer, by the flight): the next request hits it.
  EXPECT_TRUE(eventually([&] {
    return client().post("/v1/chat/completions", chat_body("hello", false)).header("x-cache") ==
           "HIT";
  }));
}

TEST_F(GatewayEncryptionTest, UnusableKeysStopTheStartWithTheVariablesName) {
  Env bad = sealed;
  bad["CACHE_ENCRYPTION_KEYS"] = "k1:short";
  try {
    start(bad);
    ADD_FAILURE() << "a short key must not start";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("CACHE_ENCRYPTION_KEYS"));
  }
}

}  // namespace
}  // namespace opencode_cache::testing

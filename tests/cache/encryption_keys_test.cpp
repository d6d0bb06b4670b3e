// CACHE_ENCRYPT, CACHE_ENCRYPTION_KEYS and CACHE_KEY_HMAC_KEY, parsed alone (no Valkey): what
// an operator writes, and a clear error naming the variable for everything else.

#include "cache/encryption_keys.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

#include "cache/key_name_hash.hpp"
#include "opencode_cache/cache/cache_config.hpp"

namespace opencode_cache::testing {
namespace {

using cache::CacheConfig;

const std::string key_a = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";  // 32 x 'A'
const std::string key_b = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";  // 32 x 'B'

// The error's message, or "" when there was none.
std::string error_of(const std::function<void()>& parse) {
  try {
    parse();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

std::string keys_error(const std::string& text) {
  return error_of([&] { cache::parse_encryption_keys(text); });
}

CacheConfig from(const std::map<std::string, std::string>& env) {
  return CacheConfig::from_env([&](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

class KeyFile {
 public:
  explicit KeyFile(const std::string& text)
      : path_(std::filesystem::temp_directory_path() /
              ("opencode-cache-keys-" + std::to_string(::getpid()))) {
    std::ofstream(path_) << text;
  }
  ~KeyFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

TEST(EncryptionKeys, FirstEntrySealsAndAllAreKept) {
  const auto keys = cache::parse_encryption_keys("new:" + key_b + ", old:" + key_a);
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].id, "new");
  EXPECT_EQ(keys[0].bytes, std::string(32, 'B'));
  EXPECT_EQ(keys[1].id, "old");
  EXPECT_EQ(keys[1].bytes, std::string(32, 'A'));
}

TEST(EncryptionKeys, FromAFileOneEntryPerLine) {
  const KeyFile file("# rotated 2026-12\nnew:" + key_b + "\n\n  old:" + key_a + "  \n");
  const auto keys = cache::parse_encryption_keys("@" + file.path());
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].id, "new");
  EXPECT_EQ(keys[1].bytes, std::string(32, 'A'));
}

TEST(EncryptionKeys, BadEntriesAreClearErrorsThatNeverShowTheKey) {
  const std::string too_short = "QUFBQUFBQUFBQUFBQUFBQQ==";
  const std::map<std::string, std::string> cases = {
      {"", "entry 1 is empty"},
      {"a:" + key_a + ",", "entry 2 is empty"},
      {key_a, "entry 1 is not id:base64key"},
      {":" + key_a, "key id must be 1 to 32"},
      {"bad id:" + key_a, "key id must be 1 to 32"},
      {"a:" + too_short, "must be 32 bytes (44 characters of base64), it has 16 bytes"},
      {"a:QUFB*UFBQUFB", "not standard base64"},
      {"a:QUFBQ", "not standard base64"},
      {"a:" + key_a + ",a:" + key_b, "the key id 'a' appears twice"},
  };
  for (const auto& [text, expected] : cases) {
    const std::string error = keys_error(text);
    EXPECT_NE(error.find("CACHE_ENCRYPTION_KEYS"), std::string::npos) << text << ": " << error;
    EXPECT_NE(error.find(expected), std::string::npos) << text << ": " << error;
    EXPECT_EQ(error.find(key_a), std::string::npos) << error;
    EXPECT_EQ(error.find(too_short), std::string::npos) << error;
  }
}

TEST(EncryptionKeys, BadFilesAreClearErrors) {
  EXPECT_NE(keys_error("@/nonexistent/keys")
                .find("CACHE_ENCRYPTION_KEYS: cannot read the key file '/nonexistent/keys'"),
            std::string::npos);
  const KeyFile empty("# nothing yet\n\n");
  EXPECT_NE(keys_error("@" + empty.path()).find("holds no key"), std::string::npos);
  const KeyFile bad("a:" + key_a + "\nb:nope\n");
  const std::string error = keys_error("@" + bad.path());
  EXPECT_NE(error.find("line 2 of '" + bad.path() + "'"), std::string::npos) << error;
}

TEST(EncryptionKeys, EnvironmentChoosesNamespacesAndKeys) {
  const CacheConfig config = from({{"CACHE_ENCRYPT", "response, session"},
                                   {"CACHE_ENCRYPTION_KEYS", "k1:" + key_a},
                                   {"CACHE_KEY_HMAC_KEY", key_b}});
  EXPECT_TRUE(config.encryption.response);
  EXPECT_FALSE(config.encryption.context);
  EXPECT_TRUE(config.encryption.session);
  ASSERT_EQ(config.encryption.keys.size(), 1u);
  EXPECT_EQ(config.encryption.keys[0].id, "k1");
  EXPECT_EQ(config.encryption.key_name_key, std::string(32, 'B'));
}

TEST(EncryptionKeys, OffByDefault) {
  const CacheConfig config = from({});
  EXPECT_FALSE(config.encryption.any());
  EXPECT_TRUE(config.encryption.keys.empty());
  EXPECT_TRUE(config.encryption.key_name_key.empty());
}

TEST(EncryptionKeys, BadEnvironmentIsAClearError) {
  const auto error = [](const std::map<std::string, std::string>& env) {
    return error_of([&] { from(env); });
  };
  EXPECT_NE(error({{"CACHE_ENCRYPT", "response,metadata"}, {"CACHE_ENCRYPTION_KEYS", "a:" + key_a}})
                .find("CACHE_ENCRYPT: 'metadata' is not a namespace that can be encrypted"),
            std::string::npos);
  EXPECT_NE(error({{"CACHE_ENCRYPT", "context"}})
                .find("CACHE_ENCRYPT: encrypting needs keys, and CACHE_ENCRYPTION_KEYS is not set"),
            std::string::npos);
  EXPECT_NE(
      error({{"CACHE_KEY_HMAC_KEY", "QUFB"}}).find("CACHE_KEY_HMAC_KEY: the key must be 32 bytes"),
      std::string::npos);
  EXPECT_NE(error({{"CACHE_ENCRYPTION_KEYS", "x"}}).find("CACHE_ENCRYPTION_KEYS"),
            std::string::npos);
}

TEST(KeyNameHash, DerivedKeyIsStableAndNotTheEncryptionKey) {
  const std::string derived = cache::derive_key_name_key(std::string(32, 'A'));
  EXPECT_EQ(derived.size(), 32u);
  EXPECT_EQ(derived, cache::derive_key_name_key(std::string(32, 'A')));
  EXPECT_NE(derived, std::string(32, 'A'));
  EXPECT_NE(derived, cache::derive_key_name_key(std::string(32, 'B')));
}

TEST(KeyNameHash, HmacMatchesRfc4231) {
  // RFC 4231 test case 2.
  EXPECT_EQ(cache::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Switching keys on one thread re-keys.
  EXPECT_NE(cache::hmac_sha256_hex("other", "what do ya want for nothing?"),
            cache::hmac_sha256_hex("Jefe", "what do ya want for nothing?"));
  EXPECT_EQ(cache::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

}  // namespace
}  // namespace opencode_cache::testing

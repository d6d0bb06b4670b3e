// The envelope of sealed values, alone: what it keeps secret, and every way it refuses to open.

#include "cache/value_envelope.hpp"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>

namespace opencode_cache::testing {
namespace {

using cache::EncryptionKey;
using cache::OpenError;
using cache::ValueEnvelope;

EncryptionKey key(std::string id, char fill) {
  return EncryptionKey{std::move(id), std::string(32, fill)};
}

const std::string key_name = "opencode:context:c1";
const std::string plaintext = R"({"messages":["my code: int main() { return 0; }"]})";

TEST(ValueEnvelope, OpensWhatItSealed) {
  ValueEnvelope envelope({key("a", 'A')});
  const std::string sealed = envelope.seal(plaintext, key_name);
  EXPECT_EQ(sealed.size(), 6 + 1 + 12 + 16 + plaintext.size());
  EXPECT_EQ(sealed.find("my code"), std::string::npos);
  EXPECT_EQ(envelope.open(sealed, key_name).plaintext, plaintext);
}

TEST(ValueEnvelope, HeaderCarriesMagicVersionAndKeyId) {
  ValueEnvelope envelope({key("2026-q1", 'A')});
  const std::string sealed = envelope.seal(plaintext, key_name);
  EXPECT_EQ(sealed.substr(0, 4), "\x89OCE");
  EXPECT_EQ(sealed[4], '\x01');
  EXPECT_EQ(sealed[5], '\x07');
  EXPECT_EQ(sealed.substr(6, 7), "2026-q1");
  EXPECT_EQ(ValueEnvelope::key_id_of(sealed), "2026-q1");
}

TEST(ValueEnvelope, EmptyValueRoundTrips) {
  ValueEnvelope envelope({key("a", 'A')});
  EXPECT_EQ(envelope.open(envelope.seal("", key_name), key_name).plaintext, "");
}

TEST(ValueEnvelope, EverySealDrawsAFreshNonce) {
  ValueEnvelope envelope({key("a", 'A')});
  std::set<std::string> nonces;
  for (int i = 0; i < 100; ++i) nonces.insert(envelope.seal(plaintext, key_name).substr(7, 12));
  EXPECT_EQ(nonces.size(), 100u);
}

TEST(ValueEnvelope, AnyFlippedBitFailsToOpen) {
  ValueEnvelope envelope({key("a", 'A')});
  const std::string sealed = envelope.seal(plaintext, key_name);
  for (std::size_t byte = 0; byte < sealed.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string damaged = sealed;
      damaged[byte] = static_cast<char>(damaged[byte] ^ (1 << bit));
      const auto opened = envelope.open(damaged, key_name);
      EXPECT_FALSE(opened.plaintext) << "byte " << byte << " bit " << bit;
    }
  }
  std::string damaged = sealed;
  damaged.back() = static_cast<char>(damaged.back() ^ 1);
  EXPECT_EQ(envelope.open(damaged, key_name).error, OpenError::authentication_failed);
  damaged = sealed;
  damaged[4] = '\x02';
  EXPECT_EQ(envelope.open(damaged, key_name).error, OpenError::unsupported_version);
}

TEST(ValueEnvelope, EveryTruncationFailsToOpen) {
  ValueEnvelope envelope({key("a", 'A')});
  const std::string sealed = envelope.seal(plaintext, key_name);
  for (std::size_t size = 1; size < sealed.size(); ++size) {
    const auto opened = envelope.open(sealed.substr(0, size), key_name);
    EXPECT_FALSE(opened.plaintext) << size;
    const std::size_t header = 6 + 1 + 12 + 16;
    EXPECT_EQ(opened.error, size < header ? OpenError::truncated : OpenError::authentication_failed)
        << size;
  }
  EXPECT_EQ(envelope.open("", key_name).error, OpenError::not_an_envelope);
}

TEST(ValueEnvelope, ValueUnderAnotherKeyNameFailsToOpen) {
  ValueEnvelope envelope({key("a", 'A')});
  const std::string sealed = envelope.seal(plaintext, key_name);
  const auto opened = envelope.open(sealed, "opencode:context:c2");
  EXPECT_FALSE(opened.plaintext);
  EXPECT_EQ(opened.error, OpenError::authentication_failed);
}

TEST(ValueEnvelope, UnknownKeyIdFailsToOpen) {
  ValueEnvelope writer({key("a", 'A')});
  ValueEnvelope reader({key("b", 'B')});
  const auto opened = reader.open(writer.seal(plaintext, key_name), key_name);
  EXPECT_FALSE(opened.plaintext);
  EXPECT_EQ(opened.error, OpenError::unknown_key_id);
}

TEST(ValueEnvelope, SameIdWithAnotherKeyFailsToAuthenticate) {
  ValueEnvelope writer({key("a", 'A')});
  ValueEnvelope reader({key("a", 'Z')});
  EXPECT_EQ(reader.open(writer.seal(plaintext, key_name), key_name).error,
            OpenError::authentication_failed);
}

TEST(ValueEnvelope, RotationSealsUnderTheFirstKeyAndOpensUnderAny) {
  ValueEnvelope old_keys({key("a", 'A')});
  ValueEnvelope rotated({key("b", 'B'), key("a", 'A')});
  const std::string under_a = old_keys.seal(plaintext, key_name);
  EXPECT_EQ(rotated.open(under_a, key_name).plaintext, plaintext);
  const std::string under_b = rotated.seal(plaintext, key_name);
  EXPECT_EQ(ValueEnvelope::key_id_of(under_b), "b");
  EXPECT_EQ(rotated.open(under_b, key_name).plaintext, plaintext);
  EXPECT_EQ(old_keys.open(under_b, key_name).error, OpenError::unknown_key_id);
}

TEST(ValueEnvelope, PlainValuesAreNotEnvelopes) {
  ValueEnvelope envelope({key("a", 'A')});
  for (const std::string& text : {std::string(R"({"prompt":"p"})"), std::string("[]"),
                                  std::string("\x89OC"), std::string("\x89OCX....")}) {
    const auto opened = envelope.open(text, key_name);
    EXPECT_FALSE(opened.plaintext) << text;
  }
  EXPECT_EQ(envelope.open(R"({"prompt":"p"})", key_name).error, OpenError::not_an_envelope);
  EXPECT_EQ(envelope.open("\x89OC", key_name).error, OpenError::truncated);
  EXPECT_FALSE(ValueEnvelope::key_id_of("{}"));
}

TEST(ValueEnvelope, RefusesUnusableKeys) {
  EXPECT_THROW(ValueEnvelope({}), std::invalid_argument);
  EXPECT_THROW(ValueEnvelope({EncryptionKey{"a", std::string(16, 'A')}}), std::invalid_argument);
  EXPECT_THROW(ValueEnvelope({key("", 'A')}), std::invalid_argument);
  EXPECT_THROW(ValueEnvelope({key("has space", 'A')}), std::invalid_argument);
  EXPECT_THROW(ValueEnvelope({key(std::string(33, 'i'), 'A')}), std::invalid_argument);
  EXPECT_THROW(ValueEnvelope({key("a", 'A'), key("a", 'B')}), std::invalid_argument);
  EXPECT_NO_THROW(ValueEnvelope({key(std::string(32, 'i'), 'A')}));
}

TEST(ValueEnvelope, ErrorsAreDescribed) {
  for (auto error :
       {OpenError::not_an_envelope, OpenError::unsupported_version, OpenError::truncated,
        OpenError::unknown_key_id, OpenError::authentication_failed}) {
    EXPECT_FALSE(cache::describe(error).empty());
  }
}

}  // namespace
}  // namespace opencode_cache::testing

#include "opencode_cache/cache/cache_keys.hpp"

#include <openssl/evp.h>

#include <array>
#include <initializer_list>

#include "key_name_hash.hpp"

namespace opencode_cache::cache {

namespace {

// OpenSSL 3's one-shot SHA256() looks the algorithm up by name on every call; fetching it
// once and reusing a context per thread makes a response key about three times cheaper.
struct Sha256Context {
  Sha256Context() : digest(EVP_MD_fetch(nullptr, "SHA256", nullptr)), context(EVP_MD_CTX_new()) {}
  ~Sha256Context() {
    EVP_MD_CTX_free(context);
    EVP_MD_free(digest);
  }
  Sha256Context(const Sha256Context&) = delete;
  Sha256Context& operator=(const Sha256Context&) = delete;

  EVP_MD* digest;
  EVP_MD_CTX* context;
};

using Digest = std::array<unsigned char, EVP_MAX_MD_SIZE>;

// SHA-256 of the parts, one after the other: no joined copy of them is made.
unsigned int sha256_of(std::initializer_list<std::string_view> parts, Digest& digest) {
  thread_local Sha256Context sha256;
  unsigned int length = 0;
  EVP_DigestInit_ex(sha256.context, sha256.digest, nullptr);
  for (const std::string_view part : parts)
    EVP_DigestUpdate(sha256.context, part.data(), part.size());
  EVP_DigestFinal_ex(sha256.context, digest.data(), &length);
  return length;
}

void append_hex(const unsigned char* bytes, std::size_t count, std::string& out) {
  constexpr std::string_view hex = "0123456789abcdef";
  for (std::size_t i = 0; i < count; ++i) {
    out += hex[bytes[i] >> 4];
    out += hex[bytes[i] & 0x0f];
  }
}

}  // namespace

std::string sha256_hex(std::string_view text) {
  Digest digest{};
  const unsigned int length = sha256_of({text}, digest);
  std::string out;
  out.reserve(std::size_t{length} * 2);
  append_hex(digest.data(), length, out);
  return out;
}

std::string CacheKeys::key(std::string_view namespace_name, std::string_view id) const {
  std::string out;
  out.reserve(prefix_.size() + namespace_name.size() + id.size() + 2);
  out.append(prefix_).append(":").append(namespace_name).append(":").append(id);
  return out;
}

std::string CacheKeys::response_key(std::string_view prompt, std::string_view model) const {
  std::string hashed;
  if (!key_name_key_.empty()) {
    hashed.reserve(model.size() + prompt.size() + 24);
    hashed.append(std::to_string(model.size())).append(":").append(model).append(":");
    hashed.append(prompt);
    return key(ns::response, hmac_sha256_hex(key_name_key_, hashed));
  }
  // The seed's sha256("<model>:<prompt>"), its first 16 hex digits written straight into the
  // key: this runs on every response read.
  Digest digest{};
  sha256_of({model, ":", prompt}, digest);
  std::string out;
  out.reserve(prefix_.size() + ns::response.size() + 18);
  out.append(prefix_).append(":").append(ns::response).append(":");
  append_hex(digest.data(), 8, out);
  return out;
}

std::string CacheKeys::pattern(std::string_view pattern_below_prefix) const {
  return prefix_ + ":" + std::string(pattern_below_prefix);
}

}  // namespace opencode_cache::cache

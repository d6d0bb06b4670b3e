#include "opencode_cache/cache/cache_keys.hpp"

#include <openssl/sha.h>

#include <array>

namespace opencode_cache::cache {

std::string sha256_hex(std::string_view text) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  constexpr std::string_view hex = "0123456789abcdef";
  std::string out;
  out.reserve(digest.size() * 2);
  for (unsigned char byte : digest) {
    out += hex[byte >> 4];
    out += hex[byte & 0x0f];
  }
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
  hashed.reserve(model.size() + 1 + prompt.size());
  hashed.append(model).append(":").append(prompt);
  return key(ns::response, sha256_hex(hashed).substr(0, 16));
}

std::string CacheKeys::pattern(std::string_view pattern_below_prefix) const {
  return prefix_ + ":" + std::string(pattern_below_prefix);
}

}  // namespace opencode_cache::cache

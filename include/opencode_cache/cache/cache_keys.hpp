// Key names shared with the seed's TypeScript service: <prefix>:<namespace>:<id>.
#pragma once

#include <string>
#include <string_view>

namespace opencode_cache::cache {

// The seed's namespaces.
namespace ns {
inline constexpr std::string_view response = "response";
inline constexpr std::string_view session = "session";
inline constexpr std::string_view context = "context";
inline constexpr std::string_view metadata = "metadata";
inline constexpr std::string_view ratelimit = "ratelimit";
// Ours: values of get_or_fetch, and its cross-process leases.
inline constexpr std::string_view fetch = "fetch";
inline constexpr std::string_view lease = "lease";
}  // namespace ns

class CacheKeys {
 public:
  explicit CacheKeys(std::string prefix) : prefix_(std::move(prefix)) {}
  // With a key name key (CacheConfig::encryption with `response`), response keys are HMACs.
  CacheKeys(std::string prefix, std::string key_name_key)
      : prefix_(std::move(prefix)), key_name_key_(std::move(key_name_key)) {}

  std::string key(std::string_view namespace_name, std::string_view id) const;
  // The seed's response key: the first 16 hex digits of sha256("<model>:<prompt>"). The
  // delimiter makes ("a:b", "c") and ("a", "b:c") collide; CacheService therefore checks the
  // stored prompt and model on every read. With a key name key instead: all 64 hex digits of
  // HMAC-SHA-256("<length of model>:<model>:<prompt>") under it, unambiguous and unguessable.
  std::string response_key(std::string_view prompt, std::string_view model) const;
  // A glob over the keyspace below the prefix: "<prefix>:<pattern>".
  std::string pattern(std::string_view pattern_below_prefix) const;
  const std::string& prefix() const noexcept { return prefix_; }

 private:
  std::string prefix_;
  std::string key_name_key_;
};

std::string sha256_hex(std::string_view text);

}  // namespace opencode_cache::cache

// Internal: the memory of a NearCache, without I/O or clocks: values by key in LRU order,
// bounded by entries and bytes, each with its expiry; and the reads in flight, so that a value
// read before an invalidation that overtook it is never stored.
//
// The race it closes: a GET's reply and the invalidation push that follows it can arrive in
// one read from the socket. The push is handled at once, the reply's caller resumes later and
// would store the value the push has just invalidated. So a read is begun before it is sent,
// an invalidation marks the reads of its key in flight, and a marked read stores nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "opencode_cache/valkey/near_cache_held.hpp"

namespace opencode_cache::valkey {

struct NearCacheLimits {
  std::size_t max_entries = 10000;
  std::size_t max_bytes = 64 * 1024 * 1024;  // keys and values
};

class NearCacheStore {
 public:
  using Clock = std::chrono::steady_clock;

  explicit NearCacheStore(NearCacheLimits limits) : limits_(limits) {}

  // A value held, and the form of it its reader decoded (empty until set_decoded()).
  using Held = NearCacheHeld;

  // The value if held and not expired at `now` (an expired one is dropped).
  std::optional<Held> find_held(std::string_view key, Clock::time_point now);
  std::optional<std::string_view> find(std::string_view key, Clock::time_point now) {
    const auto held = find_held(key, now);
    if (!held) return std::nullopt;
    return held->value;
  }
  // Keeps `decoded` beside the held value of `key`, counted in its bytes; nothing when the key
  // is not held. It goes with the value: a new value or an invalidation drops it too.
  void set_decoded(std::string_view key, std::string decoded);

  // A read of `key` is about to be sent; its ticket stores the answer in finish_read().
  std::uint64_t begin_read(std::string_view key);
  // Stores the answer of the read `ticket`, unless an invalidation of its key (or of
  // everything) came since it began. `expires_at` empty: no expiry. False when not stored.
  bool finish_read(std::string_view key, std::uint64_t ticket, std::string value,
                   std::optional<Clock::time_point> expires_at);
  // The read failed or was abandoned: forget it.
  void abandon_read(std::string_view key, std::uint64_t ticket);

  void invalidate(std::string_view key);
  void invalidate_all();

  std::size_t entries() const noexcept { return index_.size(); }
  std::size_t bytes() const noexcept { return bytes_; }
  std::uint64_t evictions() const noexcept { return evictions_; }

 private:
  struct Entry {
    std::string key;
    std::string value;
    std::optional<Clock::time_point> expires_at;
    std::string decoded;
  };
  using Order = std::list<Entry>;  // most recently used first

  void erase(Order::iterator entry);
  void evict_beyond_limits();
  static std::size_t size_of(const Entry& entry) {
    return entry.key.size() + entry.value.size() + entry.decoded.size();
  }

  NearCacheLimits limits_;
  Order order_;
  std::unordered_map<std::string_view, Order::iterator> index_;  // views into order_'s keys
  std::size_t bytes_ = 0;
  std::uint64_t evictions_ = 0;
  // Reads in flight, by key: the ticket of each still allowed to store.
  std::unordered_multimap<std::string, std::uint64_t> reads_;
  std::uint64_t next_ticket_ = 1;
};

}  // namespace opencode_cache::valkey

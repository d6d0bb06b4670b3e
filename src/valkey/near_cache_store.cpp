#include "near_cache_store.hpp"

#include <iterator>

namespace opencode_cache::valkey {

std::optional<NearCacheStore::Held> NearCacheStore::find_held(std::string_view key,
                                                              Clock::time_point now) {
  const auto found = index_.find(key);
  if (found == index_.end()) return std::nullopt;
  const Order::iterator entry = found->second;
  if (entry->expires_at && *entry->expires_at <= now) {
    erase(entry);
    return std::nullopt;
  }
  order_.splice(order_.begin(), order_, entry);
  return Held{entry->value, entry->decoded};
}

void NearCacheStore::set_decoded(std::string_view key, std::string decoded) {
  const auto found = index_.find(key);
  if (found == index_.end()) return;
  Entry& entry = *found->second;
  bytes_ -= entry.decoded.size();
  entry.decoded = std::move(decoded);
  bytes_ += entry.decoded.size();
  evict_beyond_limits();
}

std::uint64_t NearCacheStore::begin_read(std::string_view key) {
  const std::uint64_t ticket = next_ticket_++;
  reads_.emplace(std::string(key), ticket);
  return ticket;
}

void NearCacheStore::abandon_read(std::string_view key, std::uint64_t ticket) {
  auto [first, last] = reads_.equal_range(std::string(key));
  for (auto it = first; it != last; ++it) {
    if (it->second == ticket) {
      reads_.erase(it);
      return;
    }
  }
}

bool NearCacheStore::finish_read(std::string_view key, std::uint64_t ticket, std::string value,
                                 std::optional<Clock::time_point> expires_at) {
  bool still_valid = false;
  auto [first, last] = reads_.equal_range(std::string(key));
  for (auto it = first; it != last; ++it) {
    if (it->second == ticket) {
      reads_.erase(it);
      still_valid = true;
      break;
    }
  }
  if (!still_valid) return false;
  Entry entry{std::string(key), std::move(value), expires_at, {}};
  if (size_of(entry) > limits_.max_bytes || limits_.max_entries == 0) return false;
  if (const auto found = index_.find(key); found != index_.end()) erase(found->second);
  bytes_ += size_of(entry);
  order_.push_front(std::move(entry));
  index_.emplace(order_.front().key, order_.begin());
  evict_beyond_limits();
  return true;
}

void NearCacheStore::invalidate(std::string_view key) {
  // Reads in flight lose their right to store: what they bring may be older than this.
  reads_.erase(std::string(key));
  if (const auto found = index_.find(key); found != index_.end()) erase(found->second);
}

void NearCacheStore::invalidate_all() {
  reads_.clear();
  index_.clear();
  order_.clear();
  bytes_ = 0;
}

void NearCacheStore::erase(Order::iterator entry) {
  bytes_ -= size_of(*entry);
  index_.erase(std::string_view(entry->key));
  order_.erase(entry);
}

void NearCacheStore::evict_beyond_limits() {
  while (!order_.empty() && (index_.size() > limits_.max_entries || bytes_ > limits_.max_bytes)) {
    erase(std::prev(order_.end()));
    ++evictions_;
  }
}

}  // namespace opencode_cache::valkey

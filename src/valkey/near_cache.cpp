#include "opencode_cache/valkey/near_cache.hpp"

#include "near_cache_store.hpp"
#include "opencode_cache/valkey/error.hpp"
#include "opencode_cache/valkey/pipeline.hpp"
#include "opencode_cache/valkey/reply.hpp"

namespace opencode_cache::valkey {

struct NearCache::Impl {
  Impl(Client& c, NearCacheConfig config)
      : client(c), store(NearCacheLimits{config.max_entries, config.max_bytes}) {}

  Client& client;
  NearCacheStore store;
  NearCacheStats counters;
  std::uint64_t epoch = 0;  // the client's connection whose invalidations the store follows

  // A replaced connection took its pending invalidations with it: start again.
  void follow_current_connection() {
    const std::uint64_t current = client.connection_epoch();
    if (current == epoch) return;
    if (epoch != 0 || store.entries() > 0) ++counters.flushes;
    store.invalidate_all();
    epoch = current;
  }

  void on_push(const resp::Value& push) {
    if (push.elements.size() < 2 || push.elements[0].string != "invalidate") return;
    const resp::Value& keys = push.elements[1];
    if (keys.is_null()) {  // FLUSHALL, FLUSHDB: everything
      ++counters.flushes;
      store.invalidate_all();
      return;
    }
    for (const resp::Value& key : keys.elements) {
      ++counters.invalidations;
      store.invalidate(key.string);
    }
  }

  void drop(std::string_view key) {
    ++counters.invalidations;
    store.invalidate(key);
  }
};

NearCache::NearCache(Client& client, NearCacheConfig config)
    : impl_(std::make_shared<Impl>(client, config)) {
  if (!client.config().tracking || client.config().protocol != 3) {
    throw Error(errc::invalid_config,
                "a NearCache needs a Client with ClientConfig::tracking on, over RESP3 (protocol "
                "3): without invalidations it would serve stale values");
  }
  client.on_push([weak = std::weak_ptr<Impl>(impl_)](resp::Value&& push) {
    if (auto impl = weak.lock()) impl->on_push(push);
  });
}

NearCache::~NearCache() {
  impl_->client.on_push(nullptr);
}

std::optional<std::string_view> NearCache::find(std::string_view key) {
  const auto held = find_held(key);
  if (!held) return std::nullopt;
  return held->value;
}

std::optional<NearCache::Held> NearCache::find_held(std::string_view key) {
  impl_->follow_current_connection();
  const auto held = impl_->store.find_held(key, NearCacheStore::Clock::now());
  if (!held) return std::nullopt;
  ++impl_->counters.hits;
  return held;
}

void NearCache::set_decoded(std::string_view key, std::string decoded) {
  impl_->store.set_decoded(key, std::move(decoded));
}

void NearCache::forget(std::string_view key) {
  impl_->drop(key);
}

Task<std::optional<std::string>> NearCache::get(std::string_view key, RequestOptions options) {
  auto impl = impl_;
  if (auto held = find(key)) co_return std::string(*held);
  ++impl->counters.misses;
  const std::string name(key);
  const std::uint64_t ticket = impl->store.begin_read(name);
  std::vector<resp::Value> replies;
  try {
    Pipeline read;
    read.add("GET", name);
    read.add("PTTL", name);
    replies = co_await impl->client.execute(read, options);
  } catch (...) {
    impl->store.abandon_read(name, ticket);
    throw;
  }
  std::optional<std::string> value = reply::to_optional_string(std::move(replies.at(0)));
  const std::int64_t ttl_ms = replies.at(1).integer;
  // Read on another connection than the one followed: its invalidations were never ours.
  if (!value || impl->client.connection_epoch() != impl->epoch) {
    impl->store.abandon_read(name, ticket);
    co_return value;
  }
  std::optional<NearCacheStore::Clock::time_point> expires_at;
  if (ttl_ms > 0) expires_at = NearCacheStore::Clock::now() + std::chrono::milliseconds(ttl_ms);
  if (!impl->store.finish_read(name, ticket, *value, expires_at)) ++impl->counters.not_stored;
  co_return value;
}

Task<bool> NearCache::set(std::string_view key, std::string_view value, SetOptions options) {
  auto impl = impl_;
  impl->drop(key);
  co_return co_await impl->client.set(key, value, options);
}

Task<std::int64_t> NearCache::del(std::string_view key) {
  auto impl = impl_;
  impl->drop(key);
  co_return co_await impl->client.del(key);
}

NearCacheStats NearCache::stats() const noexcept {
  NearCacheStats out = impl_->counters;
  out.evictions = impl_->store.evictions();
  out.entries = impl_->store.entries();
  out.bytes = impl_->store.bytes();
  return out;
}

}  // namespace opencode_cache::valkey

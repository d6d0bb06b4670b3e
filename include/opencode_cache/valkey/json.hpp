// The seed's JSON helpers: values stored as JSON text, read back into C++ types with
// Boost.JSON (customise a type with tag_invoke value_from / value_to).
//
// A stored JSON null reads as std::nullopt, as the seed's `JSON.parse` gives null. A stored
// value that is not valid JSON, or not convertible to T, throws Error(errc::invalid_json)
// naming the key: the caller decides whether that is a miss or a fault.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "opencode_cache/valkey/client.hpp"

namespace opencode_cache::valkey::json {

template <class T>
std::optional<T> decode(std::string_view text, std::string_view where) {
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(text, ec);
  if (ec) {
    throw Error(errc::invalid_json, std::string(where) + " is not valid JSON: " + ec.message());
  }
  if (parsed.is_null()) return std::nullopt;
  try {
    return boost::json::value_to<T>(parsed);
  } catch (const std::exception& e) {
    throw Error(errc::invalid_json,
                std::string(where) + " does not hold the expected JSON shape: " + e.what());
  }
}

template <class T>
std::string encode(const T& value) {
  return boost::json::serialize(boost::json::value_from(value));
}

template <class T>
Task<std::optional<T>> get(Client& client, std::string_view key) {
  std::optional<std::string> text = co_await client.get(key);
  if (!text) co_return std::nullopt;
  co_return decode<T>(*text, "key '" + std::string(key) + "'");
}

// ttl zero: no expiry (the seed's plain SET).
template <class T>
Task<void> set(Client& client, std::string_view key, const T& value,
               std::chrono::seconds ttl = std::chrono::seconds(0)) {
  co_await client.set(key, encode(value), {.ttl = ttl});
}

template <class T>
Task<void> hset(Client& client, std::string_view key, std::string_view field, const T& value) {
  co_await client.hset(key, field, encode(value));
}

template <class T>
Task<std::optional<T>> hget(Client& client, std::string_view key, std::string_view field) {
  std::optional<std::string> text = co_await client.hget(key, field);
  if (!text) co_return std::nullopt;
  co_return decode<T>(*text,
                      "field '" + std::string(field) + "' of key '" + std::string(key) + "'");
}

// Fields whose value is JSON null are left out.
template <class T>
Task<std::vector<std::pair<std::string, T>>> hgetall(Client& client, std::string_view key) {
  std::vector<std::pair<std::string, T>> out;
  for (auto& [field, text] : co_await client.hgetall(key)) {
    auto value = decode<T>(text, "field '" + field + "' of key '" + std::string(key) + "'");
    if (value) out.emplace_back(std::move(field), std::move(*value));
  }
  co_return out;
}

}  // namespace opencode_cache::valkey::json

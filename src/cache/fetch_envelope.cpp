#include "fetch_envelope.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace opencode_cache::cache {

std::string FetchEnvelope::encode() const {
  return boost::json::serialize(boost::json::object{
      {"value", value}, {"stored_at", stored_at_ms}, {"fresh_until", fresh_until_ms}});
}

std::optional<FetchEnvelope> FetchEnvelope::decode(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(text, ec);
  if (ec || !parsed.is_object()) return std::nullopt;
  auto& object = parsed.as_object();
  const auto* value = object.if_contains("value");
  const auto* stored_at = object.if_contains("stored_at");
  const auto* fresh_until = object.if_contains("fresh_until");
  if (value == nullptr || stored_at == nullptr || !stored_at->is_int64() ||
      fresh_until == nullptr || !fresh_until->is_int64()) {
    return std::nullopt;
  }
  return FetchEnvelope{*value, stored_at->as_int64(), fresh_until->as_int64()};
}

}  // namespace opencode_cache::cache

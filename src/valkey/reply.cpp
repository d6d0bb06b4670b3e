#include "opencode_cache/valkey/reply.hpp"

#include "opencode_cache/valkey/error.hpp"

namespace opencode_cache::valkey::reply {
namespace {

[[noreturn]] void unexpected(const resp::Value& value, std::string_view wanted) {
  throw Error(errc::unexpected_reply, "expected " + std::string(wanted) + ", got " +
                                          std::string(resp::to_string(value.type)) + " " +
                                          resp::to_debug_string(value));
}

}  // namespace

void throw_if_error(const resp::Value& value) {
  if (value.is_error()) throw ServerError(value.string);
}

std::optional<std::string> to_optional_string(resp::Value&& value) {
  throw_if_error(value);
  if (value.is_null()) return std::nullopt;
  if (!value.is_string()) unexpected(value, "a string or null");
  return std::move(value.string);
}

std::string to_string(resp::Value&& value) {
  throw_if_error(value);
  if (!value.is_string()) unexpected(value, "a string");
  return std::move(value.string);
}

std::int64_t to_integer(const resp::Value& value) {
  throw_if_error(value);
  if (value.type != resp::Type::integer) unexpected(value, "an integer");
  return value.integer;
}

bool to_ok(const resp::Value& value) {
  throw_if_error(value);
  if (value.is_null()) return false;
  if (value.type != resp::Type::simple_string) unexpected(value, "OK or null");
  return true;
}

std::vector<std::optional<std::string>> to_optional_strings(resp::Value&& value) {
  throw_if_error(value);
  if (value.type != resp::Type::array) unexpected(value, "an array");
  std::vector<std::optional<std::string>> out;
  out.reserve(value.elements.size());
  for (resp::Value& element : value.elements) out.push_back(to_optional_string(std::move(element)));
  return out;
}

std::vector<std::pair<std::string, std::string>> to_string_pairs(resp::Value&& value) {
  throw_if_error(value);
  if (value.type != resp::Type::map && value.type != resp::Type::array) {
    unexpected(value, "a map");
  }
  if (value.elements.size() % 2 != 0) unexpected(value, "field, value pairs");
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(value.elements.size() / 2);
  for (std::size_t i = 0; i < value.elements.size(); i += 2) {
    out.emplace_back(to_string(std::move(value.elements[i])),
                     to_string(std::move(value.elements[i + 1])));
  }
  return out;
}

}  // namespace opencode_cache::valkey::reply

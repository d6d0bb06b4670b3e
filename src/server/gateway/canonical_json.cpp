#include "server/gateway/canonical_json.hpp"

#include <algorithm>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>
#include <charconv>
#include <cmath>
#include <cstring>

namespace opencode_cache::server::gateway {

namespace {

// Bytes that need an escape in a canonical string: the quote, the backslash, controls.
constexpr bool needs_escape(unsigned char c) {
  return c < 0x20 || c == '"' || c == '\\';
}

void append_escape(unsigned char c, std::string& out) {
  static constexpr char hex[] = "0123456789abcdef";
  switch (c) {
    case '"': out += "\\\""; return;
    case '\\': out += "\\\\"; return;
    case '\b': out += "\\b"; return;
    case '\f': out += "\\f"; return;
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    default: {
      const char escape[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
      out.append(escape, sizeof escape);
    }
  }
}

void append_array(const boost::json::array& array, std::string& out) {
  out += '[';
  bool first = true;
  for (const auto& element : array) {
    if (!first) out += ',';
    first = false;
    append_canonical_json(element, out);
  }
  out += ']';
}

constexpr auto no_member_skipped = [](std::string_view) { return false; };

// True when one of the 8 bytes of `word` needs an escape (a control, '"' or '\\'): the
// classic SWAR tests for a zero byte and for a byte below 0x20, eight bytes per step.
constexpr bool word_needs_escape(std::uint64_t word) {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  const auto has_zero = [](std::uint64_t x) { return (x - ones) & ~x & highs; };
  const std::uint64_t below_space = (word - ones * 0x20) & ~word & highs;
  return (below_space | has_zero(word ^ (ones * '"')) | has_zero(word ^ (ones * '\\'))) != 0;
}

// The index of the first byte at or after `from` that needs an escape, or text.size().
std::size_t next_escape(std::string_view text, std::size_t from) {
  while (from + 8 <= text.size()) {
    std::uint64_t word;
    std::memcpy(&word, text.data() + from, sizeof word);
    if (word_needs_escape(word)) break;
    from += 8;
  }
  while (from < text.size() && !needs_escape(static_cast<unsigned char>(text[from]))) ++from;
  return from;
}

}  // namespace

void append_canonical_string(std::string_view text, std::string& out) {
  out.reserve(out.size() + text.size() + 2);
  out += '"';
  // Copy runs of plain bytes at once; most strings have no escape at all.
  std::size_t run_start = 0;
  for (std::size_t i = next_escape(text, 0); i < text.size(); i = next_escape(text, i + 1)) {
    out.append(text.data() + run_start, i - run_start);
    append_escape(static_cast<unsigned char>(text[i]), out);
    run_start = i + 1;
  }
  out.append(text.data() + run_start, text.size() - run_start);
  out += '"';
}

void append_canonical_number(std::int64_t number, std::string& out) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, number);
  out.append(buffer, result.ptr);
}

void append_canonical_number(std::uint64_t number, std::string& out) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, number);
  out.append(buffer, result.ptr);
}

void append_canonical_number(double number, std::string& out) {
  if (!std::isfinite(number)) {
    out += "null";
    return;
  }
  // 2^63: every integer-valued double below it converts to int64 exactly.
  constexpr double int64_bound = 9223372036854775808.0;
  const bool integral = number == std::trunc(number);
  if (integral && std::fabs(number) < int64_bound) {
    append_canonical_number(static_cast<std::int64_t>(number), out);
    return;
  }
  char buffer[400];
  // Integers up to 1e21 as plain digits (as JavaScript prints them), so that a large
  // integer read as a double and the same digits read as uint64 meet.
  const auto format =
      integral && std::fabs(number) < 1e21 ? std::chars_format::fixed : std::chars_format::general;
  const auto result = format == std::chars_format::general
                          ? std::to_chars(buffer, buffer + sizeof buffer, number)
                          : std::to_chars(buffer, buffer + sizeof buffer, number, format);
  out.append(buffer, result.ptr);
}

void append_canonical_json(const boost::json::value& value, std::string& out) {
  switch (value.kind()) {
    case boost::json::kind::null: out += "null"; return;
    case boost::json::kind::bool_: out += value.get_bool() ? "true" : "false"; return;
    case boost::json::kind::int64: append_canonical_number(value.get_int64(), out); return;
    case boost::json::kind::uint64: append_canonical_number(value.get_uint64(), out); return;
    case boost::json::kind::double_: append_canonical_number(value.get_double(), out); return;
    case boost::json::kind::string: append_canonical_string(value.get_string(), out); return;
    case boost::json::kind::array: append_array(value.get_array(), out); return;
    case boost::json::kind::object:
      append_canonical_object(value.get_object(), no_member_skipped, out);
      return;
  }
}

std::string canonical_json(const boost::json::value& value) {
  std::string out;
  append_canonical_json(value, out);
  return out;
}

namespace detail {

void append_canonical_member(const boost::json::key_value_pair& member, std::string& out) {
  append_canonical_string(member.key(), out);
  out += ':';
  append_canonical_json(member.value(), out);
}

void append_sorted_members(const boost::json::key_value_pair** members, std::size_t count,
                           std::string& out) {
  std::sort(members, members + count, [](const auto* left, const auto* right) {
    // string_view compares with memcmp semantics: unsigned bytes, the UTF-8 order.
    return std::string_view(left->key()) < std::string_view(right->key());
  });
  out += '{';
  for (std::size_t i = 0; i < count; ++i) {
    if (i != 0) out += ',';
    append_canonical_member(*members[i], out);
  }
  out += '}';
}

}  // namespace detail

JsonParseResult parse_request_json(std::string_view body, const JsonLimits& limits) {
  JsonParseResult result;
  if (body.size() > limits.max_bytes) {
    result.error = "request body of " + std::to_string(body.size()) +
                   " bytes exceeds the limit of " + std::to_string(limits.max_bytes) + " bytes";
    return result;
  }
  boost::json::parse_options options;
  options.max_depth = limits.max_depth;
  options.numbers = boost::json::number_precision::precise;
  // The value lives as long as one request: a monotonic arena (shared by the value, freed
  // with it) replaces an allocation per string, array and object.
  auto arena = boost::json::make_shared_resource<boost::json::monotonic_resource>(
      std::max<std::size_t>(1024, body.size() * 2));
  boost::json::parser parser(std::move(arena), options);
  boost::system::error_code ec;
  // The text is complete: write_some parses to its end, or to the byte that is wrong.
  const std::size_t consumed = parser.write_some(body.data(), body.size(), ec);
  if (!ec && consumed < body.size()) ec = boost::json::error::extra_data;
  if (ec) {
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
      result.error = "malformed JSON: the request body is empty";
    } else if (ec == boost::json::error::too_deep) {
      result.error =
          "malformed JSON: nesting deeper than " + std::to_string(limits.max_depth) + " levels";
    } else {
      result.error = "malformed JSON at byte " + std::to_string(consumed) + ": " + ec.message();
    }
    return result;
  }
  result.value = parser.release();
  return result;
}

}  // namespace opencode_cache::server::gateway

// Canonical JSON: one byte sequence per JSON meaning, the input of the request cache key.
//
// The canonical form of a boost::json::value is its compact serialisation with
//  - object keys sorted by their UTF-8 bytes (duplicates cannot occur: the parser keeps the
//    last value of a repeated key, as the upstream APIs do);
//  - no whitespace between tokens;
//  - strings escaped minimally: `"` and `\` as `\"` and `\\`, control characters below 0x20 as
//    `\b \f \n \r \t` or `\u00xx` (lower-case hex); everything else, UTF-8 included, verbatim;
//  - numbers by value, not by spelling: an integer (int64, uint64, or an integer-valued double
//    below 1e21 in magnitude) in plain decimal digits, so 1, 1.0, 1e0 and 10e-1 all read `1`
//    and -0 reads `0`; any other double in its shortest round-trip form (std::to_chars);
//    non-finite doubles (which the parser below never produces) as `null`.
// Canonicalisation is idempotent: canonical(parse(canonical(v))) == canonical(v).
//
// parse_request_json() is the gateway's body parser: bounded size and depth, full-precision
// numbers (so the shortest form round-trips), strict UTF-8, and an error message fit for a 400.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace opencode_cache::server::gateway {

// Appends the canonical form of `value` to `out`.
void append_canonical_json(const boost::json::value& value, std::string& out);

// Appends the canonical form of `object` without the top-level members for which
// `skip(key)` is true (the request key leaves out volatile fields this way, without copying).
template <class Skip>
void append_canonical_object(const boost::json::object& object, Skip&& skip, std::string& out);

// The canonical form of `value` as a new string.
std::string canonical_json(const boost::json::value& value);

// Appends `text` as a canonical JSON string literal, quotes included.
void append_canonical_string(std::string_view text, std::string& out);

// Appends a JSON number in canonical form.
void append_canonical_number(std::int64_t number, std::string& out);
void append_canonical_number(std::uint64_t number, std::string& out);
void append_canonical_number(double number, std::string& out);

struct JsonLimits {
  std::size_t max_bytes = 16 * 1024 * 1024;  // the whole body
  std::size_t max_depth = 64;                // nesting of arrays and objects
};

struct JsonParseResult {
  boost::json::value value;  // null when !ok()
  std::string error;  // empty on success, else e.g. "malformed JSON at byte 12: syntax error"
  bool ok() const { return error.empty(); }
};

// Parses one JSON text (surrounding whitespace allowed, nothing else after it). The value's
// memory comes from an arena it owns (one block per request, freed with the value).
JsonParseResult parse_request_json(std::string_view body, const JsonLimits& limits = {});

namespace detail {
void append_canonical_member(const boost::json::key_value_pair& member, std::string& out);
// Sorts `members` by key bytes and appends them as a JSON object.
void append_sorted_members(const boost::json::key_value_pair** members, std::size_t count,
                           std::string& out);
}  // namespace detail

template <class Skip>
void append_canonical_object(const boost::json::object& object, Skip&& skip, std::string& out) {
  constexpr std::size_t small = 32;
  const boost::json::key_value_pair* on_stack[small];
  std::unique_ptr<const boost::json::key_value_pair*[]> on_heap;
  const boost::json::key_value_pair** members = on_stack;
  if (object.size() > small) {
    on_heap = std::make_unique<const boost::json::key_value_pair*[]>(object.size());
    members = on_heap.get();
  }
  std::size_t count = 0;
  for (const auto& member : object) {
    if (!skip(std::string_view(member.key()))) members[count++] = &member;
  }
  detail::append_sorted_members(members, count, out);
}

}  // namespace opencode_cache::server::gateway

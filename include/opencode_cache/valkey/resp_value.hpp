// A parsed RESP2/RESP3 reply as a tree of plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace opencode_cache::valkey::resp {

// Every type of RESP3 (and so RESP2, its subset). Streamed strings and aggregates are not
// produced by Valkey and are rejected by the parser.
enum class Type : std::uint8_t {
  simple_string,    // +OK
  simple_error,     // -ERR message
  integer,          // :42
  bulk_string,      // $5 hello
  array,            // *2 ...
  null,             // _ (RESP3), $-1 and *-1 (RESP2)
  boolean,          // #t
  double_number,    // ,3.14 (also inf, -inf, nan)
  big_number,       // (12345678901234567890
  verbatim_string,  // =15 txt:Some string
  map,              // %2 k v k v
  set,              // ~2 a b
  push,             // >3 message channel payload
  attribute,        // |1 k v, then the value it describes
  blob_error,       // !21 SYNTAX invalid syntax
};

std::string_view to_string(Type type) noexcept;
bool is_aggregate(Type type) noexcept;

struct Value {
  Type type = Type::null;
  // Payload of the string-like types: simple/bulk/verbatim strings (verbatim without its
  // "txt:" prefix), both error types, big numbers, and a double's text as sent.
  std::string string;
  // Verbatim strings only: the three-letter format, such as "txt" or "mkd".
  std::string format;
  std::int64_t integer = 0;  // integer; boolean as 0 or 1
  double number = 0.0;       // double
  // Array, set and push elements in order; a map as key, value, key, value, ...
  std::vector<Value> elements;
  // Key, value pairs of a RESP3 attribute that preceded this value (usually empty).
  std::vector<Value> attributes;

  bool is_null() const noexcept { return type == Type::null; }
  bool is_error() const noexcept { return type == Type::simple_error || type == Type::blob_error; }
  bool is_string() const noexcept {
    return type == Type::simple_string || type == Type::bulk_string ||
           type == Type::verbatim_string;
  }
  bool is_aggregate() const noexcept { return resp::is_aggregate(type); }

  friend bool operator==(const Value&, const Value&) = default;
};

// Human-readable rendering for logs, errors and tests (not RESP).
std::string to_debug_string(const Value& value);

}  // namespace opencode_cache::valkey::resp

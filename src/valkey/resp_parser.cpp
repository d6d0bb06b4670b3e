#include "opencode_cache/valkey/resp_parser.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <iterator>
#include <limits>
#include <optional>
#include <stdexcept>
#include <utility>

namespace opencode_cache::valkey::resp {
namespace {

constexpr std::string_view crlf = "\r\n";

// RESP allows an explicit '+' on numbers, which from_chars does not; a second sign after it
// must still be refused.
bool strip_plus(std::string_view& text) {
  if (text.empty() || text.front() != '+') return true;
  text.remove_prefix(1);
  return text.empty() || (text.front() != '+' && text.front() != '-');
}

bool parse_signed_slowly(std::string_view text, std::int64_t& out) {
  if (!strip_plus(text) || text.empty()) return false;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && ptr == end;
}

// Nearly every length and integer Valkey sends is a few digits, perhaps negative (-1 for nulls):
// so few that they cannot overflow. This path is kept small enough to be inlined.
inline bool parse_signed(std::string_view text, std::int64_t& out) {
  const bool negative = !text.empty() && text.front() == '-';
  const std::string_view digits = text.substr(negative ? 1 : 0);
  if (digits.empty() || digits.size() > 18) return parse_signed_slowly(text, out);
  std::int64_t value = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return parse_signed_slowly(text, out);
    value = value * 10 + (c - '0');
  }
  out = negative ? -value : value;
  return true;
}

// A finite decimal that does not fit a double: infinity if it is too large, zero if too small,
// signed either way. `text` has passed from_chars, so it is [-]digits[.digits][e[sign]digits].
double out_of_range_double(std::string_view text) {
  const bool negative = text.front() == '-';
  if (negative) text.remove_prefix(1);
  const std::size_t e = text.find_first_of("eE");
  const std::string_view mantissa = text.substr(0, e);
  std::string_view exponent_text = e == std::string_view::npos ? "" : text.substr(e + 1);
  std::int64_t exponent = 0;
  if (!exponent_text.empty()) {
    const bool negative_exponent = exponent_text.front() == '-';
    if (exponent_text.front() == '+') exponent_text.remove_prefix(1);
    const auto* end = exponent_text.data() + exponent_text.size();
    if (std::from_chars(exponent_text.data(), end, exponent).ec != std::errc{}) {
      // More exponent digits than an int64 holds: far beyond a double's range either way.
      exponent = negative_exponent ? -(std::int64_t{1} << 40) : std::int64_t{1} << 40;
    }
  }
  // Decimal exponent of the leading non-zero digit; there is one, as zero is never out of range.
  const std::size_t point = std::min(mantissa.find('.'), mantissa.size());
  const std::size_t first = std::min(mantissa.find_first_not_of("0."), mantissa.size());
  const auto magnitude = first < point ? static_cast<std::int64_t>(point - first - 1)
                                       : -static_cast<std::int64_t>(first - point);
  const double result = magnitude + exponent >= 0 ? std::numeric_limits<double>::infinity() : 0.0;
  return negative ? -result : result;
}

bool parse_double(std::string_view text, double& out) {
  if (!strip_plus(text) || text.empty()) return false;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  if (ptr != end) return false;
  // from_chars leaves `out` alone when the number is out of range, but it is still a number.
  if (ec == std::errc::result_out_of_range) out = out_of_range_double(text);
  return ec == std::errc{} || ec == std::errc::result_out_of_range;
}

bool is_valid_big_number(std::string_view text) {
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) text.remove_prefix(1);
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Type bytes to types, as a table: replies arrive in no predictable order of types, and a
// lookup costs no mispredicted branch.
constexpr std::uint8_t no_type = 0xff;
constexpr std::array<std::uint8_t, 256> type_table = [] {
  std::array<std::uint8_t, 256> table{};
  table.fill(no_type);
  const auto set = [&table](char marker, Type type) {
    table[static_cast<unsigned char>(marker)] = static_cast<std::uint8_t>(type);
  };
  set('+', Type::simple_string);
  set('-', Type::simple_error);
  set(':', Type::integer);
  set('$', Type::bulk_string);
  set('*', Type::array);
  set('_', Type::null);
  set('#', Type::boolean);
  set(',', Type::double_number);
  set('(', Type::big_number);
  set('=', Type::verbatim_string);
  set('%', Type::map);
  set('~', Type::set);
  set('>', Type::push);
  set('|', Type::attribute);
  set('!', Type::blob_error);
  return table;
}();

std::optional<Type> type_of(char marker) {
  const std::uint8_t type = type_table[static_cast<unsigned char>(marker)];
  if (type == no_type) return std::nullopt;
  return static_cast<Type>(type);
}

constexpr std::uint32_t type_bit(Type type) {
  return 1U << static_cast<unsigned>(type);
}

// The parser's own copy of resp::is_aggregate, which lives in another translation unit and so
// would cost a call on every node; a mask test, as it runs several times per node.
constexpr bool is_aggregate_type(Type type) {
  constexpr std::uint32_t aggregates = type_bit(Type::array) | type_bit(Type::map) |
                                       type_bit(Type::set) | type_bit(Type::push) |
                                       type_bit(Type::attribute);
  return (type_bit(type) & aggregates) != 0;
}

// Offset of the first CRLF in `text` if it lies wholly within its first `window` bytes.
// Lines are found on every node (payloads are skipped, never scanned) and most are a few bytes
// long, too short to be worth a call to memchr.
std::size_t find_crlf(std::string_view text, std::size_t window) {
  const char* const begin = text.data();
  const char* const end = begin + std::min(text.size(), window);
  constexpr std::ptrdiff_t short_line = 16;
  const char* p = begin;
  for (const char* short_end = begin + std::min(end - begin, short_line); p < short_end; ++p) {
    if (*p == '\r') break;
  }
  for (; end - p >= 2; ++p) {
    if (*p != '\r') {
      p = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(end - p - 1)));
      if (p == nullptr) break;
    }
    if (p[1] == '\n') return static_cast<std::size_t>(p - begin);
  }
  return std::string_view::npos;
}

// Why the line of a simple type is not valid, or nullptr if it is.
const char* scalar_error(Type type, std::string_view line) {
  switch (type) {
    case Type::integer: {
      std::int64_t ignored = 0;
      return parse_signed(line, ignored) ? nullptr : "invalid RESP integer";
    }
    case Type::null: return line.empty() ? nullptr : "invalid RESP null";
    case Type::boolean: return line == "t" || line == "f" ? nullptr : "invalid RESP boolean";
    case Type::double_number: {
      double ignored = 0;
      return parse_double(line, ignored) ? nullptr : "invalid RESP double";
    }
    case Type::big_number: return is_valid_big_number(line) ? nullptr : "invalid RESP big number";
    default: return nullptr;  // simple string and simple error: any line
  }
}

constexpr bool is_blob(Type type) {
  constexpr std::uint32_t blobs =
      type_bit(Type::bulk_string) | type_bit(Type::verbatim_string) | type_bit(Type::blob_error);
  return (type_bit(type) & blobs) != 0;
}

}  // namespace

Parser::Result Parser::fail(std::string message) {
  error_ = std::move(message);
  return {Status::error, 0, {}};
}

void Parser::reset() {
  stack_.clear();
  error_.clear();
  bytes_needed_ = 1;
  reply_complete_ = false;
  attribute_at_top_ = false;
}

Parser::Result Parser::next(std::string_view input) {
  if (failed()) return {Status::error, 0, {}};
  reply_complete_ = false;
  if (input.empty()) {
    bytes_needed_ = 1;
    return {Status::need_more, 0, {}};
  }

  const auto type = type_of(input.front());
  if (!type) {
    return fail("unknown RESP type byte " + std::to_string(static_cast<unsigned char>(input[0])));
  }

  const std::size_t line_window = limits_.max_line_length + 3;  // type byte, line, CRLF
  const std::size_t line_end = find_crlf(input, line_window);
  if (line_end == std::string_view::npos) {
    if (input.size() >= line_window) return fail("RESP line too long");
    bytes_needed_ = input.size() + 1;
    return {Status::need_more, 0, {}};
  }
  const std::string_view line(input.data() + 1, line_end - 1);
  const std::size_t header_size = line_end + crlf.size();

  Node node{*type, stack_.size(), 0, line};
  std::size_t consumed = header_size;

  if (is_blob(*type) || is_aggregate_type(*type)) {
    if (line == "?") return fail("streamed RESP3 types are not supported");
    std::int64_t length = 0;
    if (!parse_signed(line, length) || length < -1) return fail("invalid RESP length");
    if (length == -1) {
      // RESP2 null bulk string ($-1) and null array (*-1).
      if (*type != Type::bulk_string && *type != Type::array) return fail("invalid RESP length");
      node.type = Type::null;
      node.data = {};
    } else if (is_blob(*type)) {
      const auto size = static_cast<std::size_t>(length);
      if (size > limits_.max_bulk_length) return fail("RESP bulk length over the limit");
      if (*type == Type::verbatim_string && size < 4) {
        return fail("verbatim string without a format");
      }
      const std::size_t total = header_size + size + crlf.size();
      if (input.size() < total) {
        bytes_needed_ = total;
        return {Status::need_more, 0, {}};
      }
      const char* payload = input.data() + header_size;
      if (payload[size] != '\r' || payload[size + 1] != '\n') {
        return fail("RESP bulk string not terminated by CRLF");
      }
      node.data = std::string_view(payload, size);
      if (*type == Type::verbatim_string && node.data[3] != ':') {
        return fail("verbatim string without a format");
      }
      consumed = total;
    } else {
      const auto size = static_cast<std::size_t>(length);
      if (size > limits_.max_aggregate_size) return fail("RESP aggregate size over the limit");
      if (stack_.size() >= limits_.max_depth) return fail("RESP nesting too deep");
      node.aggregate_size = size;
      node.data = {};
    }
  } else if (const char* error = scalar_error(*type, line)) {
    return fail(error);
  }

  complete_node(node);
  bytes_needed_ = 1;
  return {Status::node, consumed, node};
}

void Parser::complete_node(const Node& node) {
  if (is_aggregate_type(node.type) && node.aggregate_size > 0) {
    const bool pairs = node.type == Type::map || node.type == Type::attribute;
    stack_.push_back({node.type, node.aggregate_size * (pairs ? 2 : 1)});
    return;
  }
  Type finished = node.type;
  while (true) {
    if (stack_.empty()) {
      attribute_at_top_ = finished == Type::attribute;
      reply_complete_ = !attribute_at_top_;
      return;
    }
    // An attribute describes the value after it and is not one of its parent's elements.
    if (finished == Type::attribute) return;
    Open& parent = stack_.back();
    if (--parent.remaining > 0) return;
    finished = parent.type;
    stack_.pop_back();
  }
}

namespace {

// Fills a value constructed in place, which saves moving the large Value on every node.
void fill_scalar(Value& value, const Node& node) {
  value.type = node.type;
  switch (node.type) {
    case Type::integer: parse_signed(node.data, value.integer); break;
    case Type::boolean: value.integer = node.data == "t" ? 1 : 0; break;
    case Type::double_number:
      value.string = node.data;
      parse_double(node.data, value.number);
      break;
    case Type::verbatim_string:
      value.format = node.data.substr(0, 3);
      value.string = node.data.substr(4);
      break;
    case Type::null: break;
    default:
      if (!is_aggregate_type(node.type)) value.string = node.data;
      break;
  }
}

}  // namespace

void ValueBuilder::add(const Node& node) {
  if (open_.size() > node.depth) open_.resize(node.depth);
  std::vector<Value>& siblings = node.depth == 0 ? roots_ : open_.back()->elements;
  Value& value = siblings.emplace_back();
  fill_scalar(value, node);
  if (is_aggregate_type(node.type)) {
    if (node.type == Type::attribute) saw_attribute_ = true;
    const bool pairs = node.type == Type::map || node.type == Type::attribute;
    // Reserve only a little: the declared size is the peer's claim, not bytes we have.
    constexpr std::size_t max_reserve = 256;
    value.elements.reserve(std::min(node.aggregate_size * (pairs ? 2 : 1), max_reserve));
    open_.push_back(&value);
  }
}

void ValueBuilder::attach_attributes(std::vector<Value>& values) {
  std::vector<Value> kept;
  kept.reserve(values.size());
  std::vector<Value> pending;
  for (Value& value : values) {
    attach_attributes(value.elements);
    if (value.type == Type::attribute) {
      std::move(value.elements.begin(), value.elements.end(), std::back_inserter(pending));
      continue;
    }
    value.attributes = std::move(pending);
    pending.clear();
    kept.push_back(std::move(value));
  }
  values = std::move(kept);
}

Value ValueBuilder::take() {
  if (saw_attribute_) attach_attributes(roots_);
  Value result = roots_.empty() ? Value{} : std::move(roots_.back());
  roots_.clear();
  open_.clear();
  saw_attribute_ = false;
  return result;
}

Value parse_one(std::string_view bytes, ParserLimits limits) {
  Parser parser(limits);
  ValueBuilder builder;
  while (true) {
    const auto result = parser.next(bytes);
    if (result.status == Parser::Status::error) throw std::invalid_argument(parser.error());
    if (result.status == Parser::Status::need_more) {
      throw std::invalid_argument("incomplete RESP reply");
    }
    builder.add(result.node);
    bytes.remove_prefix(result.consumed);
    if (parser.reply_complete()) {
      if (!bytes.empty()) throw std::invalid_argument("bytes after the RESP reply");
      return builder.take();
    }
  }
}

}  // namespace opencode_cache::valkey::resp

// Sans-I/O, incremental RESP2/RESP3 parser.
//
// The parser is pulled one node at a time over whatever bytes have arrived; it never copies
// and never allocates in proportion to what the peer declares, only to nesting depth. Nodes
// come in pre-order (an aggregate before its elements), as in Boost.Redis, so a consumer can
// build any representation it likes; ValueBuilder builds resp::Value trees.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "opencode_cache/valkey/resp_value.hpp"

namespace opencode_cache::valkey::resp {

struct ParserLimits {
  // Valkey's own default proto-max-bulk-len.
  std::size_t max_bulk_length = 512ULL * 1024 * 1024;
  std::size_t max_aggregate_size = 1ULL << 32;
  std::size_t max_depth = 64;
  // Longest header or simple string line accepted before its CRLF.
  std::size_t max_line_length = std::size_t{64} * 1024;
};

struct Node {
  Type type = Type::null;
  std::size_t depth = 0;  // 0 for a top-level reply
  // Aggregates: the declared number of elements (map and attribute: of pairs).
  std::size_t aggregate_size = 0;
  // The payload of simple types, a view into the input: valid until the input changes.
  // Verbatim strings keep their "txt:" prefix here.
  std::string_view data;
};

class Parser {
 public:
  enum class Status : std::uint8_t { node, need_more, error };

  struct Result {
    Status status = Status::need_more;
    std::size_t consumed = 0;  // bytes of input the node used
    Node node;
  };

  explicit Parser(ParserLimits limits = {}) : limits_(limits) {}

  // Parses the next node from the front of `input`. On need_more nothing is consumed: call
  // again with the same bytes and more appended. After an error the parser stays failed.
  Result next(std::string_view input);

  // True right after the last node of a top-level reply.
  bool reply_complete() const noexcept { return reply_complete_; }
  bool failed() const noexcept { return !error_.empty(); }
  const std::string& error() const noexcept { return error_; }
  // A lower bound on the input size that next() needs to make progress after need_more.
  std::size_t bytes_needed() const noexcept { return bytes_needed_; }
  void reset();

 private:
  struct Open {
    Type type;
    std::size_t remaining;  // elements still to come
  };

  Result fail(std::string message);
  void complete_node(const Node& node);
  void close_finished_aggregates();

  ParserLimits limits_;
  std::vector<Open> stack_;
  std::string error_;
  std::size_t bytes_needed_ = 1;
  bool reply_complete_ = false;
  bool attribute_at_top_ = false;  // a top-level attribute precedes the reply's value
};

// Builds resp::Value trees from the parser's nodes.
class ValueBuilder {
 public:
  void add(const Node& node);
  // The finished reply; call once Parser::reply_complete() turned true.
  Value take();

 private:
  Value make_value(const Node& node) const;
  static void attach_attributes(std::vector<Value>& values);

  std::vector<Value> roots_;
  std::vector<Value*> open_;
  bool saw_attribute_ = false;
};

// Parses a whole byte string that holds exactly one reply; for tests and tools.
// Throws std::invalid_argument on malformed or incomplete input.
Value parse_one(std::string_view bytes, ParserLimits limits = {});

}  // namespace opencode_cache::valkey::resp

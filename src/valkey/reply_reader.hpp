// Internal: turns the bytes of a connection into whole replies: a read buffer, the parser and the
// value builder. Sans-I/O: the caller reads into prepare() and commit()s what arrived.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "opencode_cache/valkey/resp_parser.hpp"

namespace opencode_cache::valkey {

class ReplyReader {
 public:
  explicit ReplyReader(resp::ParserLimits limits = {}) : parser_(limits) {}

  // Free space to read into: what the reply being parsed still needs, so that a large bulk
  // string arrives in few reads and is never re-scanned; but growing with the bytes that
  // arrive (at most doubling), not with the length the peer declares.
  std::span<char> prepare();
  void commit(std::size_t bytes) noexcept { end_ += bytes; }

  // Moves the next whole reply into `out`; false when more bytes are needed.
  // Throws Error(errc::protocol_error) on malformed input.
  bool next(resp::Value& out);

  // Forgets buffered bytes and any partial reply (a new connection).
  void reset();
  std::size_t buffered() const noexcept { return end_ - begin_; }
  std::size_t capacity() const noexcept { return buffer_.size(); }

 private:
  static constexpr std::size_t min_read = std::size_t{16} * 1024;
  static constexpr std::size_t max_idle_capacity = std::size_t{1024} * 1024;
  static constexpr std::size_t first_large_step = std::size_t{1024} * 1024;

  resp::Parser parser_;
  resp::ValueBuilder builder_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;  // first unparsed byte
  std::size_t end_ = 0;    // one past the last byte read
};

}  // namespace opencode_cache::valkey

#include "reply_reader.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "opencode_cache/valkey/error.hpp"

namespace opencode_cache::valkey {

std::span<char> ReplyReader::prepare() {
  const std::size_t unparsed = end_ - begin_;
  // Room for the rest of a large reply, but never more than twice what has arrived (and a
  // first step): a peer's declared length is a claim, and memory follows the bytes that back
  // it. Doubling keeps a large bulk to few reads and copies all the same.
  const std::size_t growth_cap = std::max(2 * unparsed, first_large_step);
  const std::size_t wanted =
      std::max(std::min(parser_.bytes_needed(), growth_cap), unparsed + min_read);
  if (unparsed == 0 && buffer_.size() > max_idle_capacity) {
    // One large reply must not pin its memory for the life of the connection.
    buffer_ = std::vector<char>(min_read);
    begin_ = end_ = 0;
  }
  if (begin_ > 0 && (unparsed == 0 || buffer_.size() - begin_ < wanted)) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, unparsed);
    begin_ = 0;
    end_ = unparsed;
  }
  if (buffer_.size() - begin_ < wanted)
    buffer_.resize(std::max(begin_ + wanted, buffer_.size() * 2));
  return {buffer_.data() + end_, buffer_.size() - end_};
}

bool ReplyReader::next(resp::Value& out) {
  while (true) {
    const std::string_view input(buffer_.data() + begin_, end_ - begin_);
    const auto result = parser_.next(input);
    switch (result.status) {
      case resp::Parser::Status::need_more: return false;
      case resp::Parser::Status::error:
        throw Error(errc::protocol_error, "invalid reply from the server: " + parser_.error());
      case resp::Parser::Status::node:
        builder_.add(result.node);
        begin_ += result.consumed;
        if (parser_.reply_complete()) {
          out = builder_.take();
          return true;
        }
    }
  }
}

void ReplyReader::reset() {
  parser_.reset();
  builder_ = {};
  begin_ = 0;
  end_ = 0;
}

}  // namespace opencode_cache::valkey

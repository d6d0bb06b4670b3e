// libFuzzer target for the RESP parser and ValueBuilder.
//
// Each input is decoded three ways: whole, split in two at a point taken from its first byte,
// and in small chunks. All three must agree, since a socket may cut a reply anywhere, and the
// parser's own contract (consumed bytes, need_more, bytes_needed) must hold at every step.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "opencode_cache/valkey/resp_parser.hpp"

namespace {

namespace resp = opencode_cache::valkey::resp;

void require(bool ok, const char* invariant) {
  if (ok) return;
  std::fprintf(stderr, "RESP parser invariant broken: %s\n", invariant);
  std::abort();
}

resp::ParserLimits fuzz_limits() {
  resp::ParserLimits limits;
  limits.max_bulk_length = 1024 * 1024;
  limits.max_aggregate_size = 1024 * 1024;
  limits.max_depth = 32;
  // Small enough that feeding a long line in small chunks stays fast.
  limits.max_line_length = 4096;
  return limits;
}

// A canonical text of a value that, unlike operator==, treats two NaNs alike.
void describe(const resp::Value& value, std::string& out) {
  out += std::to_string(static_cast<int>(value.type));
  out += '|' + std::to_string(value.string.size()) + ':' + value.string;
  out += '|' + value.format + '|' + std::to_string(value.integer) + '|';
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value.number, sizeof bits);
  out += std::to_string(bits);
  for (const auto* list : {&value.attributes, &value.elements}) {
    out += '(';
    for (const resp::Value& element : *list) describe(element, out);
    out += ')';
  }
}

struct Outcome {
  std::vector<std::string> replies;
  std::string error;
  std::size_t left_over = 0;

  bool operator==(const Outcome&) const = default;
};

// Decodes chunks as a client reading a socket would, checking the parser's contract as it goes.
class Decoder {
 public:
  Decoder() : parser_(fuzz_limits()) {}

  void feed(std::string_view chunk) {
    if (parser_.failed()) return;
    buffer_.append(chunk);
    const bool below_lower_bound = buffer_.size() < parser_.bytes_needed();
    std::size_t offset = 0;
    while (true) {
      const std::string_view input = std::string_view(buffer_).substr(offset);
      const auto result = parser_.next(input);
      require(result.consumed <= input.size(), "consumed more than the input");
      if (result.status == resp::Parser::Status::need_more) {
        require(result.consumed == 0, "need_more consumed bytes");
        require(parser_.bytes_needed() > input.size(), "bytes_needed not beyond the input");
        break;
      }
      require(!below_lower_bound || offset > 0, "progress below bytes_needed");
      if (result.status == resp::Parser::Status::error) {
        require(result.consumed == 0, "error consumed bytes");
        require(parser_.failed() && !parser_.error().empty(), "error without a message");
        outcome_.error = parser_.error();
        break;
      }
      require(result.consumed > 0, "node consumed nothing");
      builder_.add(result.node);
      offset += result.consumed;
      if (parser_.reply_complete()) finish_reply();
    }
    buffer_.erase(0, offset);
  }

  Outcome finish() {
    // After an error the decoders stopped buffering at different points; only the error counts.
    outcome_.left_over = parser_.failed() ? 0 : buffer_.size();
    return outcome_;
  }

 private:
  void finish_reply() {
    const resp::Value value = builder_.take();
    std::string text;
    describe(value, text);
    outcome_.replies.push_back(std::move(text));
    static_cast<void>(resp::to_debug_string(value));
  }

  resp::Parser parser_;
  resp::ValueBuilder builder_;
  std::string buffer_;
  Outcome outcome_;
};

Outcome decode_whole(std::string_view input) {
  Decoder decoder;
  decoder.feed(input);
  return decoder.finish();
}

Outcome decode_split(std::string_view input, std::size_t split) {
  Decoder decoder;
  decoder.feed(input.substr(0, split));
  decoder.feed(input.substr(split));
  return decoder.finish();
}

Outcome decode_in_chunks(std::string_view input, std::size_t chunk_size) {
  Decoder decoder;
  for (std::size_t i = 0; i < input.size(); i += chunk_size) {
    decoder.feed(input.substr(i, chunk_size));
  }
  return decoder.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first byte is also the RESP type byte, so derive the cut from it without wasting it.
  const std::size_t split = size * data[0] / 255;
  const std::size_t chunk_size = 1 + data[0] % 8;

  const Outcome whole = decode_whole(input);
  require(decode_split(input, split) == whole, "split input decoded differently");
  require(decode_in_chunks(input, chunk_size) == whole, "chunked input decoded differently");

  try {
    const resp::Value value = resp::parse_one(input, fuzz_limits());
    require(whole.replies.size() == 1 && whole.left_over == 0 && whole.error.empty(),
            "parse_one accepted what the parser did not see as one reply");
  } catch (const std::invalid_argument&) {
  }
  return 0;
}

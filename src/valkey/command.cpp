#include "opencode_cache/valkey/command.hpp"

#include <array>
#include <charconv>

namespace opencode_cache::valkey {
namespace {

void append_number(std::string& out, std::size_t value) {
  std::array<char, 24> digits{};
  auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), end);
}

}  // namespace

Command& Command::arg(std::string_view value) {
  if (count_ == 0) name_ = value;
  body_ += '$';
  append_number(body_, value.size());
  body_ += "\r\n";
  body_ += value;
  body_ += "\r\n";
  ++count_;
  return *this;
}

Command& Command::arg_integer(std::int64_t value) {
  std::array<char, 24> digits{};
  auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  return arg(std::string_view(digits.data(), static_cast<std::size_t>(end - digits.data())));
}

Command& Command::arg_unsigned(std::uint64_t value) {
  std::array<char, 24> digits{};
  auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  return arg(std::string_view(digits.data(), static_cast<std::size_t>(end - digits.data())));
}

Command& Command::arg(double value) {
  std::array<char, 32> digits{};
  auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  return arg(std::string_view(digits.data(), static_cast<std::size_t>(end - digits.data())));
}

std::string_view Command::argument(std::size_t index) const noexcept {
  const std::string_view body = body_;
  std::size_t at = 0;
  for (std::size_t i = 0; i < count_; ++i) {
    // "$<length>\r\n<bytes>\r\n", as arg() wrote it.
    const std::size_t digits_end = body.find('\r', at);
    std::size_t length = 0;
    std::from_chars(body.data() + at + 1, body.data() + digits_end, length);
    const std::size_t value_at = digits_end + 2;
    if (i == index) return body.substr(value_at, length);
    at = value_at + length + 2;
  }
  return {};
}

void Command::encode_to(std::string& out) const {
  out.reserve(out.size() + body_.size() + 24);
  out += '*';
  append_number(out, count_);
  out += "\r\n";
  out += body_;
}

std::string Command::encoded() const {
  std::string out;
  encode_to(out);
  return out;
}

}  // namespace opencode_cache::valkey

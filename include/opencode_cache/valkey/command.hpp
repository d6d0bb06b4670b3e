// One Valkey command, encoded as a RESP array of bulk strings as its arguments are added.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace opencode_cache::valkey {

class Command {
 public:
  Command() = default;

  template <class... Args>
  explicit Command(std::string_view name, const Args&... args) {
    body_.reserve((size_hint(name) + ... + size_hint(args)));
    arg(name);
    (arg(args), ...);
  }

  Command& arg(std::string_view value);
  Command& arg(const std::string& value) { return arg(std::string_view(value)); }
  Command& arg(const char* value) { return arg(std::string_view(value)); }
  Command& arg(std::integral auto value) {
    // Unsigned values above INT64_MAX (ids, hashes) must not wrap to negative numbers.
    if constexpr (std::is_signed_v<decltype(value)>) {
      return arg_integer(static_cast<std::int64_t>(value));
    } else {
      return arg_unsigned(static_cast<std::uint64_t>(value));
    }
  }
  Command& arg(double value);

  template <class Range>
  requires requires(const Range& r) {
    r.begin();
    r.end();
  }
  Command& args(const Range& values) {
    for (const auto& value : values) arg(value);
    return *this;
  }

  // The command's name as given (first argument), for routing and retry decisions.
  std::string_view name() const noexcept { return name_; }
  std::size_t argument_count() const noexcept { return count_; }
  // Argument `index` (0 is the name); empty past the end. Walks the encoding: for the rare
  // decisions that need a subcommand or an option, not for hot paths.
  std::string_view argument(std::size_t index) const noexcept;
  bool empty() const noexcept { return count_ == 0; }

  // Appends the RESP encoding to `out`.
  void encode_to(std::string& out) const;
  std::string encoded() const;

 private:
  // Bytes an argument takes encoded, or a little more: one allocation per command.
  static std::size_t size_hint(std::string_view value) noexcept { return value.size() + 16; }
  static std::size_t size_hint(std::integral auto) noexcept { return 40; }
  static std::size_t size_hint(double) noexcept { return 48; }

  Command& arg_integer(std::int64_t value);
  Command& arg_unsigned(std::uint64_t value);

  std::string body_;
  std::string name_;
  std::size_t count_ = 0;
};

}  // namespace opencode_cache::valkey

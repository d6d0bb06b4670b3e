#pragma once

#include <algorithm>
#include <string>
#include <string_view>

namespace opencode_cache::server::gateway {

// Header names, directives and hex digits are ASCII: these never consult the locale, which
// std::tolower does for every byte.
constexpr char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

inline bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

}  // namespace opencode_cache::server::gateway

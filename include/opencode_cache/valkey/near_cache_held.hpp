#pragma once

#include <string_view>

namespace opencode_cache::valkey {

// A value a near cache holds, and the form of it its reader decoded before (empty until the
// reader sets one). Views into the near cache: valid until it is next called.
struct NearCacheHeld {
  std::string_view value;
  std::string_view decoded;
};

}  // namespace opencode_cache::valkey

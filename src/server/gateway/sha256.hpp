// SHA-256 in lower-case hex, for request keys and credential scopes. The gateway logic links
// OpenSSL's crypto library only (it builds alone in the fuzz build, without libopencode_cache),
// so it keeps its own thread-local digest context, as cache_keys.cpp does for the library.
#pragma once

#include <string>
#include <string_view>

namespace opencode_cache::server::gateway {

// The 64 hex digits of SHA-256(text).
std::string sha256_hex(std::string_view text);

}  // namespace opencode_cache::server::gateway

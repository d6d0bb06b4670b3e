#pragma once

#include <cstdint>

namespace opencode_cache::testing {

// A loopback TCP port nobody is bound to at the moment of the call. Another process can take
// it before the caller binds it; callers that start servers retry on "Address already in use".
std::uint16_t free_loopback_port();

}  // namespace opencode_cache::testing

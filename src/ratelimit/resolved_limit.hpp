// A limit a request names (type and id), resolved against the configuration: the limit that
// applies and the key that holds its state.
#pragma once

#include <string>

#include "opencode_cache/ratelimit/limit_config.hpp"

namespace opencode_cache::ratelimit {

struct ResolvedLimit {
  std::string type;
  std::string key;
  const LimitConfig* limit = nullptr;
};

}  // namespace opencode_cache::ratelimit

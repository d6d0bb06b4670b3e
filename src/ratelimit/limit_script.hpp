// The server-side rate limit script (lua/rate_limit.lua) as a call and a reply: the arguments
// for one request against several limits, and the reply read back into numbers. No I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "opencode_cache/ratelimit/limit_config.hpp"
#include "opencode_cache/valkey/resp_value.hpp"
#include "opencode_cache/valkey/script.hpp"

namespace opencode_cache::ratelimit {

const valkey::Script& rate_limit_script();

enum class ScriptMode : std::uint8_t { consume, peek };

struct ScriptCall {
  std::vector<std::string> keys;
  std::vector<std::string> args;
};

// Appends a limit's key and its three arguments.
void add_limit(ScriptCall& call, std::string key, const LimitConfig& limit);

// A call with no limits yet. `now`: the time the script should use instead of its TIME
// (tests only); `member_suffix` makes the sliding-log members of this request unique.
ScriptCall begin_call(ScriptMode mode, std::optional<std::chrono::microseconds> now,
                      std::string member_suffix);

struct ScriptOutcome {
  bool allowed = false;
  std::uint64_t remaining = 0;
  std::chrono::milliseconds reset_after{0};
  std::chrono::milliseconds retry_after{0};
};

struct ScriptReply {
  std::chrono::microseconds now{0};  // the time the script decided at (since the Unix epoch)
  std::vector<ScriptOutcome> outcomes;
};

// Throws valkey::Error(unexpected_reply) unless the reply holds `limits` outcomes.
ScriptReply parse_script_reply(const valkey::resp::Value& reply, std::size_t limits);

}  // namespace opencode_cache::ratelimit

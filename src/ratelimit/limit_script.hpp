// The server-side rate limit script (lua/rate_limit.lua) as a call and a reply: the arguments
// that decide a batch of requests (each against its own limits) in one call, and the reply
// read back into one outcome per request. No I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opencode_cache/valkey/resp_value.hpp"
#include "opencode_cache/valkey/script.hpp"
#include "resolved_limit.hpp"

namespace opencode_cache::ratelimit {

const valkey::Script& rate_limit_script();

// release: undoes a request an earlier call admitted (its ScriptReply::member), then reports
// its limits as a peek would. The cluster's check_many releases what it reserved in one slot
// when a later slot refuses (docs/cluster.md).
enum class ScriptMode : std::uint8_t { consume, peek, release };

struct ScriptCall {
  std::vector<std::string> keys;
  std::vector<std::string> args;
};

struct ScriptOutcome {
  bool allowed = false;
  std::uint64_t remaining = 0;
  std::chrono::milliseconds reset_after{0};
  std::chrono::milliseconds retry_after{0};
};

// One request's answer: its outcomes in the order of its limits, or the server's refusal of
// one of its keys (WRONGTYPE...), which concerns this request only.
struct ScriptReply {
  std::chrono::microseconds now{0};  // the time the script decided at (since the Unix epoch)
  std::vector<ScriptOutcome> outcomes;
  std::optional<std::string> server_error;
  // A consume request every limit admitted: the sliding-log member it recorded, which a
  // release names. Empty otherwise.
  std::string member;
};

// Builds one script call from requests added in order. A key named by several requests is
// sent once and its state read once, so the requests are decided one after the other on it.
class ScriptBatch {
 public:
  // `limits` is read now, not kept. A limit listed twice in one request is the caller's
  // error (RateLimiter refuses it before). `released`: for a release, the member of the
  // request it undoes.
  void add(const std::vector<ResolvedLimit>& limits, ScriptMode mode,
           std::string_view released = {});
  std::size_t requests() const noexcept { return requests_.size(); }
  bool empty() const noexcept { return requests_.empty(); }

  // The call, once every request is added. `now`: the time the script should use instead of
  // its TIME (tests only); `member_suffix` makes this call's sliding-log members unique.
  ScriptCall finish(std::optional<std::chrono::microseconds> now, std::string member_suffix);

  // One reply per request, in order. Throws valkey::ServerError when the whole call was
  // refused, valkey::Error(unexpected_reply) when the reply does not fit the requests.
  std::vector<ScriptReply> parse(const valkey::resp::Value& reply) const;

 private:
  std::size_t key_index(const ResolvedLimit& limit);

  ScriptCall call_;
  std::vector<std::string> key_configs_;  // algorithm, window, max per key, appended last
  struct Request {
    std::size_t limits;
    ScriptMode mode;
  };
  std::vector<Request> requests_;
  std::string member_suffix_;
  // Open addressing over call_.keys indexes (+1; 0 = empty), grown to stay at most half full.
  std::vector<std::uint32_t> slots_;
};

}  // namespace opencode_cache::ratelimit

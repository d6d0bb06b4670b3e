#include "limit_script.hpp"

#include <opencode_cache/embedded/rate_limit.hpp>
#include <utility>

#include "opencode_cache/valkey/error.hpp"
#include "opencode_cache/valkey/reply.hpp"

namespace opencode_cache::ratelimit {

namespace {

// The reply's leading value (the time) and the four values per limit.
constexpr std::size_t header_values = 1;
constexpr std::size_t values_per_limit = 4;

std::uint64_t non_negative(const valkey::resp::Value& value) {
  const std::int64_t number = valkey::reply::to_integer(value);
  if (number < 0) {
    throw valkey::Error(valkey::errc::unexpected_reply,
                        "rate limit script returned the negative number " + std::to_string(number));
  }
  return static_cast<std::uint64_t>(number);
}

std::chrono::milliseconds milliseconds(const valkey::resp::Value& value) {
  return std::chrono::milliseconds(non_negative(value));
}

}  // namespace

const valkey::Script& rate_limit_script() {
  static const valkey::Script script{std::string(embedded::rate_limit_source)};
  return script;
}

ScriptCall begin_call(ScriptMode mode, std::optional<std::chrono::microseconds> now,
                      std::string member_suffix) {
  ScriptCall call;
  call.args.reserve(6);
  call.args.emplace_back(mode == ScriptMode::consume ? "consume" : "peek");
  call.args.push_back(now ? std::to_string(now->count()) : std::string());
  call.args.push_back(std::move(member_suffix));
  return call;
}

void add_limit(ScriptCall& call, std::string key, const LimitConfig& limit) {
  call.keys.push_back(std::move(key));
  call.args.emplace_back(to_string(limit.algorithm));
  call.args.push_back(std::to_string(limit.window.count()));
  call.args.push_back(std::to_string(limit.max_requests));
}

ScriptReply parse_script_reply(const valkey::resp::Value& reply, std::size_t limits) {
  valkey::reply::throw_if_error(reply);
  const auto& values = reply.elements;
  if (reply.type != valkey::resp::Type::array ||
      values.size() != header_values + values_per_limit * limits) {
    throw valkey::Error(valkey::errc::unexpected_reply,
                        "rate limit script returned " + valkey::resp::to_debug_string(reply));
  }
  ScriptReply out;
  out.now = std::chrono::microseconds(non_negative(values[0]));
  out.outcomes.reserve(limits);
  for (std::size_t i = header_values; i < values.size(); i += values_per_limit) {
    out.outcomes.push_back({.allowed = non_negative(values[i]) == 1,
                            .remaining = non_negative(values[i + 1]),
                            .reset_after = milliseconds(values[i + 2]),
                            .retry_after = milliseconds(values[i + 3])});
  }
  return out;
}

}  // namespace opencode_cache::ratelimit

#include "limit_script.hpp"

#include <functional>
#include <opencode_cache/embedded/rate_limit.hpp>
#include <utility>

#include "opencode_cache/valkey/error.hpp"
#include "opencode_cache/valkey/reply.hpp"

namespace opencode_cache::ratelimit {

namespace {

// The reply's leading value (the time) and the four values per limit.
constexpr std::size_t header_values = 1;
constexpr std::size_t values_per_limit = 4;
constexpr std::size_t initial_slots = 64;

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

[[noreturn]] void unexpected(const valkey::resp::Value& reply) {
  throw valkey::Error(valkey::errc::unexpected_reply,
                      "rate limit script returned " + valkey::resp::to_debug_string(reply));
}

std::size_t hash_of(std::string_view key) {
  return std::hash<std::string_view>{}(key);
}

std::string_view mode_name(ScriptMode mode) {
  switch (mode) {
    case ScriptMode::consume: return "consume";
    case ScriptMode::peek: return "peek";
    case ScriptMode::release: return "release";
  }
  return "peek";
}

// The script's member for request `request` (1-based) of a call: "<ms>:<suffix>.<request>".
std::string member_of(std::chrono::microseconds now, std::string_view suffix, std::size_t request) {
  std::string member = std::to_string(now.count() / 1000);
  member += ':';
  member.append(suffix);
  member += '.';
  member += std::to_string(request);
  return member;
}

}  // namespace

const valkey::Script& rate_limit_script() {
  static const valkey::Script script{std::string(embedded::rate_limit_source)};
  return script;
}

std::size_t ScriptBatch::key_index(const ResolvedLimit& limit) {
  if (slots_.empty()) slots_.assign(initial_slots, 0);
  const std::size_t mask = slots_.size() - 1;
  std::size_t slot = hash_of(limit.key) & mask;
  for (; slots_[slot] != 0; slot = (slot + 1) & mask) {
    if (call_.keys[slots_[slot] - 1] == limit.key) return slots_[slot];
  }
  call_.keys.push_back(limit.key);
  key_configs_.emplace_back(to_string(limit.limit->algorithm));
  key_configs_.push_back(std::to_string(limit.limit->window.count()));
  key_configs_.push_back(std::to_string(limit.limit->max_requests));
  const std::size_t index = call_.keys.size();  // KEYS are 1-based in Lua, as the slots are
  slots_[slot] = static_cast<std::uint32_t>(index);
  if (2 * index >= slots_.size()) {
    // Twice the slots, rehashed: probes stay short however large the batch.
    std::vector<std::uint32_t> grown(2 * slots_.size(), 0);
    const std::size_t grown_mask = grown.size() - 1;
    for (const std::uint32_t held : slots_) {
      if (held == 0) continue;
      std::size_t at = hash_of(call_.keys[held - 1]) & grown_mask;
      while (grown[at] != 0) at = (at + 1) & grown_mask;
      grown[at] = held;
    }
    slots_ = std::move(grown);
  }
  return index;
}

void ScriptBatch::add(const std::vector<ResolvedLimit>& limits, ScriptMode mode,
                      std::string_view released) {
  if (call_.args.empty()) call_.args.resize(2);  // the time and the suffix, set by finish()
  call_.args.emplace_back(mode_name(mode));
  call_.args.push_back(std::to_string(limits.size()));
  for (const ResolvedLimit& limit : limits) call_.args.push_back(std::to_string(key_index(limit)));
  if (mode == ScriptMode::release) call_.args.emplace_back(released);
  requests_.push_back({limits.size(), mode});
}

ScriptCall ScriptBatch::finish(std::optional<std::chrono::microseconds> now,
                               std::string member_suffix) {
  if (call_.args.empty()) call_.args.resize(2);
  call_.args[0] = now ? std::to_string(now->count()) : std::string();
  member_suffix_ = member_suffix;
  call_.args[1] = std::move(member_suffix);
  call_.args.reserve(call_.args.size() + key_configs_.size());
  for (std::string& config : key_configs_) call_.args.push_back(std::move(config));
  key_configs_.clear();
  return std::move(call_);
}

std::vector<ScriptReply> ScriptBatch::parse(const valkey::resp::Value& reply) const {
  valkey::reply::throw_if_error(reply);
  const auto& values = reply.elements;
  if (reply.type != valkey::resp::Type::array || values.empty()) unexpected(reply);
  const auto now = std::chrono::microseconds(non_negative(values[0]));
  std::vector<ScriptReply> out(requests_.size());
  std::size_t at = header_values;
  for (std::size_t request = 0; request < requests_.size(); ++request) {
    ScriptReply& answer = out[request];
    answer.now = now;
    if (at < values.size() && values[at].is_error()) {
      answer.server_error = values[at].string;
      ++at;
      continue;
    }
    const std::size_t limits = requests_[request].limits;
    if (values.size() - at < values_per_limit * limits) unexpected(reply);
    answer.outcomes.reserve(limits);
    for (std::size_t i = 0; i < limits; ++i, at += values_per_limit) {
      answer.outcomes.push_back({.allowed = non_negative(values[at]) == 1,
                                 .remaining = non_negative(values[at + 1]),
                                 .reset_after = milliseconds(values[at + 2]),
                                 .retry_after = milliseconds(values[at + 3])});
    }
    if (requests_[request].mode == ScriptMode::consume) {
      bool admitted = true;
      for (const ScriptOutcome& outcome : answer.outcomes) admitted = admitted && outcome.allowed;
      if (admitted) answer.member = member_of(now, member_suffix_, request + 1);
    }
  }
  if (at != values.size()) unexpected(reply);
  return out;
}

}  // namespace opencode_cache::ratelimit

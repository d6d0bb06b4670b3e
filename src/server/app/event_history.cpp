#include "server/app/event_history.hpp"

#include <charconv>

namespace opencode_cache::server::app {
namespace {

std::optional<std::uint64_t> number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::optional<StreamId> StreamId::parse(std::string_view text) {
  const std::size_t dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const auto ms = number(text.substr(0, dash));
  const auto seq = number(text.substr(dash + 1));
  if (!ms || !seq) return std::nullopt;
  return StreamId{*ms, *seq};
}

std::string StreamId::str() const {
  return std::to_string(ms) + "-" + std::to_string(seq);
}

Resume resume_from(StreamId last_seen, std::optional<StreamId> oldest,
                   std::optional<StreamId> newest) {
  if (!oldest || !newest) return Resume::reset;
  if (last_seen < *oldest || last_seen > *newest) return Resume::reset;
  return Resume::replay;
}

}  // namespace opencode_cache::server::app

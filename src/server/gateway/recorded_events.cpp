#include "server/gateway/recorded_events.hpp"

namespace opencode_cache::server::gateway {

void RecordedEvents::add(std::string&& raw) {
  if (over_cap_) return;
  if (bytes_ + raw.size() > max_bytes_) {
    over_cap_ = true;
    events_ = {};
    return;
  }
  bytes_ += raw.size();
  events_.push_back(std::move(raw));
}

}  // namespace opencode_cache::server::gateway

// The raw bytes of a stream's events as a recorder keeps them, bounded: past `max_bytes` the
// recording is dropped (and its memory released), since an entry that misses events must
// never be stored; the caller still forwards the stream and judges its outcome.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace opencode_cache::server::gateway {

class RecordedEvents {
 public:
  static constexpr std::size_t default_max_bytes = 8 * 1024 * 1024;

  explicit RecordedEvents(std::size_t max_bytes = default_max_bytes) : max_bytes_(max_bytes) {}

  void add(std::string&& raw);

  bool over_cap() const { return over_cap_; }
  const std::vector<std::string>& events() const { return events_; }
  std::vector<std::string> take() { return std::move(events_); }
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t max_bytes_;
  std::vector<std::string> events_;
  std::size_t bytes_ = 0;
  bool over_cap_ = false;
};

}  // namespace opencode_cache::server::gateway

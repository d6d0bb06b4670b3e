#pragma once
// A blocking Server-Sent Events client for the gateway's tests: sends one GET, reads the
// response head, then the chunked stream event by event, as a browser's EventSource would.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace opencode_cache::testing {

struct SseEvent {
  std::string id;  // empty: the event had no id field
  std::string type;
  std::string data;
};

class SseClient {
 public:
  SseClient(std::uint16_t port, const std::string& target,
            const std::vector<std::pair<std::string, std::string>>& headers = {});
  ~SseClient();
  SseClient(const SseClient&) = delete;
  SseClient& operator=(const SseClient&) = delete;

  int status() const { return status_; }
  std::string header(const std::string& lower_name) const;
  // A response that is not a stream: its whole body.
  const std::string& body() const { return body_; }

  // The next event within `timeout` (comments are counted, not returned); nullopt when the
  // time ran out or the stream ended (ended() tells which).
  std::optional<SseEvent> next(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // The next event of `type`, skipping others; nullopt as next().
  std::optional<SseEvent> next_of(const std::string& type,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // The stream's last chunk arrived, or the connection closed.
  bool ended() const { return ended_; }
  bool ended_cleanly() const { return clean_end_; }
  std::size_t comments() const { return comments_; }
  // Reads until `count` comments (heartbeats) have arrived in all; events read meanwhile
  // wait for next(). False when the time ran out or the stream ended first.
  bool wait_for_comments(std::size_t count,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Closes the connection, as a browser tab that goes away.
  void close();

 private:
  bool fill(std::chrono::steady_clock::time_point deadline);
  void decode_chunks();
  std::optional<SseEvent> parse_event();
  void parse_all();

  int fd_ = -1;
  int status_ = 0;
  std::map<std::string, std::string> headers_;
  std::string body_;
  std::string raw_;              // bytes read, not yet decoded from chunks
  std::string decoded_;          // stream text not yet parsed into events
  std::deque<SseEvent> events_;  // parsed, not yet returned
  bool ended_ = false;
  bool clean_end_ = false;
  std::size_t comments_ = 0;
};

}  // namespace opencode_cache::testing

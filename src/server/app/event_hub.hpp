// One thread's fan-out of events to its Server-Sent Events clients, sans-I/O: the thread's
// single subscription delivers each event here once, and every client's stream takes it from
// its own bounded queue. The streams' I/O (event_routes.cpp) and the subscription
// (event_feed.hpp) sit around it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace opencode_cache::server::app {

struct Event {
  std::string id;    // the history's stream id; empty for an event kept nowhere (a local one)
  std::string type;  // the SSE event name: invalidate, session, breaker, reset, ready
  std::string data;  // one line of JSON
};

// The event as the SSE wire carries it ("id:", "event:", "data:", a blank line).
std::string sse_frame(const Event& event);

class EventHub {
 public:
  using ClientId = std::uint64_t;

  // What a client's stream has to do next, taken at once.
  struct Pending {
    std::vector<Event> events;  // in the order delivered
    // Events may have been missed (the queue overflowed, or the subscription was lost and
    // restored): reread the history after the last id sent, then go on with `events`.
    bool resync = false;
    bool closed = false;  // the hub is closing (a drain): end the stream
  };

  EventHub(std::size_t max_clients, std::size_t max_queued);

  // A new client; `wake` is called (on the hub's thread) whenever it has something pending.
  // nullopt when max_clients are connected.
  std::optional<ClientId> join(std::function<void()> wake);
  void leave(ClientId client);
  Pending take(ClientId client);

  // To every client. A client whose queue holds max_queued events drops them and resyncs
  // from the history instead, so a slow reader costs bounded memory and misses nothing.
  void deliver(const Event& event);
  // Every client may have missed events: each rereads the history.
  void resync_all();
  // Ends every stream; joins are refused from then on.
  void close();

  std::size_t size() const noexcept { return clients_.size(); }
  bool closed() const noexcept { return closed_; }

 private:
  struct Client {
    std::function<void()> wake;
    std::deque<Event> queue;
    bool resync = false;
  };
  std::size_t max_clients_;
  std::size_t max_queued_;
  std::map<ClientId, Client> clients_;
  ClientId next_id_ = 1;
  bool closed_ = false;
};

}  // namespace opencode_cache::server::app

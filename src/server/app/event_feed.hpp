// One thread's link between its SSE clients and Valkey: publishes events into the history
// (a stream, `<prefix>:events`, trimmed to about AppApiConfig::events_history entries) and on
// the channel of the same name in one script, so that the history's order is the channel's;
// reads the history back for clients that resume; and holds the thread's one Subscriber, whose
// messages reach every local client through the EventHub.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/json/object.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opencode_cache/valkey/client.hpp"
#include "server/app/event_history.hpp"
#include "server/app/event_hub.hpp"
#include "server/config/server_config.hpp"
#include "server/http/exchange.hpp"

namespace opencode_cache::server::app {

class EventFeed {
 public:
  EventFeed(boost::asio::any_io_executor executor, const ServerConfig& config,
            valkey::Client& client, EventHub& hub);
  ~EventFeed();

  // Returns once the thread's subscription is confirmed (the first call subscribes; the
  // Subscriber restores it after a lost connection and the hub's clients resync). Throws
  // valkey::Error when Valkey cannot confirm it.
  http::Task<void> subscribe();

  // Adds "type" and "at_ms" to `data` and publishes it; the event's id, or nullopt when Valkey
  // could not take it (logged: what the event reports has happened anyway).
  http::Task<std::optional<std::string>> publish(std::string type, boost::json::object data);

  struct Bounds {
    std::optional<StreamId> oldest;
    std::optional<StreamId> newest;
  };
  // The history's first and last ids. Throws valkey::Error.
  http::Task<Bounds> bounds();
  // Every entry after `after` (from the start when nullopt), oldest first. Throws
  // valkey::Error.
  http::Task<std::vector<Event>> read_after(std::optional<StreamId> after);

  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace opencode_cache::server::app

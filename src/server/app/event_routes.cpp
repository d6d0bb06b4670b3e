// GET /api/events: the thread's events as Server-Sent Events. A client that sends
// Last-Event-ID first gets what it missed from the history (or a `reset` when that is no
// longer held), then a `ready` event, then live events as the thread's subscription delivers
// them; comments keep an idle stream open. Valkey must answer before the stream starts (503
// otherwise); a client that leaves is noticed at the next write.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "opencode_cache/valkey/error.hpp"
#include "server/app/app_routes.hpp"
#include "server/app/event_history.hpp"

namespace opencode_cache::server::app {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

Event reset_event(std::optional<StreamId> newest) {
  boost::json::object data;
  data["type"] = "reset";
  data["reason"] = "the events after Last-Event-ID are no longer held; reload what you show";
  Event event;
  // The client continues from the newest event: its next reconnect resumes from there.
  if (newest) event.id = newest->str();
  event.type = "reset";
  event.data = boost::json::serialize(data);
  return event;
}

Event ready_event(bool resumed, const std::optional<StreamId>& last) {
  boost::json::object data;
  data["type"] = "ready";
  data["resumed"] = resumed;
  if (last) {
    data["last_event_id"] = last->str();
  } else {
    data["last_event_id"] = nullptr;
  }
  return Event{"", "ready", boost::json::serialize(data)};
}

// One stream's position in the history: the id of the last event it was sent.
struct Position {
  std::optional<StreamId> last_sent;

  // Appends `event` unless the stream has had it (it came both from the history and live).
  void append(const Event& event, std::string& out) {
    if (!event.id.empty()) {
      const auto id = StreamId::parse(event.id);
      if (id && last_sent && *id <= *last_sent) return;
      if (id) last_sent = id;
    }
    out += sse_frame(event);
  }
};

// What the stream missed after `position`, or a reset when the history no longer holds it.
// `resumed` tells which.
Task<bool> catch_up(EventFeed& feed, Position& position, std::string& out) {
  const EventFeed::Bounds bounds = co_await feed.bounds();
  if (position.last_sent &&
      resume_from(*position.last_sent, bounds.oldest, bounds.newest) == Resume::reset) {
    out += sse_frame(reset_event(bounds.newest));
    position.last_sent = bounds.newest;
    co_return false;
  }
  const std::vector<Event> missed = co_await feed.read_after(position.last_sent);
  for (const Event& event : missed) position.append(event, out);
  co_return true;
}

// catch_up, false when Valkey could not be asked (nothing appended then): the stream stays
// open and tries again, since a browser's EventSource gives up for good on an error answer.
Task<bool> try_catch_up(EventFeed& feed, Position& position, std::string& out) {
  bool asked = true;
  try {
    co_await catch_up(feed, position, out);
  } catch (const valkey::Error&) {
    asked = false;
  }
  co_return asked;
}

constexpr std::chrono::seconds resync_retry{1};

http::Headers stream_headers() {
  http::Headers headers;
  headers.emplace_back("content-type", "text/event-stream");
  headers.emplace_back("cache-control", "no-store");
  // nginx and its kin would hold the events back to fill their buffers.
  headers.emplace_back("x-accel-buffering", "no");
  return headers;
}

}  // namespace

Task<void> serve_events(AppContext& context, const Request& request, Responder& responder) {
  std::optional<StreamId> last_seen;
  if (const std::string* header = request.header("last-event-id");
      header != nullptr && !header->empty()) {
    last_seen = StreamId::parse(*header);
    if (!last_seen) {
      co_await send_error(responder, 400, "invalid_request",
                          "Last-Event-ID '" + header->substr(0, 64) +
                              "' is not an id this server sent (<ms>-<seq>)");
      co_return;
    }
  }
  if (context.hub.closed()) {
    co_await send_error(responder, 503, "shutting_down",
                        "this server is shutting down; connect again to another");
    co_return;
  }
  asio::steady_timer wake(co_await asio::this_coro::executor);
  const auto client = context.hub.join([&wake] { wake.cancel(); });
  if (!client) {
    co_await send_error(responder, 503, "too_many_event_streams",
                        "this server thread already serves " +
                            std::to_string(context.config.app.events_max_clients) +
                            " event streams (OPENCODE_CACHE_EVENTS_MAX_CLIENTS)");
    co_return;
  }
  struct Leave {
    EventHub& hub;
    EventHub::ClientId id;
    ~Leave() { hub.leave(id); }
  } leave{context.hub, *client};

  // Joined before subscribing and reading: whatever is published from here on is queued,
  // and what the history also gave is skipped by its id.
  co_await context.events.subscribe();
  Position position;
  std::string out = "retry: 2000\n\n";
  bool resumed = false;
  if (last_seen) {
    position.last_sent = last_seen;
    resumed = co_await catch_up(context.events, position, out);
  } else {
    position.last_sent = (co_await context.events.bounds()).newest;
  }
  out += sse_frame(ready_event(resumed, position.last_sent));
  co_await responder.begin(200, stream_headers());
  co_await responder.write(out);

  const auto heartbeat = context.config.app.events_heartbeat;
  auto next_heartbeat = Clock::now() + heartbeat;
  std::optional<Clock::time_point> retry_at;  // set: a resync failed, and is due then
  while (true) {
    EventHub::Pending pending = context.hub.take(*client);
    if (pending.closed) break;
    out.clear();
    if (pending.resync || (retry_at && Clock::now() >= *retry_at)) {
      const bool caught_up = co_await try_catch_up(context.events, position, out);
      retry_at.reset();
      if (!caught_up) retry_at = Clock::now() + resync_retry;
    }
    for (const Event& event : pending.events) {
      // Until the resync succeeds, events of the history come from it, in order.
      if (retry_at && !event.id.empty()) continue;
      position.append(event, out);
    }
    if (!out.empty()) {
      co_await responder.write(out);
      next_heartbeat = Clock::now() + heartbeat;
      continue;  // more may have come during the write
    }
    if (Clock::now() >= next_heartbeat) {
      co_await responder.write(": heartbeat\n\n");
      next_heartbeat = Clock::now() + heartbeat;
      continue;
    }
    // Nothing between take() and the wait suspends, so no wake-up is lost.
    wake.expires_at(retry_at ? std::min(next_heartbeat, *retry_at) : next_heartbeat);
    co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_await responder.end();
}

}  // namespace opencode_cache::server::app

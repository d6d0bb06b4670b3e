#include "server/app/event_feed.hpp"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>

#include "opencode_cache/valkey/error.hpp"
#include "opencode_cache/valkey/reply.hpp"
#include "opencode_cache/valkey/script.hpp"
#include "opencode_cache/valkey/subscriber.hpp"

namespace opencode_cache::server::app {
namespace {

// XADD and PUBLISH in one script: no event is published in another order than the history
// holds it, and none is published without being held. The payload is "<id> <type> <json>".
const valkey::Script& publish_script() {
  static const valkey::Script script(R"lua(
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'type', ARGV[2], 'data', ARGV[3])
redis.call('PUBLISH', ARGV[4], id .. ' ' .. ARGV[2] .. ' ' .. ARGV[3])
return id
)lua");
  return script;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void log_failure(std::string_view type, std::string_view what) {
  boost::json::object fields;
  fields["ts"] = now_ms();
  fields["level"] = "warn";
  fields["msg"] = "event not published";
  fields["event"] = type;
  fields["error"] = what;
  std::string line = boost::json::serialize(fields);
  line += '\n';
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, line.data(), line.size());
}

// "<id> <type> <json>"; nullopt for a payload this gateway did not write.
std::optional<Event> parse_payload(std::string_view payload) {
  const std::size_t first = payload.find(' ');
  if (first == std::string_view::npos) return std::nullopt;
  const std::size_t second = payload.find(' ', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  Event event;
  event.id = std::string(payload.substr(0, first));
  event.type = std::string(payload.substr(first + 1, second - first - 1));
  event.data = std::string(payload.substr(second + 1));
  if (!StreamId::parse(event.id) || event.type.empty()) return std::nullopt;
  return event;
}

std::optional<StreamId> only_id(valkey::resp::Value&& reply) {
  valkey::reply::throw_if_error(reply);
  if (reply.elements.empty() || reply.elements[0].elements.empty()) return std::nullopt;
  return StreamId::parse(reply.elements[0].elements[0].string);
}

}  // namespace

struct EventFeed::Impl {
  Impl(boost::asio::any_io_executor ex, const ServerConfig& config, valkey::Client& c, EventHub& h)
      : client(c),
        hub(h),
        subscriber(ex, config.valkey),
        key(config.cache.prefix + ":events"),
        history(std::to_string(config.app.events_history)),
        watchdog_timer(ex) {
    subscriber.on_resubscribed([this] { hub.resync_all(); });
    boost::asio::co_spawn(ex, watchdog(), boost::asio::detached);
  }

  valkey::Client& client;
  EventHub& hub;
  valkey::Subscriber subscriber;
  std::string key;  // the stream and the channel
  std::string history;
  boost::asio::steady_timer watchdog_timer;
  bool closed = false;

  http::Task<void> subscribe() {
    co_await subscriber.subscribe(key, [this](const valkey::Message& m) { on_message(m); });
  }

  // The Subscriber gives up reconnecting after config.reconnect.max_attempts until it is
  // called again: while streams are open, call it. Its reconnect resyncs them (on_resubscribed).
  http::Task<void> watchdog() {
    while (!closed) {
      if (hub.size() > 0 && subscriber.state() == valkey::ConnectionState::idle) {
        try {
          co_await subscribe();
        } catch (const valkey::Error&) {
          // Still down: the next beat tries again.
        }
      }
      watchdog_timer.expires_after(std::chrono::seconds(1));
      co_await watchdog_timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
  }

  void on_message(const valkey::Message& message) {
    if (auto event = parse_payload(message.payload)) hub.deliver(*event);
  }
};

EventFeed::EventFeed(boost::asio::any_io_executor executor, const ServerConfig& config,
                     valkey::Client& client, EventHub& hub)
    : impl_(std::make_unique<Impl>(std::move(executor), config, client, hub)) {}

EventFeed::~EventFeed() = default;

http::Task<void> EventFeed::subscribe() {
  co_await impl_->subscribe();
}

http::Task<std::optional<std::string>> EventFeed::publish(std::string type,
                                                          boost::json::object data) {
  data["type"] = type;
  data["at_ms"] = now_ms();
  std::string failure;
  try {
    valkey::RequestOptions options;
    options.wait_for_connection = false;  // an outage must not hold the answer up
    std::vector<std::string> keys(1, impl_->key);
    std::vector<std::string> args;
    args.push_back(impl_->history);
    args.push_back(type);
    args.push_back(boost::json::serialize(data));
    args.push_back(impl_->key);
    auto reply = co_await impl_->client.eval(publish_script(), keys, args, options);
    co_return valkey::reply::to_string(std::move(reply));
  } catch (const valkey::Error& e) {
    failure = e.what();
  }
  log_failure(type, failure);
  co_return std::nullopt;
}

http::Task<EventFeed::Bounds> EventFeed::bounds() {
  Bounds bounds;
  bounds.oldest = only_id(co_await impl_->client.command(
      valkey::Command("XRANGE", impl_->key, "-", "+", "COUNT", "1")));
  bounds.newest = only_id(co_await impl_->client.command(
      valkey::Command("XREVRANGE", impl_->key, "+", "-", "COUNT", "1")));
  co_return bounds;
}

http::Task<std::vector<Event>> EventFeed::read_after(std::optional<StreamId> after) {
  constexpr std::size_t page = 500;
  std::vector<Event> events;
  std::string start = after ? "(" + after->str() : std::string("-");
  while (true) {
    auto reply = co_await impl_->client.command(
        valkey::Command("XRANGE", impl_->key, start, "+", "COUNT", std::to_string(page)));
    valkey::reply::throw_if_error(reply);
    for (auto& entry : reply.elements) {
      if (entry.elements.size() != 2) continue;
      Event event;
      event.id = entry.elements[0].string;
      for (auto& [field, value] : valkey::reply::to_string_pairs(std::move(entry.elements[1]))) {
        if (field == "type") event.type = std::move(value);
        if (field == "data") event.data = std::move(value);
      }
      if (!event.type.empty()) events.push_back(std::move(event));
    }
    if (reply.elements.size() < page || events.empty()) break;
    start = "(" + events.back().id;
  }
  co_return events;
}

void EventFeed::close() {
  impl_->closed = true;
  impl_->watchdog_timer.cancel();
  impl_->subscriber.close();
}

}  // namespace opencode_cache::server::app

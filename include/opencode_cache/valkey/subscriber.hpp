// Pub/sub on one dedicated connection per Subscriber, whatever the number of channels and
// patterns (the seed opened a new connection for every subscribe and never closed it).
//
// On a cluster (ClientConfig::cluster, docs/cluster.md) channels and patterns use one
// connection to any node, since every node forwards what is published; when it fails, the
// next seed or known node is tried. Sharded channels (ssubscribe) use one connection per
// primary owning their slots and follow their slot when it moves or fails over.
//
// Messages reach the subscription's handler, or, for a subscription without one, the stream
// read with next(); either way in the order the server sent them. A handler that throws is
// counted and logged, and its subscription goes on. After a reconnect every subscription is
// restored (on_resubscribed tells when). A connection that reads nothing for twice
// config.health_check_interval while a reply is due (PING is sent when idle) is reset.
// Publish with Client::publish (or json::publish below).
//
// Like Client, a Subscriber belongs to one executor: call it only from coroutines running
// there. Handlers run on that executor, one message at a time: a slow handler delays
// every message behind it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "opencode_cache/valkey/client.hpp"
#include "opencode_cache/valkey/client_config.hpp"
#include "opencode_cache/valkey/error.hpp"
#include "opencode_cache/valkey/message.hpp"

namespace opencode_cache::valkey {

struct SubscriberOptions {
  // Messages of handler-less subscriptions that wait for next(); beyond, new ones are dropped
  // (counted) rather than let a stalled reader grow memory without bound.
  std::size_t max_buffered_messages = 65536;
};

struct SubscriberStats {
  std::uint64_t connects = 0;  // successful connections, the first included
  std::uint64_t connect_failures = 0;
  std::uint64_t disconnects = 0;
  std::uint64_t confirmations = 0;  // subscriptions the server confirmed, restored ones included
  std::uint64_t messages = 0;       // delivered to a handler or the stream
  std::uint64_t handler_errors = 0;
  std::uint64_t dropped_messages = 0;
  std::uint64_t resubscriptions = 0;      // reconnects whose restored subscriptions all settled
  std::uint64_t health_check_resets = 0;  // connections found dead by the health check
};

class Subscriber {
 public:
  // Connects on the first subscribe or ping (at once when config.lazy_connect is false),
  // always with RESP3 (HELLO 3), authenticating and naming itself "<client_name>-subscriber".
  // Reconnects with config.reconnect; after max_attempts it gives up until the next call.
  // config.database does not apply: channels are not per database.
  Subscriber(boost::asio::any_io_executor executor, ClientConfig config,
             SubscriberOptions options = {});
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  const ClientConfig& config() const noexcept;
  ConnectionState state() const noexcept;
  SubscriberStats stats() const noexcept;

  // Returns once the server has confirmed the subscription; subscribing again only replaces
  // the handler. Without a handler, messages go to next(). Throws ServerError when refused
  // (an ACL without that channel), Error(timeout, auth_failed, not_connected, closed) when
  // not confirmed within config.command_timeout; a subscribe that throws leaves it unwanted.
  Task<void> subscribe(std::string channel, MessageHandler handler = {});
  // Messages on every channel matching a glob-style pattern; Message::pattern names it.
  Task<void> psubscribe(std::string pattern, MessageHandler handler = {});
  // No message of that subscription is delivered once called; returns once the server has
  // confirmed (at once when not connected: a new connection will not ask for it).
  Task<void> unsubscribe(std::string channel);
  Task<void> punsubscribe(std::string pattern);
  // A sharded channel (SSUBSCRIBE, Valkey 7+), published with Client::spublish. On a cluster
  // it is subscribed on the primary of the channel's hash slot, and again on the new owner
  // after a slot move or a failover (on_resubscribed tells when: messages published in
  // between are lost). Otherwise as subscribe / unsubscribe.
  Task<void> ssubscribe(std::string channel, MessageHandler handler = {});
  Task<void> sunsubscribe(std::string channel);

  // The next message of a subscription without handler. Throws Error(closed) after close().
  Task<Message> next();
  // A round trip on the subscriber's connection, for liveness checks. Throws Error(timeout,
  // connection_lost, not_connected, closed).
  Task<void> ping();

  // Called after a reconnect, once the server has settled every restored subscription.
  // Messages published while the connection was down are lost, so a user that keeps state
  // from them (a near cache fed by invalidations) flushes it here. Runs on the executor; an
  // exception it throws is logged and contained.
  void on_resubscribed(std::function<void()> handler);

  // Stops at once: no handler runs after it; waiting calls fail with errc::closed.
  void close();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// JSON payloads, as the seed's publish(JSON.stringify) / subscribe(JSON.parse).
namespace json {

// A handler that decodes each payload into T with Boost.JSON (customise T with tag_invoke
// value_to). A payload that is not valid JSON, or not a T, throws Error(invalid_json) inside
// the handler: counted and logged like any handler error, the subscription goes on.
template <class T>
MessageHandler handler(std::function<void(const T&)> on_value) {
  return [on_value = std::move(on_value)](const Message& message) {
    const std::string where = "the message on channel '" + message.channel + "'";
    boost::system::error_code ec;
    const boost::json::value parsed = boost::json::parse(message.payload, ec);
    if (ec) throw Error(errc::invalid_json, where + " is not valid JSON: " + ec.message());
    std::optional<T> value;
    try {
      value.emplace(boost::json::value_to<T>(parsed));
    } catch (const std::exception& e) {
      throw Error(errc::invalid_json,
                  where + " does not hold the expected JSON shape: " + e.what());
    }
    // Outside the try: an exception of the caller's own handler is reported as it is.
    on_value(*value);
  };
}

template <class T>
Task<void> subscribe(Subscriber& subscriber, std::string channel,
                     std::function<void(const T&)> on_value) {
  co_await subscriber.subscribe(std::move(channel), handler<T>(std::move(on_value)));
}

// Number of subscribers that received the message.
template <class T>
Task<std::int64_t> publish(Client& client, std::string_view channel, const T& value) {
  co_return co_await client.publish(channel,
                                    boost::json::serialize(boost::json::value_from(value)));
}

}  // namespace json
}  // namespace opencode_cache::valkey

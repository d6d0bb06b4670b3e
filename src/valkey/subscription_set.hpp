// Internal: the protocol core of a pub/sub connection, sans I/O: which channels, patterns and
// sharded channels are wanted, which the server has confirmed, which reply belongs to which
// command sent, and how RESP3 push frames turn into messages.
//
// Each request returns the bytes to write now; while disconnected it returns nothing, because
// on_connected() then asks for everything wanted at once. One command per name, so that an
// error reply (an ACL refusing one channel) names the one subscription it refuses.
#pragma once

#include <compare>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "opencode_cache/valkey/message.hpp"
#include "opencode_cache/valkey/resp_value.hpp"

namespace opencode_cache::valkey {

struct Subscription {
  // shard_channel: SSUBSCRIBE, a channel that lives on the node of its hash slot.
  enum class Kind : std::uint8_t { channel, pattern, shard_channel };
  Kind kind = Kind::channel;
  std::string name;
  auto operator<=>(const Subscription&) const = default;
};

enum class SubscriptionStatus : std::uint8_t { pending, subscribed, refused };

struct PubSubEvent {
  enum class Type : std::uint8_t {
    ignored,       // a push of another kind, or a message nobody wants any more
    message,       // `message` and `handler` are set; an empty handler means "the stream"
    subscribed,    // the server confirmed `subscription`
    unsubscribed,  // the server confirmed it dropped `subscription`
    refused,       // the server answered `error` to a command about `subscription`
    dropped,       // the server dropped a sharded `subscription` unasked (its slot moved):
                   // it is no longer wanted here, the owner subscribes it where it went
    pong,
  };
  Type type = Type::ignored;
  Subscription subscription;
  std::string error;
  Message message;
  const MessageHandler* handler = nullptr;
};

class SubscriptionSet {
 public:
  // Wants `subscription`, delivering to `handler` (replacing an earlier one at once).
  std::string subscribe(const Subscription& subscription, MessageHandler handler);
  // Wants it no more: its messages are dropped from now on.
  std::string unsubscribe(const Subscription& subscription);
  std::string ping();

  // A new connection: every wanted subscription is asked for again, in one write.
  std::string on_connected();
  // Whatever was in flight is settled: the next connection starts from what is wanted.
  void on_disconnected();

  // One frame read from the connection. Throws Error(protocol_error) on a reply that no
  // command sent is waiting for.
  PubSubEvent on_frame(resp::Value&& frame);

  // nullopt when not wanted.
  std::optional<SubscriptionStatus> status(const Subscription& subscription) const;
  // The server's error text for a refused subscription.
  std::string refusal(const Subscription& subscription) const;
  std::size_t size() const noexcept { return wanted_.size(); }
  bool connected() const noexcept { return connected_; }

  // Commands are numbered as sent; replies settle them in order.
  std::uint64_t last_sent() const noexcept { return sent_; }
  // Answered, or lost with its connection.
  bool settled(std::uint64_t command) const noexcept { return settled_ >= command; }
  // Answered by the server (not lost with a connection).
  bool answered(std::uint64_t command) const noexcept {
    return settled(command) && command > lost_through_;
  }

 private:
  enum class Op : std::uint8_t { subscribe, unsubscribe, ping };
  struct Wanted {
    MessageHandler handler;
    SubscriptionStatus status = SubscriptionStatus::pending;
    std::string error;
  };
  struct Sent {
    Op op;
    Subscription subscription;
  };

  std::string send(Op op, const Subscription& subscription);
  PubSubEvent on_push(resp::Value&& frame);
  PubSubEvent on_message(const Subscription& subscription, Message&& message) const;
  Sent settle_next(std::string_view what);
  void settle_confirmation(Op op, const Subscription& subscription);

  std::map<Subscription, Wanted> wanted_;
  std::deque<Sent> in_flight_;
  bool connected_ = false;
  std::uint64_t sent_ = 0;
  std::uint64_t settled_ = 0;
  std::uint64_t lost_through_ = 0;
};

}  // namespace opencode_cache::valkey

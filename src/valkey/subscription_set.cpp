#include "subscription_set.hpp"

#include <string_view>
#include <utility>

#include "opencode_cache/valkey/command.hpp"
#include "opencode_cache/valkey/error.hpp"

namespace opencode_cache::valkey {

namespace {

using Kind = Subscription::Kind;

std::string describe(const Subscription& subscription) {
  const char* kind = subscription.kind == Kind::channel   ? "channel '"
                     : subscription.kind == Kind::pattern ? "pattern '"
                                                          : "sharded channel '";
  return kind + subscription.name + "'";
}

const char* command_name(bool subscribe, Kind kind) {
  switch (kind) {
    case Kind::channel: return subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE";
    case Kind::pattern: return subscribe ? "PSUBSCRIBE" : "PUNSUBSCRIBE";
    case Kind::shard_channel: return subscribe ? "SSUBSCRIBE" : "SUNSUBSCRIBE";
  }
  return "";
}

bool is_string_frame(const resp::Value& frame, std::size_t size) {
  if (frame.elements.size() != size) return false;
  for (const resp::Value& element : frame.elements) {
    if (!element.is_string()) return false;
  }
  return true;
}

// The confirmation pushes: kind, name, how many subscriptions the connection has now.
struct Confirmation {
  std::string_view push;
  Kind kind;
  bool subscribe;
};
constexpr Confirmation confirmations[] = {
    {"subscribe", Kind::channel, true},        {"psubscribe", Kind::pattern, true},
    {"ssubscribe", Kind::shard_channel, true}, {"unsubscribe", Kind::channel, false},
    {"punsubscribe", Kind::pattern, false},    {"sunsubscribe", Kind::shard_channel, false},
};

const Confirmation* confirmation_named(std::string_view push) {
  for (const Confirmation& confirmation : confirmations) {
    if (confirmation.push == push) return &confirmation;
  }
  return nullptr;
}

}  // namespace

std::string SubscriptionSet::subscribe(const Subscription& subscription, MessageHandler handler) {
  auto [it, inserted] = wanted_.try_emplace(subscription);
  it->second.handler = std::move(handler);
  // Already asked for (or had): a second SUBSCRIBE would change nothing on the server.
  if (!inserted && it->second.status != SubscriptionStatus::refused) return {};
  it->second.status = SubscriptionStatus::pending;
  it->second.error.clear();
  return send(Op::subscribe, subscription);
}

std::string SubscriptionSet::unsubscribe(const Subscription& subscription) {
  const auto it = wanted_.find(subscription);
  if (it == wanted_.end()) return {};
  const bool server_may_have_it = it->second.status != SubscriptionStatus::refused;
  wanted_.erase(it);
  return server_may_have_it ? send(Op::unsubscribe, subscription) : std::string();
}

std::string SubscriptionSet::ping() {
  return send(Op::ping, {});
}

std::string SubscriptionSet::on_connected() {
  connected_ = true;
  std::string bytes;
  for (auto& [subscription, wanted] : wanted_) {
    // Refused ones too: the ACL that refused them may have changed since.
    wanted.status = SubscriptionStatus::pending;
    wanted.error.clear();
    bytes += send(Op::subscribe, subscription);
  }
  return bytes;
}

void SubscriptionSet::on_disconnected() {
  connected_ = false;
  in_flight_.clear();
  settled_ = sent_;
  lost_through_ = sent_;
  for (auto& [subscription, wanted] : wanted_) {
    if (wanted.status == SubscriptionStatus::subscribed)
      wanted.status = SubscriptionStatus::pending;
  }
}

std::string SubscriptionSet::send(Op op, const Subscription& subscription) {
  if (!connected_) return {};
  in_flight_.push_back({op, subscription});
  ++sent_;
  if (op == Op::ping) return Command("PING").encoded();
  return Command(command_name(op == Op::subscribe, subscription.kind), subscription.name).encoded();
}

PubSubEvent SubscriptionSet::on_frame(resp::Value&& frame) {
  if (frame.type == resp::Type::push) return on_push(std::move(frame));
  if (frame.is_error()) {
    const Sent sent = settle_next("an error reply");
    const auto it = wanted_.find(sent.subscription);
    if (sent.op == Op::subscribe && it != wanted_.end()) {
      it->second.status = SubscriptionStatus::refused;
      it->second.error = frame.string;
    }
    return {.type = PubSubEvent::Type::refused,
            .subscription = sent.subscription,
            .error = std::move(frame.string)};
  }
  // RESP3 answers PING on a subscribed connection with a plain +PONG.
  if (settle_next("a reply").op != Op::ping) {
    throw Error(errc::protocol_error, "a pub/sub command was answered with " +
                                          resp::to_debug_string(frame) + " instead of a push");
  }
  return {.type = PubSubEvent::Type::pong};
}

PubSubEvent SubscriptionSet::on_push(resp::Value&& frame) {
  if (frame.elements.empty() || !frame.elements[0].is_string()) return {};
  const std::string& kind = frame.elements[0].string;
  auto& e = frame.elements;
  // Each subscription is named before its strings move into the message.
  if (kind == "message" && is_string_frame(frame, 3)) {
    const Subscription subscription{Kind::channel, e[1].string};
    return on_message(subscription,
                      {.channel = std::move(e[1].string), .payload = std::move(e[2].string)});
  }
  if (kind == "pmessage" && is_string_frame(frame, 4)) {
    const Subscription subscription{Kind::pattern, e[1].string};
    return on_message(subscription, {.channel = std::move(e[2].string),
                                     .pattern = std::move(e[1].string),
                                     .payload = std::move(e[3].string)});
  }
  if (kind == "smessage" && is_string_frame(frame, 3)) {
    const Subscription subscription{Kind::shard_channel, e[1].string};
    return on_message(subscription,
                      {.channel = std::move(e[1].string), .payload = std::move(e[2].string)});
  }
  const Confirmation* confirmation = confirmation_named(kind);
  // Client-side caching invalidations and other pushes are not ours.
  if (confirmation == nullptr || e.size() != 3 || !e[1].is_string()) return {};
  Subscription subscription{confirmation->kind, std::move(e[1].string)};
  if (confirmation->subscribe) {
    settle_confirmation(Op::subscribe, subscription);
    const auto it = wanted_.find(subscription);
    if (it != wanted_.end()) it->second.status = SubscriptionStatus::subscribed;
    return {.type = PubSubEvent::Type::subscribed, .subscription = std::move(subscription)};
  }
  // A cluster node that loses a slot (moved, or the node demoted) sends SUNSUBSCRIBE for
  // the slot's sharded channels unasked: no command of ours waits for it.
  const bool asked = !in_flight_.empty() && in_flight_.front().op == Op::unsubscribe &&
                     in_flight_.front().subscription == subscription;
  if (subscription.kind == Kind::shard_channel && !asked) {
    if (wanted_.erase(subscription) == 0) return {};  // dropped by us already
    return {.type = PubSubEvent::Type::dropped, .subscription = std::move(subscription)};
  }
  settle_confirmation(Op::unsubscribe, subscription);
  return {.type = PubSubEvent::Type::unsubscribed, .subscription = std::move(subscription)};
}

PubSubEvent SubscriptionSet::on_message(const Subscription& subscription, Message&& message) const {
  const auto it = wanted_.find(subscription);
  // Sent before our UNSUBSCRIBE reached the server: the caller no longer wants it.
  if (it == wanted_.end()) return {};
  return {.type = PubSubEvent::Type::message,
          .subscription = subscription,
          .message = std::move(message),
          .handler = &it->second.handler};
}

SubscriptionSet::Sent SubscriptionSet::settle_next(std::string_view what) {
  if (in_flight_.empty()) {
    throw Error(errc::protocol_error,
                std::string(what) + " arrived on the pub/sub connection with no command waiting");
  }
  Sent sent = std::move(in_flight_.front());
  in_flight_.pop_front();
  ++settled_;
  return sent;
}

void SubscriptionSet::settle_confirmation(Op op, const Subscription& subscription) {
  const Sent sent = settle_next("a confirmation for " + describe(subscription));
  if (sent.op != op || sent.subscription != subscription) {
    throw Error(errc::protocol_error,
                "the server confirmed " + describe(subscription) + " out of order");
  }
}

std::optional<SubscriptionStatus> SubscriptionSet::status(const Subscription& subscription) const {
  const auto it = wanted_.find(subscription);
  if (it == wanted_.end()) return std::nullopt;
  return it->second.status;
}

std::string SubscriptionSet::refusal(const Subscription& subscription) const {
  const auto it = wanted_.find(subscription);
  return it == wanted_.end() ? std::string() : it->second.error;
}

}  // namespace opencode_cache::valkey

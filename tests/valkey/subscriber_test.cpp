// Pub/sub: the sans-I/O subscription set on hand-made frames, then the Subscriber against a
// real valkey-server (delivery, patterns, order, failing handlers, JSON, ACLs, restarts).

#include "opencode_cache/valkey/subscriber.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json.hpp>
#include <string>
#include <vector>

#include "opencode_cache/valkey/pipeline.hpp"
#include "support/async_test.hpp"
#include "support/client_config.hpp"
#include "support/valkey_server.hpp"
#include "valkey/subscription_set.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using valkey::Client;
using valkey::ClientConfig;
using valkey::Command;
using valkey::errc;
using valkey::Message;
using valkey::PubSubEvent;
using valkey::Subscriber;
using valkey::Subscription;
using valkey::SubscriptionSet;
using valkey::SubscriptionStatus;
using Kind = Subscription::Kind;
namespace resp = valkey::resp;

// ---- the subscription set, sans I/O ----

resp::Value push_frame(const std::vector<std::string>& parts) {
  resp::Value frame{.type = resp::Type::push};
  for (const std::string& part : parts) {
    frame.elements.push_back({.type = resp::Type::bulk_string, .string = part});
  }
  return frame;
}

resp::Value simple(resp::Type type, std::string text) {
  return {.type = type, .string = std::move(text)};
}

std::string encoded(const std::string& name, const std::string& arg) {
  return Command(name, arg).encoded();
}

Subscription channel(std::string name) {
  return {Kind::channel, std::move(name)};
}

Subscription pattern(std::string name) {
  return {Kind::pattern, std::move(name)};
}

Subscription shard_channel(std::string name) {
  return {Kind::shard_channel, std::move(name)};
}

TEST(PubSubSubscriptionSet, AsksForEverythingWantedInOneWriteWhenConnected) {
  SubscriptionSet set;
  EXPECT_EQ(set.subscribe(channel("news"), {}), "") << "nothing to write while disconnected";
  EXPECT_EQ(set.subscribe(pattern("alerts.*"), {}), "");
  EXPECT_EQ(set.on_connected(), encoded("SUBSCRIBE", "news") + encoded("PSUBSCRIBE", "alerts.*"));
  EXPECT_EQ(set.status(channel("news")), SubscriptionStatus::pending);
  EXPECT_EQ(set.on_frame(push_frame({"subscribe", "news", "1"})).type,
            PubSubEvent::Type::subscribed);
  EXPECT_EQ(set.on_frame(push_frame({"psubscribe", "alerts.*", "2"})).type,
            PubSubEvent::Type::subscribed);
  EXPECT_EQ(set.status(channel("news")), SubscriptionStatus::subscribed);
  EXPECT_EQ(set.subscribe(channel("news"), {}), "") << "already subscribed: a handler swap only";
  EXPECT_EQ(set.subscribe(channel("more"), {}), encoded("SUBSCRIBE", "more"));
}

TEST(PubSubSubscriptionSet, TurnsMessagesIntoEventsForTheirHandler) {
  SubscriptionSet set;
  set.on_connected();
  int calls = 0;
  set.subscribe(channel("news"), [&](const Message&) { ++calls; });
  set.subscribe(pattern("a.*"), {});
  set.on_frame(push_frame({"subscribe", "news", "1"}));
  set.on_frame(push_frame({"psubscribe", "a.*", "2"}));

  PubSubEvent plain = set.on_frame(push_frame({"message", "news", "hello"}));
  ASSERT_EQ(plain.type, PubSubEvent::Type::message);
  EXPECT_EQ(plain.message.channel, "news");
  EXPECT_EQ(plain.message.pattern, "");
  EXPECT_EQ(plain.message.payload, "hello");
  ASSERT_NE(plain.handler, nullptr);
  (*plain.handler)(plain.message);
  EXPECT_EQ(calls, 1);

  PubSubEvent matched = set.on_frame(push_frame({"pmessage", "a.*", "a.b", "x"}));
  ASSERT_EQ(matched.type, PubSubEvent::Type::message);
  EXPECT_EQ(matched.message.channel, "a.b");
  EXPECT_EQ(matched.message.pattern, "a.*");
  EXPECT_FALSE(*matched.handler) << "no handler: the message is for the stream";

  EXPECT_EQ(set.on_frame(push_frame({"invalidate", "key"})).type, PubSubEvent::Type::ignored);
}

TEST(PubSubSubscriptionSet, MessagesInFlightAfterUnsubscribeAreDropped) {
  SubscriptionSet set;
  set.on_connected();
  set.subscribe(channel("news"), {});
  set.on_frame(push_frame({"subscribe", "news", "1"}));
  EXPECT_EQ(set.unsubscribe(channel("news")), encoded("UNSUBSCRIBE", "news"));
  const std::uint64_t unsubscribe = set.last_sent();
  EXPECT_EQ(set.on_frame(push_frame({"message", "news", "late"})).type, PubSubEvent::Type::ignored);
  EXPECT_FALSE(set.settled(unsubscribe));
  EXPECT_EQ(set.on_frame(push_frame({"unsubscribe", "news", "0"})).type,
            PubSubEvent::Type::unsubscribed);
  EXPECT_TRUE(set.answered(unsubscribe));
  EXPECT_EQ(set.status(channel("news")), std::nullopt);
}

TEST(PubSubSubscriptionSet, AnErrorReplyRefusesTheOneSubscriptionItAnswers) {
  SubscriptionSet set;
  set.on_connected();
  set.subscribe(channel("secret"), {});
  set.subscribe(channel("open"), {});
  PubSubEvent refused = set.on_frame(simple(resp::Type::simple_error, "NOPERM no channel"));
  EXPECT_EQ(refused.type, PubSubEvent::Type::refused);
  EXPECT_EQ(refused.subscription, channel("secret"));
  EXPECT_EQ(set.status(channel("secret")), SubscriptionStatus::refused);
  EXPECT_EQ(set.refusal(channel("secret")), "NOPERM no channel");
  set.on_frame(push_frame({"subscribe", "open", "1"}));
  EXPECT_EQ(set.status(channel("open")), SubscriptionStatus::subscribed);
  EXPECT_EQ(set.unsubscribe(channel("secret")), "") << "the server never had it";
}

TEST(PubSubSubscriptionSet, ADisconnectLosesPingsAndMakesSubscriptionsPendingAgain) {
  SubscriptionSet set;
  set.on_connected();
  set.subscribe(channel("news"), {});
  set.on_frame(push_frame({"subscribe", "news", "1"}));
  EXPECT_EQ(set.ping(), Command("PING").encoded());
  const std::uint64_t lost = set.last_sent();
  set.on_disconnected();
  EXPECT_TRUE(set.settled(lost));
  EXPECT_FALSE(set.answered(lost));
  EXPECT_EQ(set.status(channel("news")), SubscriptionStatus::pending);
  EXPECT_EQ(set.ping(), "");
  EXPECT_EQ(set.on_connected(), encoded("SUBSCRIBE", "news"));
  set.ping();
  const std::uint64_t answered = set.last_sent();
  set.on_frame(push_frame({"subscribe", "news", "1"}));
  EXPECT_EQ(set.on_frame(simple(resp::Type::simple_string, "PONG")).type, PubSubEvent::Type::pong);
  EXPECT_TRUE(set.answered(answered));
}

TEST(PubSubSubscriptionSet, ShardedChannelsUseTheirOwnCommandsAndMessages) {
  SubscriptionSet set;
  set.on_connected();
  EXPECT_EQ(set.subscribe(shard_channel("orders"), {}), encoded("SSUBSCRIBE", "orders"));
  EXPECT_EQ(set.subscribe(channel("orders"), {}), encoded("SUBSCRIBE", "orders"))
      << "a channel and a sharded channel of one name are two subscriptions";
  EXPECT_EQ(set.on_frame(push_frame({"ssubscribe", "orders", "1"})).type,
            PubSubEvent::Type::subscribed);
  EXPECT_EQ(set.status(shard_channel("orders")), SubscriptionStatus::subscribed);
  EXPECT_EQ(set.status(channel("orders")), SubscriptionStatus::pending);
  set.on_frame(push_frame({"subscribe", "orders", "1"}));
  PubSubEvent message = set.on_frame(push_frame({"smessage", "orders", "sharded"}));
  ASSERT_EQ(message.type, PubSubEvent::Type::message);
  EXPECT_EQ(message.subscription, shard_channel("orders"));
  EXPECT_EQ(message.message.channel, "orders");
  EXPECT_EQ(message.message.payload, "sharded");
  EXPECT_EQ(set.unsubscribe(shard_channel("orders")), encoded("SUNSUBSCRIBE", "orders"));
  EXPECT_EQ(set.on_frame(push_frame({"sunsubscribe", "orders", "1"})).type,
            PubSubEvent::Type::unsubscribed);
  EXPECT_EQ(set.on_frame(push_frame({"smessage", "orders", "late"})).type,
            PubSubEvent::Type::ignored);
}

TEST(PubSubSubscriptionSet, AnUnaskedSunsubscribeDropsTheShardedChannel) {
  SubscriptionSet set;
  set.on_connected();
  set.subscribe(shard_channel("orders"), {});
  set.on_frame(push_frame({"ssubscribe", "orders", "1"}));
  set.ping();
  // The node lost the channel's slot: no command of ours waits for this push.
  PubSubEvent dropped = set.on_frame(push_frame({"sunsubscribe", "orders", "0"}));
  EXPECT_EQ(dropped.type, PubSubEvent::Type::dropped);
  EXPECT_EQ(dropped.subscription, shard_channel("orders"));
  EXPECT_EQ(set.status(shard_channel("orders")), std::nullopt);
  EXPECT_EQ(set.on_frame(simple(resp::Type::simple_string, "PONG")).type, PubSubEvent::Type::pong)
      << "the PING still waits for its answer";
  EXPECT_EQ(set.on_frame(push_frame({"sunsubscribe", "orders", "0"})).type,
            PubSubEvent::Type::ignored);
}

TEST(PubSubSubscriptionSet, RepliesThatMatchNoCommandAreProtocolErrors) {
  SubscriptionSet set;
  set.on_connected();
  EXPECT_THROW(set.on_frame(simple(resp::Type::simple_string, "OK")), valkey::Error);
  set.subscribe(channel("a"), {});
  try {
    set.on_frame(push_frame({"subscribe", "b", "1"}));
    ADD_FAILURE() << "a confirmation of another channel was accepted";
  } catch (const valkey::Error& e) {
    EXPECT_EQ(e.code(), errc::protocol_error);
  }
}

// ---- the subscriber against a real server ----

ClientConfig fast_reconnect_config(const ValkeyServer& server) {
  ClientConfig config = client_config(server);
  config.connect_timeout = 500ms;
  config.reconnect.base_delay = 20ms;
  config.reconnect.max_delay = 200ms;
  config.reconnect.max_attempts = 0;
  config.max_retries_per_request = 1000;
  return config;
}

// Collects what a handler receives.
struct Inbox {
  std::vector<Message> messages;
  valkey::MessageHandler handler() {
    return [this](const Message& message) { messages.push_back(message); };
  }
  std::vector<std::string> payloads() const {
    std::vector<std::string> out;
    for (const Message& message : messages) out.push_back(message.payload);
    return out;
  }
  bool has(const std::string& payload) const {
    for (const Message& message : messages) {
      if (message.payload == payload) return true;
    }
    return false;
  }
};

std::vector<std::string> numbers(int count) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) out.push_back(std::to_string(i));
  return out;
}

valkey::Pipeline publishes(const std::string& channel, const std::vector<std::string>& payloads) {
  valkey::Pipeline pipeline;
  for (const std::string& payload : payloads) pipeline.add("PUBLISH", channel, payload);
  return pipeline;
}

std::size_t count_lines_with(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

valkey::SubscriberOptions buffering(std::size_t messages) {
  return {.max_buffered_messages = messages};
}

class PubSub : public ValkeyTest {};

TEST_F(PubSub, SubscribeThenPublishDeliversChannelAndPayload) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config);
    Client client(ex, config);
    Inbox inbox;
    co_await subscriber.subscribe("news", inbox.handler());
    EXPECT_EQ(co_await client.publish("news", "hello"), 1);
    co_await wait_until([&] { return inbox.messages.size() == 1; });
    EXPECT_EQ(inbox.messages[0].channel, "news");
    EXPECT_EQ(inbox.messages[0].pattern, "");
    EXPECT_EQ(inbox.messages[0].payload, "hello");
    EXPECT_EQ(subscriber.stats().messages, 1u);
  });
}

TEST_F(PubSub, PsubscribeDeliversMatchingChannelsWithTheirPattern) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config);
    Client client(ex, config);
    Inbox inbox;
    co_await subscriber.psubscribe("news.*", inbox.handler());
    EXPECT_EQ(co_await client.publish("news.tech", "a"), 1);
    EXPECT_EQ(co_await client.publish("sports", "b"), 0);
    EXPECT_EQ(co_await client.publish("news.art", "c"), 1);
    co_await wait_until([&] { return inbox.messages.size() == 2; });
    EXPECT_EQ(inbox.messages[0].channel, "news.tech");
    EXPECT_EQ(inbox.messages[0].pattern, "news.*");
    EXPECT_EQ(inbox.messages[1].channel, "news.art");
    EXPECT_EQ(inbox.payloads(), strings("a", "c"));
  });
}

TEST_F(PubSub, UnsubscribeStopsDeliveryWhileOtherSubscriptionsGoOn) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config);
    Client client(ex, config);
    Inbox inbox;
    co_await subscriber.subscribe("dropped", inbox.handler());
    co_await subscriber.subscribe("kept", inbox.handler());
    co_await subscriber.psubscribe("p.*", inbox.handler());
    co_await subscriber.unsubscribe("dropped");
    co_await subscriber.punsubscribe("p.*");
    EXPECT_EQ(co_await client.publish("dropped", "late"), 0) << "the server dropped us";
    EXPECT_EQ(co_await client.publish("p.x", "late pattern"), 0);
    EXPECT_EQ(co_await client.publish("kept", "marker"), 1);
    // The marker was published last: once it arrived, anything before it would have too.
    co_await wait_until([&] { return inbox.has("marker"); });
    EXPECT_EQ(inbox.payloads(), strings("marker"));
  });
}

TEST_F(PubSub, AThousandMessagesArriveInOrder) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config);
    Client client(ex, config);
    Inbox inbox;
    co_await subscriber.subscribe("ordered", inbox.handler());
    co_await client.execute(publishes("ordered", numbers(1000)));
    co_await wait_until([&] { return inbox.messages.size() == 1000; });
    EXPECT_EQ(inbox.payloads(), numbers(1000));
  });
}

TEST_F(PubSub, SubscriptionsWithoutHandlerFeedTheStreamInOrder) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config);
    Client client(ex, config);
    co_await subscriber.subscribe("jobs");
    co_await subscriber.psubscribe("events.*");
    co_await client.publish("jobs", "first");
    co_await client.publish("events.login", "second");
    co_await client.publish("jobs", "third");
    EXPECT_EQ((co_await subscriber.next()).payload, "first");
    const Message second = co_await subscriber.next();
    EXPECT_EQ(second.channel, "events.login");
    EXPECT_EQ(second.pattern, "events.*");
    EXPECT_EQ((co_await subscriber.next()).payload, "third");
  });
}

TEST_F(PubSub, StreamBeyondItsBufferDropsAndCountsNewMessages) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config, buffering(3));
    Client client(ex, config);
    co_await subscriber.subscribe("flood");
    co_await client.execute(publishes("flood", numbers(5)));
    co_await wait_until([&] { return subscriber.stats().dropped_messages == 2; });
    EXPECT_EQ((co_await subscriber.next()).payload, "0");
    EXPECT_EQ((co_await subscriber.next()).payload, "1");
    EXPECT_EQ((co_await subscriber.next()).payload, "2");
  });
}

TEST_F(PubSub, AThrowingHandlerIsCountedAndLoggedAndLaterMessagesArrive) {
  auto config = client_config(server());
  std::vector<std::string> log;
  config.log = [&](std::string_view line) { log.emplace_back(line); };
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config);
    Client client(ex, config);
    std::vector<std::string> handled;
    co_await subscriber.subscribe("fragile", [&](const Message& message) {
      if (message.payload == "bad") throw std::runtime_error("cannot handle this one");
      handled.push_back(message.payload);
    });
    co_await client.execute(publishes("fragile", strings("1", "bad", "2", "bad", "3")));
    co_await wait_until([&] { return handled.size() == 3; });
    EXPECT_EQ(handled, strings("1", "2", "3"));
    EXPECT_EQ(subscriber.stats().handler_errors, 2u);
    EXPECT_EQ(count_lines_with(::testing::PrintToString(log), "cannot handle this one"), 2u);
  });
}

struct Note {
  std::string text;
  int priority = 0;
};

void tag_invoke(const boost::json::value_from_tag&, boost::json::value& out, const Note& note) {
  out = {{"text", note.text}, {"priority", note.priority}};
}

Note tag_invoke(const boost::json::value_to_tag<Note>&, const boost::json::value& in) {
  const auto& object = in.as_object();
  return {std::string(object.at("text").as_string()),
          static_cast<int>(object.at("priority").as_int64())};
}

Note note(std::string text, int priority) {
  return {std::move(text), priority};
}

TEST_F(PubSub, JsonHandlerDecodesValuesAndReportsInvalidJsonWithoutEnding) {
  auto config = client_config(server());
  std::vector<std::string> log;
  config.log = [&](std::string_view line) { log.emplace_back(line); };
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config);
    Client client(ex, config);
    std::vector<Note> notes;
    co_await valkey::json::subscribe<Note>(subscriber, "notes",
                                           [&](const Note& value) { notes.push_back(value); });
    EXPECT_EQ(co_await valkey::json::publish(client, "notes", note("first", 1)), 1);
    co_await client.publish("notes", "{not json");
    co_await client.publish("notes", R"({"text": 5})");
    co_await valkey::json::publish(client, "notes", note("after", 2));
    co_await wait_until([&] { return notes.size() == 2; });
    EXPECT_EQ(notes[0].text, "first");
    EXPECT_EQ(notes[0].priority, 1);
    EXPECT_EQ(notes[1].text, "after");
    EXPECT_EQ(subscriber.stats().handler_errors, 2u);
    const std::string logged = ::testing::PrintToString(log);
    EXPECT_THAT(logged, HasSubstr("is not valid JSON"));
    EXPECT_THAT(logged, HasSubstr("does not hold the expected JSON shape"));
  });
}

TEST_F(PubSub, OneConnectionServesEverySubscription) {
  auto& valkey = server();
  auto config = client_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config);
    for (const std::string& name : strings("a", "b", "c", "d", "e")) {
      co_await subscriber.subscribe(name);
    }
    co_await subscriber.psubscribe("x.*");
    co_await subscriber.psubscribe("y.*");
    const std::string clients = valkey.cli(strings("CLIENT", "LIST"));
    EXPECT_EQ(count_lines_with(clients, "name=opencode-cache-subscriber"), 1u) << clients;
    EXPECT_THAT(clients, HasSubstr("sub=5 psub=2"));
    EXPECT_EQ(subscriber.stats().connects, 1u);
  });
}

TEST_F(PubSub, PingAnswersAndCloseEndsWaitingCalls) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config);
    co_await subscriber.ping();
    co_await subscriber.subscribe("quiet");
    std::error_code next_error;
    boost::asio::co_spawn(
        ex,
        [&]() -> awaitable<void> {
          try {
            co_await subscriber.next();
          } catch (const valkey::Error& e) {
            next_error = e.code();
          }
        },
        boost::asio::detached);
    subscriber.close();
    co_await wait_until([&] { return bool(next_error); });
    EXPECT_EQ(next_error, errc::closed);
    EXPECT_EQ(subscriber.state(), valkey::ConnectionState::closed);
  });
}

TEST_F(PubSub, WorksWithAPasswordAndFailsFastWithAWrongOne) {
  auto& valkey = start_server({.password = "s3cret"});
  auto config = client_config(valkey);
  config.password = "s3cret";
  auto wrong = config;
  wrong.password = "wrong";
  wrong.command_timeout = 5s;
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config);
    Client client(ex, config);
    Inbox inbox;
    co_await subscriber.subscribe("guarded", inbox.handler());
    EXPECT_EQ(co_await client.publish("guarded", "in"), 1);
    co_await wait_until([&] { return inbox.has("in"); });

    Subscriber refused(ex, wrong);
    const auto start = Clock::now();
    try {
      co_await refused.subscribe("guarded");
      ADD_FAILURE() << "subscribed with a wrong password";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), errc::auth_failed) << e.what();
    }
    EXPECT_LT(elapsed_since(start), wrong.command_timeout) << "credentials do not heal by waiting";
  });
}

TEST_F(PubSub, AChannelTheAclForbidsIsRefusedAndOthersWork) {
  auto& valkey = start_server({.acl_users = {"user app on >apppass ~* &allowed:* +@all"}});
  auto config = client_config(valkey);
  config.username = "app";
  config.password = "apppass";
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config);
    Client client(ex, config);
    Inbox inbox;
    try {
      co_await subscriber.subscribe("forbidden", inbox.handler());
      ADD_FAILURE() << "the ACL should refuse this channel";
    } catch (const valkey::ServerError& e) {
      EXPECT_EQ(e.prefix(), "NOPERM") << e.what();
    }
    co_await subscriber.subscribe("allowed:1", inbox.handler());
    EXPECT_EQ(co_await client.publish("allowed:1", "fine"), 1);
    co_await wait_until([&] { return inbox.has("fine"); });
  });
}

TEST_F(PubSub, SsubscribeReceivesSpublishAndNotPublish) {
  auto& valkey = server();
  auto config = client_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config);
    Client client(ex, config);
    Inbox sharded;
    Inbox classic;
    co_await subscriber.ssubscribe("orders", sharded.handler());
    co_await subscriber.subscribe("orders", classic.handler());
    EXPECT_EQ(valkey.cli(strings("PUBSUB", "SHARDNUMSUB", "orders")), "orders\n1");
    EXPECT_EQ(co_await client.spublish("orders", "sharded"), 1);
    EXPECT_EQ(co_await client.publish("orders", "classic"), 1);
    co_await wait_until([&] { return sharded.has("sharded") && classic.has("classic"); });
    EXPECT_EQ(sharded.payloads(), strings("sharded"));
    EXPECT_EQ(classic.payloads(), strings("classic"));
    EXPECT_EQ(subscriber.stats().connects, 1u) << "one node: one connection for every kind";

    co_await subscriber.sunsubscribe("orders");
    EXPECT_EQ(valkey.cli(strings("PUBSUB", "SHARDNUMSUB", "orders")), "orders\n0");
    EXPECT_EQ(co_await client.spublish("orders", "late"), 0);
    EXPECT_EQ(co_await client.publish("orders", "marker"), 1);
    co_await wait_until([&] { return classic.has("marker"); });
    EXPECT_EQ(sharded.payloads(), strings("sharded"));
  });
}

class PubSubReconnect : public ValkeyTest {};

TEST_F(PubSubReconnect, SubscriptionsSurviveAServerRestart) {
  auto& valkey = server();
  auto config = fast_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config);
    Client client(ex, config);
    Inbox inbox;
    co_await subscriber.subscribe("news", inbox.handler());
    co_await subscriber.psubscribe("alerts.*", inbox.handler());
    co_await subscriber.ssubscribe("orders", inbox.handler());
    co_await client.publish("news", "before");
    co_await wait_until([&] { return inbox.has("before"); });

    valkey.kill();
    co_await wait_until([&] { return subscriber.stats().disconnects >= 1; });
    valkey.start();
    // Three confirmations at first, three more once all are restored.
    co_await wait_until([&] { return subscriber.stats().confirmations >= 6; });
    EXPECT_EQ(valkey.cli(strings("PUBSUB", "NUMSUB", "news")), "news\n1");
    EXPECT_EQ(valkey.cli(strings("PUBSUB", "NUMPAT")), "1");
    EXPECT_EQ(valkey.cli(strings("PUBSUB", "SHARDNUMSUB", "orders")), "orders\n1");

    EXPECT_EQ(co_await client.publish("news", "after"), 1);
    EXPECT_EQ(co_await client.publish("alerts.fire", "after pattern"), 1);
    EXPECT_EQ(co_await client.spublish("orders", "after sharded"), 1);
    co_await wait_until([&] { return inbox.has("after sharded"); });
    EXPECT_EQ(inbox.payloads(), strings("before", "after", "after pattern", "after sharded"));
    EXPECT_GE(subscriber.stats().connects, 2u);
  });
}

TEST_F(PubSubReconnect, ASubscribeWhileTheServerIsDownCompletesWhenItReturns) {
  auto& valkey = server();
  auto config = fast_reconnect_config(valkey);
  config.command_timeout = 10s;
  valkey.kill();
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config);
    Client client(ex, config);
    Inbox inbox;
    bool subscribed = false;
    boost::asio::co_spawn(
        ex,
        [&]() -> awaitable<void> {
          co_await subscriber.subscribe("later", inbox.handler());
          subscribed = true;
        },
        boost::asio::detached);
    co_await wait_until([&] { return subscriber.stats().connect_failures >= 2; });
    EXPECT_FALSE(subscribed);
    valkey.start();
    co_await wait_until([&] { return subscribed; });
    EXPECT_EQ(co_await client.publish("later", "arrived"), 1);
    co_await wait_until([&] { return inbox.has("arrived"); });
  });
}

}  // namespace
}  // namespace opencode_cache::testing

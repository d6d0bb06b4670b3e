// The events' fan-out and history rules without sockets: each client's queue, resync on
// overflow and after a lost subscription, the drain, the limit on clients; stream ids and the
// resume decision; the SSE framing.

#include "server/app/event_hub.hpp"

#include <gtest/gtest.h>

#include "server/app/event_history.hpp"

namespace opencode_cache::server::app {
namespace {

Event event(std::string id, std::string data = "{}") {
  return Event{std::move(id), "invalidate", std::move(data)};
}

std::vector<std::string> ids(const EventHub::Pending& pending) {
  std::vector<std::string> out;
  for (const Event& e : pending.events) out.push_back(e.id);
  return out;
}

TEST(EventHubTest, EveryClientGetsEveryEventInOrderAndIsWoken) {
  EventHub hub(8, 16);
  int woken_a = 0;
  int woken_b = 0;
  const auto a = hub.join([&] { ++woken_a; });
  const auto b = hub.join([&] { ++woken_b; });
  ASSERT_TRUE(a && b);
  hub.deliver(event("1-0"));
  hub.deliver(event("2-0"));
  EXPECT_EQ(woken_a, 2);
  EXPECT_EQ(woken_b, 2);
  EXPECT_EQ(ids(hub.take(*a)), (std::vector<std::string>{"1-0", "2-0"}));
  EXPECT_TRUE(hub.take(*a).events.empty());  // taken once
  EXPECT_EQ(ids(hub.take(*b)), (std::vector<std::string>{"1-0", "2-0"}));
}

TEST(EventHubTest, ClientsBeyondTheLimitAreRefusedUntilOneLeaves) {
  EventHub hub(1, 16);
  const auto first = hub.join([] {});
  ASSERT_TRUE(first);
  EXPECT_FALSE(hub.join([] {}));
  hub.leave(*first);
  EXPECT_EQ(hub.size(), 0u);
  EXPECT_TRUE(hub.join([] {}));
}

TEST(EventHubTest, AnOverflowingClientDropsItsQueueAndResyncsOthersAreUntouched) {
  EventHub hub(8, 2);
  const auto slow = hub.join([] {});
  hub.deliver(event("1-0"));
  hub.deliver(event("2-0"));
  const auto late = hub.join([] {});
  hub.deliver(event("3-0"));  // slow's queue is full: dropped, resync
  hub.deliver(event("4-0"));
  const EventHub::Pending pending = hub.take(*slow);
  EXPECT_TRUE(pending.resync);
  EXPECT_EQ(ids(pending), (std::vector<std::string>{"4-0"}));
  const EventHub::Pending other = hub.take(*late);
  EXPECT_FALSE(other.resync);
  EXPECT_EQ(ids(other), (std::vector<std::string>{"3-0", "4-0"}));
  EXPECT_FALSE(hub.take(*slow).resync);  // reported once
}

TEST(EventHubTest, ALostSubscriptionMakesEveryClientResync) {
  EventHub hub(8, 16);
  int woken = 0;
  const auto a = hub.join([&] { ++woken; });
  hub.resync_all();
  EXPECT_EQ(woken, 1);
  EXPECT_TRUE(hub.take(*a).resync);
}

TEST(EventHubTest, ClosingEndsEveryStreamAndRefusesNewOnes) {
  EventHub hub(8, 16);
  int woken = 0;
  const auto a = hub.join([&] { ++woken; });
  hub.close();
  EXPECT_EQ(woken, 1);
  EXPECT_TRUE(hub.take(*a).closed);
  EXPECT_TRUE(hub.closed());
  EXPECT_FALSE(hub.join([] {}));
}

TEST(EventHubTest, FramesCarryIdTypeAndOneDataLine) {
  EXPECT_EQ(sse_frame(Event{"5-1", "session", R"({"id":"s"})"}),
            "id: 5-1\nevent: session\ndata: {\"id\":\"s\"}\n\n");
  // A local event (in no history) has no id: EventSource keeps its last one.
  EXPECT_EQ(sse_frame(Event{"", "breaker", "{}"}), "event: breaker\ndata: {}\n\n");
}

TEST(StreamIdTest, ParsesAndOrdersAsValkeyDoes) {
  EXPECT_EQ(StreamId::parse("1700000000000-3"), (StreamId{1700000000000, 3}));
  EXPECT_LT(*StreamId::parse("9-5"), *StreamId::parse("10-0"));
  EXPECT_LT(*StreamId::parse("10-2"), *StreamId::parse("10-10"));
  EXPECT_EQ(StreamId::parse("12-4")->str(), "12-4");
  for (const char* bad : {"", "12", "12-", "-4", "a-1", "1-b", "1-2-3", " 1-2", "1-2 "}) {
    EXPECT_FALSE(StreamId::parse(bad)) << bad;
  }
}

TEST(StreamIdTest, AnIdWithinTheHistoryReplaysOthersReset) {
  const StreamId oldest{10, 0};
  const StreamId newest{20, 0};
  EXPECT_EQ(resume_from({10, 0}, oldest, newest), Resume::replay);
  EXPECT_EQ(resume_from({15, 3}, oldest, newest), Resume::replay);
  EXPECT_EQ(resume_from({20, 0}, oldest, newest), Resume::replay);  // nothing missed
  EXPECT_EQ(resume_from({9, 9}, oldest, newest), Resume::reset);    // trimmed away
  EXPECT_EQ(resume_from({21, 0}, oldest, newest), Resume::reset);   // history deleted since
  EXPECT_EQ(resume_from({15, 0}, std::nullopt, std::nullopt), Resume::reset);
}

}  // namespace
}  // namespace opencode_cache::server::app

// Single flight across processes, seen from one gateway: the test plays the other process's
// leader directly in Valkey (its lease, its recording), so that each of the follower's
// decisions is shown on its own. The two-process runs are in gateway_process_test.cpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "server/flow/flight_entry.hpp"
#include "server/support/gateway_fixture.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using server::flow::FlightEnd;
using server::flow::FlightEntry;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

class SharedFlightTest : public GatewayTest {
 protected:
  // The request's cache key, learnt from an answer that is not stored.
  std::string key_of(const std::string& body) {
    const auto probe = client().post("/v1/chat/completions", body, {{"cache-control", "no-store"}});
    return probe.header("x-cache-key");
  }

  std::string lease_of(const std::string& key, bool stream = true) {
    return "opencode:flight:" + key + (stream ? ":stream" : ":json");
  }

  void hold_lease(const std::string& lease, const std::string& token,
                  std::chrono::milliseconds ttl) {
    EXPECT_EQ(server().cli({"SET", lease, token, "PX", std::to_string(ttl.count())}), "OK");
  }

  // One entry of the other leader's recording.
  void record(const std::string& lease, const std::string& token, FlightEntry entry) {
    std::vector<std::string> args = {"XADD", lease + ":" + token, "*"};
    for (auto& field : server::flow::entry_fields(entry)) args.push_back(std::move(field));
    server().cli(args);
  }

  FlightEntry head(std::uint64_t seq, const std::string& type) {
    server::flow::FlightHead head;
    head.status = 200;
    head.headers.emplace_back("content-type", type);
    return entry(seq, FlightEntry::Kind::head, server::flow::encode_head(head));
  }

  FlightEntry entry(std::uint64_t seq, FlightEntry::Kind kind, std::string value) {
    FlightEntry out;
    out.seq = seq;
    out.kind = kind;
    out.value = std::move(value);
    return out;
  }

  FlightEntry done(std::uint64_t seq) {
    server::flow::FlightOutcome outcome;
    outcome.end = FlightEnd::done;
    return entry(seq, FlightEntry::Kind::end, server::flow::encode_outcome(outcome));
  }
};

TEST_F(SharedFlightTest, FollowerReplaysTheOtherLeadersRecordingByteForByte) {
  start({{"OPENCODE_CACHE_FLIGHT_LEASE_MS", "5000"}});
  const std::string body = chat_body("elsewhere", true);
  const std::string lease = lease_of(key_of(body));
  const auto events = FakeUpstream::stream_events("gpt-test", "answer from the other process");
  hold_lease(lease, "other", 30s);
  record(lease, "other", head(0, "text/event-stream"));
  record(lease, "other", entry(1, FlightEntry::Kind::data, events[0] + events[1]));
  std::string rest;
  for (std::size_t i = 2; i < events.size(); ++i) rest += events[i];
  record(lease, "other", entry(2, FlightEntry::Kind::data, rest));
  record(lease, "other", done(3));
  const auto calls = upstream.calls();

  const auto followed = client().post("/v1/chat/completions", body);
  EXPECT_EQ(followed.status, 200);
  EXPECT_EQ(followed.error, "");
  EXPECT_EQ(followed.header("content-type"), "text/event-stream");
  EXPECT_EQ(followed.body, joined(events));
  EXPECT_EQ(upstream.calls(), calls) << "the other process called upstream, not this one";
  EXPECT_EQ(count("opencode_cache_single_flight_follows_total"), 1u);
}

TEST_F(SharedFlightTest, JsonFollowerGetsTheWholeAnswer) {
  start();
  const std::string body = chat_body("elsewhere json", false);
  const std::string lease = lease_of(key_of(body), false);
  const std::string answer = FakeUpstream::json_answer("gpt-test", "answer from elsewhere");
  hold_lease(lease, "other", 30s);
  record(lease, "other", head(0, "application/json"));
  record(lease, "other", entry(1, FlightEntry::Kind::data, answer.substr(0, 10)));
  record(lease, "other", entry(2, FlightEntry::Kind::data, answer.substr(10)));
  record(lease, "other", done(3));
  const auto calls = upstream.calls();
  const auto followed = client().post("/v1/chat/completions", body);
  EXPECT_EQ(followed.status, 200);
  EXPECT_EQ(followed.header("content-type"), "application/json");
  EXPECT_EQ(followed.body, answer);
  EXPECT_EQ(upstream.calls(), calls);
}

TEST_F(SharedFlightTest, FollowerGoesUpstreamAfterTheFollowTimeout) {
  start({{"OPENCODE_CACHE_FOLLOW_TIMEOUT_MS", "300"}, {"OPENCODE_CACHE_FLIGHT_LEASE_MS", "200"}});
  const std::string body = chat_body("slow leader", true);
  const std::string lease = lease_of(key_of(body));
  // A leader that keeps its lease and never answers.
  hold_lease(lease, "stuck", 60s);
  const auto calls = upstream.calls();
  const auto started = Clock::now();
  const auto answer = client().post("/v1/chat/completions", body);
  EXPECT_GE(Clock::now() - started, 300ms);
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.error, "");
  EXPECT_THAT(answer.body, HasSubstr("data: [DONE]\n\n"));
  EXPECT_EQ(upstream.calls(), calls + 1);
  EXPECT_EQ(count("opencode_cache_single_flight_fallbacks_total"), 1u);
  EXPECT_EQ(client().post("/v1/chat/completions", body).body, answer.body) << "and stored";
}

TEST_F(SharedFlightTest, LeaderGoneBeforeItsAnswerBeganIsTakenOver) {
  start({{"OPENCODE_CACHE_FLIGHT_LEASE_MS", "200"}});
  const std::string body = chat_body("dead leader", true);
  const std::string lease = lease_of(key_of(body));
  hold_lease(lease, "dead", 300ms);  // it dies: nobody renews the lease
  const auto calls = upstream.calls();
  const auto answer = client().post("/v1/chat/completions", body);
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.error, "");
  EXPECT_THAT(answer.body, HasSubstr("data: [DONE]\n\n"));
  EXPECT_EQ(upstream.calls(), calls + 1);
  EXPECT_EQ(count("opencode_cache_single_flight_takeovers_total"), 1u);
  const auto again = client().post("/v1/chat/completions", body);
  EXPECT_EQ(again.header("x-cache"), "HIT");
  EXPECT_EQ(again.body, answer.body);
}

TEST_F(SharedFlightTest, LeaderGoneMidStreamAbortsTheFollowerAndStoresNothing) {
  start({{"OPENCODE_CACHE_FLIGHT_LEASE_MS", "200"}});
  const std::string body = chat_body("dies mid-stream", true);
  const std::string lease = lease_of(key_of(body));
  const auto events = FakeUpstream::stream_events("gpt-test", "half an answer");
  hold_lease(lease, "dying", 400ms);
  record(lease, "dying", head(0, "text/event-stream"));
  record(lease, "dying", entry(1, FlightEntry::Kind::data, events[0]));
  const auto calls = upstream.calls();
  const auto cut = client().post("/v1/chat/completions", body);
  EXPECT_EQ(cut.status, 200);
  EXPECT_NE(cut.error, "") << "a truncated stream must not end cleanly";
  EXPECT_EQ(cut.body, events[0]) << "nothing of another answer spliced in";
  EXPECT_EQ(upstream.calls(), calls);
  EXPECT_EQ(count("opencode_cache_single_flight_aborts_total"), 1u);
  const auto next = client().post("/v1/chat/completions", body);
  EXPECT_EQ(next.header("x-cache"), "MISS");
  EXPECT_EQ(next.error, "");
  EXPECT_THAT(next.body, HasSubstr("data: [DONE]\n\n"));
  EXPECT_EQ(upstream.calls(), calls + 1);
}

TEST_F(SharedFlightTest, LeaderRecordsItsAnswerAndReleasesItsLease) {
  start();
  const std::string body = chat_body("recorded", true);
  const auto answer = client().post("/v1/chat/completions", body);
  const std::string lease = lease_of(answer.header("x-cache-key"));
  EXPECT_TRUE(eventually([&] {
    return server().cli({"EXISTS", lease}) == "0";
  })) << "released once the entry is stored";
  const std::string streams = server().cli({"--scan", "--pattern", lease + ":*"});
  ASSERT_FALSE(streams.empty());
  EXPECT_GE(std::stoi(server().cli({"XLEN", streams})), 3) << "head, the body, the end";
  const auto ttl = std::stoll(server().cli({"PTTL", streams}));
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 60000);
}

TEST_F(SharedFlightTest, LeaderStopsRecordingBeyondTheByteCapButStillStores) {
  start({{"OPENCODE_CACHE_FLIGHT_MAX_BYTES", "300"}});
  const std::string body = chat_body("too long to record", true);
  const auto answer = client().post("/v1/chat/completions", body);
  EXPECT_GT(answer.body.size(), 300u);
  const std::string lease = lease_of(answer.header("x-cache-key"));
  EXPECT_TRUE(eventually([&] { return server().cli({"EXISTS", lease}) == "0"; }));
  const std::string stream = server().cli({"--scan", "--pattern", lease + ":*"});
  ASSERT_FALSE(stream.empty());
  EXPECT_THAT(server().cli({"XREVRANGE", stream, "+", "-", "COUNT", "1"}),
              HasSubstr(R"("end":"overflow")"));
  std::size_t recorded = 0;
  const std::string all = server().cli({"XRANGE", stream, "-", "+"});
  for (const auto& event :
       FakeUpstream::stream_events("gpt-test", "answer 1 to too long to record")) {
    if (all.find(event) != std::string::npos) recorded += event.size();
  }
  EXPECT_LE(recorded, 300u) << "no more than the cap is recorded";
  const auto hit = client().post("/v1/chat/completions", body);
  EXPECT_EQ(hit.header("x-cache"), "HIT") << "the cap is on the recording, not on the entry";
  EXPECT_EQ(hit.body, answer.body);
}

TEST_F(SharedFlightTest, JsonFollowerGoesUpstreamWhenTheAnswerOutgrewTheRecording) {
  start();
  const std::string body = chat_body("outgrown", false);
  const std::string lease = lease_of(key_of(body), false);
  hold_lease(lease, "other", 30s);
  record(lease, "other", head(0, "application/json"));
  server::flow::FlightOutcome overflow;
  overflow.end = FlightEnd::overflow;
  record(lease, "other", entry(1, FlightEntry::Kind::end, server::flow::encode_outcome(overflow)));
  const auto calls = upstream.calls();
  const auto answer = client().post("/v1/chat/completions", body);
  EXPECT_EQ(answer.status, 200);
  EXPECT_THAT(answer.body, HasSubstr("answer"));
  EXPECT_EQ(upstream.calls(), calls + 1);
  EXPECT_EQ(count("opencode_cache_single_flight_fallbacks_total"), 1u);
}

TEST_F(SharedFlightTest, LeaderRenewsItsLeaseWhileItStreams) {
  start({{"OPENCODE_CACHE_FLIGHT_LEASE_MS", "100"}});
  const std::string body = chat_body("long answer", true, "hold");
  HttpResponse answer;
  std::thread leader([&] { answer = client().post("/v1/chat/completions", body); });
  // The lease alone: the recording's key has the token after it.
  std::string lease;
  ASSERT_TRUE(eventually([&] {
    lease = server().cli({"--scan", "--pattern", "opencode:flight:*:stream"});
    return !lease.empty();
  }));
  const std::string token = server().cli({"GET", lease});
  // Five times the lease's time, the same holder throughout.
  const auto until = Clock::now() + 500ms;
  bool held = true;
  while (Clock::now() < until) held = held && server().cli({"GET", lease}) == token;
  EXPECT_TRUE(held);
  upstream.release();
  leader.join();
  EXPECT_EQ(answer.error, "");
  EXPECT_THAT(answer.body, HasSubstr("data: [DONE]\n\n"));
  EXPECT_TRUE(eventually([&] { return server().cli({"EXISTS", lease}) == "0"; }));
}

TEST_F(SharedFlightTest, FollowerStopsReadingWhenItsClientsLeave) {
  start();
  const std::string body = chat_body("left", true);
  const std::string lease = lease_of(key_of(body));
  hold_lease(lease, "other", 30s);
  record(lease, "other", head(0, "text/event-stream"));
  record(lease, "other", entry(1, FlightEntry::Kind::data, "data: {}\n\n"));
  const std::string seen = client().read_head_and_close("/v1/chat/completions", body, 4);
  EXPECT_THAT(seen, HasSubstr("200 OK"));
  // The gateway learns that its client left when a write fails: more of the answer comes.
  std::uint64_t seq = 2;
  EXPECT_TRUE(eventually([&] {
    if (seq < 200) record(lease, "other", entry(seq++, FlightEntry::Kind::data, "data: {}\n\n"));
    return server().cli({"CLIENT", "LIST"}).find("name=opencode-cache-follower") ==
           std::string::npos;
  })) << "its own Valkey connection is closed";
  EXPECT_EQ(count("opencode_cache_single_flight_fallbacks_total"), 0u);
  EXPECT_EQ(count("opencode_cache_single_flight_takeovers_total"), 0u);
}

// Threads have their own flight tables and Valkey connections: they meet in Valkey.
TEST_F(SharedFlightTest, ThreadsOfOneProcessShareOneUpstreamCall) {
  start({{"OPENCODE_CACHE_THREADS", "2"}});
  constexpr int clients = 20;
  std::vector<HttpResponse> responses(clients);
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      responses[i] = HttpClient(gateway->port())
                         .post("/v1/chat/completions", chat_body("threads", true, "hold"));
    });
  }
  // However the connections were spread: one leader, every other request joined or followed.
  EXPECT_TRUE(eventually([&] {
    return count("opencode_cache_single_flight_joins_total") +
                   count("opencode_cache_single_flight_follows_total") ==
               clients - 1 &&
           upstream.calls() == 1;
  }));
  upstream.release();
  for (auto& thread : threads) thread.join();
  const std::string expected = joined(FakeUpstream::stream_events("hold", "answer 1 to threads"));
  for (const auto& response : responses) {
    EXPECT_EQ(response.error, "");
    EXPECT_EQ(response.body, expected);
  }
  EXPECT_EQ(upstream.calls(), 1u);
}

// The lease is claimed in the provider limit's round trip, before the limit is known: a
// refused request must give it back, or other processes would wait on a leader that never
// calls upstream until the lease expired.
TEST_F(SharedFlightTest, ARequestRefusedByItsProvidersLimitGivesTheLeaseBack) {
  start({{"RATE_LIMIT_PROVIDER_MAX", "1"},
         {"RATE_LIMIT_PROVIDER_WINDOW_MS", "60000"},
         {"OPENCODE_CACHE_FLIGHT_LEASE_MS", "60000"}});
  const std::string body = chat_body("refused by the provider limit", false);
  const std::string lease = lease_of(key_of(body), false);  // the probe takes the one request
  const auto calls = upstream.calls();

  const auto refused = client().post("/v1/chat/completions", body);
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(server().cli({"EXISTS", lease}), "0") << "the refused request kept the lease";
  EXPECT_EQ(upstream.calls(), calls);
}

TEST_F(SharedFlightTest, SharedFlightCanBeTurnedOff) {
  start({{"OPENCODE_CACHE_SHARED_FLIGHT", "false"}});
  const std::string body = chat_body("alone", true);
  const std::string lease = lease_of(key_of(body));
  hold_lease(lease, "other", 30s);
  const auto calls = upstream.calls();
  const auto answer = client().post("/v1/chat/completions", body);
  EXPECT_THAT(answer.body, HasSubstr("data: [DONE]\n\n"));
  EXPECT_EQ(upstream.calls(), calls + 1);
}

}  // namespace
}  // namespace opencode_cache::testing

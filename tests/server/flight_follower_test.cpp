// The follower's decisions (flow/flight_follower.hpp) and the stream entries it reads
// (flow/flight_entry.hpp), without Valkey.
#include "server/flow/flight_follower.hpp"

#include <gtest/gtest.h>

namespace opencode_cache::server::flow {
namespace {

using namespace std::chrono_literals;
using Clock = FlightFollower::Clock;
using Verdict = FlightFollower::Verdict;

const Clock::time_point t0 = Clock::time_point() + 1h;

FlightEntry entry(std::uint64_t seq, FlightEntry::Kind kind, std::string value) {
  FlightEntry out;
  out.seq = seq;
  out.kind = kind;
  out.value = std::move(value);
  return out;
}

FlightEntry head(std::uint64_t seq, const std::string& content_type, int status = 200) {
  FlightHead head;
  head.status = status;
  head.headers.emplace_back("content-type", content_type);
  head.headers.emplace_back("x-request-id", "req_1");
  return entry(seq, FlightEntry::Kind::head, encode_head(head));
}

FlightEntry data(std::uint64_t seq, std::string bytes) {
  return entry(seq, FlightEntry::Kind::data, std::move(bytes));
}

FlightEntry end(std::uint64_t seq, FlightEnd how, int status = 0) {
  FlightOutcome outcome;
  outcome.end = how;
  outcome.status = status;
  outcome.message = how == FlightEnd::failed ? "the upstream provider could not be reached" : "";
  return entry(seq, FlightEntry::Kind::end, encode_outcome(outcome));
}

TEST(FlightEntry, HeadOutcomeAndFieldsRoundTrip) {
  const FlightEntry original = head(0, "text/event-stream");
  const auto decoded = entry_from_fields(entry_fields(original));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->seq, 0u);
  EXPECT_EQ(decoded->kind, FlightEntry::Kind::head);
  const auto parsed = decode_head(decoded->value);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->status, 200);
  ASSERT_EQ(parsed->headers.size(), 2u);
  EXPECT_EQ(parsed->headers[1].second, "req_1");

  const auto outcome = decode_outcome(end(7, FlightEnd::failed, 504).value);
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->end, FlightEnd::failed);
  EXPECT_EQ(outcome->status, 504);
  EXPECT_EQ(outcome->message, "the upstream provider could not be reached");
}

TEST(FlightEntry, ForeignFieldsAndValuesAreRejected) {
  EXPECT_FALSE(entry_from_fields({"n", "1", "k", "d"}));            // no value
  EXPECT_FALSE(entry_from_fields({"n", "x1", "k", "d", "v", ""}));  // not a number
  EXPECT_FALSE(entry_from_fields({"n", "1", "k", "z", "v", ""}));   // unknown kind
  EXPECT_FALSE(entry_from_fields({"n", "1", "k"}));                 // odd
  EXPECT_FALSE(decode_head("[]"));
  EXPECT_FALSE(decode_head(R"({"status":200,"headers":[["a"]]})"));
  EXPECT_FALSE(decode_outcome(R"({"end":"later","status":0,"message":""})"));
  EXPECT_FALSE(decode_outcome("not json"));
}

TEST(FlightFollower, StreamIsPublishedAsItArrivesAndEndsWithTheLeader) {
  FlightFollower follower("tok", t0 + 10s);
  auto step = follower.on_entry(head(0, "text/event-stream"));
  EXPECT_EQ(step.verdict, Verdict::follow);
  ASSERT_TRUE(step.head);
  EXPECT_EQ(step.head->status, 200);
  EXPECT_TRUE(follower.published());
  EXPECT_EQ(follower.on_entry(data(1, "data: a\n\n")).bytes, "data: a\n\n");
  EXPECT_EQ(follower.on_entry(data(2, "data: [DONE]\n\n")).bytes, "data: [DONE]\n\n");
  step = follower.on_entry(end(3, FlightEnd::done));
  EXPECT_EQ(step.verdict, Verdict::finished);
  ASSERT_TRUE(step.outcome);
  EXPECT_EQ(step.outcome->end, FlightEnd::done);
}

TEST(FlightFollower, JsonAnswerIsHeldBackUntilWhole) {
  FlightFollower follower("tok", t0 + 10s);
  auto step = follower.on_entry(head(0, "application/json"));
  EXPECT_FALSE(step.head);
  EXPECT_FALSE(follower.published());
  EXPECT_EQ(follower.on_entry(data(1, R"({"id":)")).bytes, "");
  EXPECT_EQ(follower.on_entry(data(2, R"("x"})")).bytes, "");
  step = follower.on_entry(end(3, FlightEnd::done));
  EXPECT_EQ(step.verdict, Verdict::finished);
  ASSERT_TRUE(step.head);
  EXPECT_EQ(step.head->headers[0].second, "application/json");
  EXPECT_EQ(step.bytes, R"({"id":"x"})");
}

TEST(FlightFollower, LeaderGoneBeforeAnythingWasSentMeansTakeOver) {
  FlightFollower follower("tok", t0 + 10s);
  EXPECT_EQ(follower.on_quiet(std::string("tok"), t0).verdict, Verdict::follow);
  EXPECT_EQ(follower.on_quiet(std::nullopt, t0 + 1s).verdict, Verdict::take_over);
  // A held JSON answer was not sent either.
  FlightFollower json("tok", t0 + 10s);
  json.on_entry(head(0, "application/json"));
  json.on_entry(data(1, "{"));
  EXPECT_EQ(json.on_quiet(std::nullopt, t0 + 1s).verdict, Verdict::take_over);
}

TEST(FlightFollower, LeaderGoneAfterPartOfAStreamWasSentMeansAbort) {
  FlightFollower follower("tok", t0 + 10s);
  follower.on_entry(head(0, "text/event-stream"));
  follower.on_entry(data(1, "data: a\n\n"));
  EXPECT_EQ(follower.on_quiet(std::string("tok"), t0 + 20s).verdict, Verdict::follow)
      << "a live stream is not bounded by the follow timeout";
  EXPECT_EQ(follower.on_quiet(std::nullopt, t0 + 21s).verdict, Verdict::abort);
  FlightFollower other("tok", t0 + 10s);
  other.on_entry(head(0, "text/event-stream"));
  EXPECT_EQ(other.on_quiet(std::string("new"), t0).verdict, Verdict::abort)
      << "never splice another leader's answer into one begun";
}

TEST(FlightFollower, ANewLeaderIsFollowedFromItsStart) {
  FlightFollower follower("old", t0 + 10s);
  follower.on_entry(head(0, "application/json"));
  EXPECT_EQ(follower.on_quiet(std::string("new"), t0).verdict, Verdict::restart);
  EXPECT_EQ(follower.token(), "new");
  EXPECT_FALSE(follower.head_seen());
  EXPECT_TRUE(follower.on_entry(head(0, "text/event-stream")).head);
}

TEST(FlightFollower, NoAnswerWithinTheFollowTimeoutMeansGoUpstream) {
  FlightFollower follower("tok", t0 + 10s);
  EXPECT_EQ(follower.on_quiet(std::string("tok"), t0 + 9s).verdict, Verdict::follow);
  EXPECT_EQ(follower.on_quiet(std::string("tok"), t0 + 10s).verdict, Verdict::go_upstream);
  FlightFollower switching("tok", t0 + 10s);
  EXPECT_EQ(switching.on_quiet(std::string("new"), t0 + 11s).verdict, Verdict::go_upstream);
}

TEST(FlightFollower, MissedEntriesAreNeverReplayed) {
  FlightFollower fresh("tok", t0 + 10s);
  EXPECT_EQ(fresh.on_entry(data(3, "x")).verdict, Verdict::go_upstream)
      << "the head was trimmed away";
  FlightFollower started("tok", t0 + 10s);
  started.on_entry(head(0, "text/event-stream"));
  EXPECT_EQ(started.on_entry(data(2, "x")).verdict, Verdict::abort);
}

TEST(FlightFollower, EndsOfTheLeader) {
  FlightFollower failed("tok", t0 + 10s);
  auto step = failed.on_entry(end(0, FlightEnd::failed, 502));
  EXPECT_EQ(step.verdict, Verdict::finished) << "an upstream failure is the leader's answer";
  EXPECT_EQ(step.outcome->status, 502);

  FlightFollower abandoned("tok", t0 + 10s);
  abandoned.on_entry(head(0, "application/json"));
  EXPECT_EQ(abandoned.on_entry(end(1, FlightEnd::abandoned)).verdict, Verdict::take_over);
  FlightFollower abandoned_live("tok", t0 + 10s);
  abandoned_live.on_entry(head(0, "text/event-stream"));
  EXPECT_EQ(abandoned_live.on_entry(end(1, FlightEnd::abandoned)).verdict, Verdict::abort);

  FlightFollower overflow("tok", t0 + 10s);
  overflow.on_entry(head(0, "application/json"));
  EXPECT_EQ(overflow.on_entry(end(1, FlightEnd::overflow)).verdict, Verdict::go_upstream);
  FlightFollower overflow_live("tok", t0 + 10s);
  overflow_live.on_entry(head(0, "text/event-stream"));
  EXPECT_EQ(overflow_live.on_entry(end(1, FlightEnd::overflow)).verdict, Verdict::abort);

  FlightFollower headless("tok", t0 + 10s);
  EXPECT_EQ(headless.on_entry(end(0, FlightEnd::done)).verdict, Verdict::go_upstream);
}

}  // namespace
}  // namespace opencode_cache::server::flow

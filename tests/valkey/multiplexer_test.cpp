// The sans-I/O multiplexer: write order, reply matching, pipelines, abandoned requests,
// dropped connections, failed reconnects, the queue bound and failing everything.

#include "valkey/multiplexer.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "opencode_cache/valkey/error.hpp"

namespace opencode_cache::testing {
namespace {

using valkey::errc;
using valkey::Multiplexer;
using valkey::Request;
using valkey::resp::Type;
using valkey::resp::Value;

Value bulk(const std::string& text) {
  Value value;
  value.type = Type::bulk_string;
  value.string = text;
  return value;
}

struct Options {
  std::size_t expected_replies = 1;
  bool resendable = false;
  std::uint32_t resends_left = 0;
  std::uint32_t reconnects_left = 0;
};

// A request that counts how often it was completed.
struct Tracked {
  std::shared_ptr<Request> request = std::make_shared<Request>();
  std::shared_ptr<int> done_calls = std::make_shared<int>(0);

  explicit Tracked(const std::string& payload, Options options = {}) {
    request->payload = payload;
    request->expected_replies = options.expected_replies;
    request->resendable = options.resendable;
    request->resends_left = options.resends_left;
    request->reconnects_left = options.reconnects_left;
    request->on_done = [calls = done_calls] { ++*calls; };
  }
  Request& operator*() const { return *request; }
  Request* operator->() const { return request.get(); }
  int calls() const { return *done_calls; }
};

TEST(Multiplexer, PrepareWriteConcatenatesQueuedPayloadsInOrder) {
  Multiplexer mux(100);
  Tracked a("A1;"), b("B22;"), c("C333;");
  EXPECT_FALSE(mux.has_queued());
  ASSERT_TRUE(mux.enqueue(a.request));
  ASSERT_TRUE(mux.enqueue(b.request));
  ASSERT_TRUE(mux.enqueue(c.request));
  EXPECT_TRUE(mux.has_queued());
  EXPECT_EQ(mux.queued(), 3u);
  EXPECT_EQ(mux.in_flight(), 0u);
  EXPECT_EQ(a->state, Request::State::queued);

  EXPECT_EQ(mux.prepare_write(), "A1;B22;C333;");
  EXPECT_FALSE(mux.has_queued());
  EXPECT_EQ(mux.queued(), 0u);
  EXPECT_EQ(mux.in_flight(), 3u);
  EXPECT_EQ(a->state, Request::State::written);
  EXPECT_EQ(c->state, Request::State::written);

  // Nothing new: nothing to write, and what is in flight stays there.
  EXPECT_EQ(mux.prepare_write(), "");
  EXPECT_EQ(mux.in_flight(), 3u);

  Tracked d("D;");
  ASSERT_TRUE(mux.enqueue(d.request));
  EXPECT_EQ(mux.prepare_write(), "D;");
  EXPECT_EQ(mux.in_flight(), 4u);
}

TEST(Multiplexer, RepliesCompleteRequestsInTheOrderTheyWereWritten) {
  Multiplexer mux(100);
  Tracked a("a"), b("b"), c("c");
  mux.enqueue(a.request);
  mux.enqueue(b.request);
  mux.prepare_write();
  mux.enqueue(c.request);
  mux.prepare_write();

  ASSERT_TRUE(mux.on_reply(bulk("for a")));
  EXPECT_TRUE(a->finished());
  EXPECT_FALSE(b->finished());
  EXPECT_EQ(a.calls(), 1);
  EXPECT_EQ(b.calls(), 0);
  ASSERT_EQ(a->replies.size(), 1u);
  EXPECT_EQ(a->replies[0].string, "for a");
  EXPECT_FALSE(a->error);
  EXPECT_EQ(mux.in_flight(), 2u);

  ASSERT_TRUE(mux.on_reply(bulk("for b")));
  ASSERT_TRUE(mux.on_reply(bulk("for c")));
  EXPECT_EQ(b->replies.at(0).string, "for b");
  EXPECT_EQ(c->replies.at(0).string, "for c");
  EXPECT_EQ(mux.in_flight(), 0u);
  // Each completion handler ran exactly once.
  EXPECT_EQ(a.calls(), 1);
  EXPECT_EQ(b.calls(), 1);
  EXPECT_EQ(c.calls(), 1);
}

TEST(Multiplexer, PipelineRequestWaitsForAllItsReplies) {
  Multiplexer mux(100);
  Tracked pipeline("p", {.expected_replies = 3}), after("x");
  mux.enqueue(pipeline.request);
  mux.enqueue(after.request);
  mux.prepare_write();

  ASSERT_TRUE(mux.on_reply(bulk("1")));
  ASSERT_TRUE(mux.on_reply(bulk("2")));
  EXPECT_FALSE(pipeline->finished());
  EXPECT_EQ(pipeline.calls(), 0);
  ASSERT_TRUE(mux.on_reply(bulk("3")));
  EXPECT_TRUE(pipeline->finished());
  EXPECT_EQ(pipeline.calls(), 1);
  ASSERT_EQ(pipeline->replies.size(), 3u);
  EXPECT_EQ(pipeline->replies[0].string, "1");
  EXPECT_EQ(pipeline->replies[1].string, "2");
  EXPECT_EQ(pipeline->replies[2].string, "3");
  EXPECT_FALSE(after->finished());

  ASSERT_TRUE(mux.on_reply(bulk("4")));
  EXPECT_TRUE(after->finished());
  EXPECT_EQ(after->replies.at(0).string, "4");
}

TEST(Multiplexer, ReplyWithNothingInFlightIsRejected) {
  Multiplexer mux(100);
  EXPECT_FALSE(mux.on_reply(bulk("stray")));

  // Queued but not yet written is not in flight either.
  Tracked a("a");
  mux.enqueue(a.request);
  EXPECT_FALSE(mux.on_reply(bulk("early")));
  EXPECT_FALSE(a->finished());

  mux.prepare_write();
  EXPECT_TRUE(mux.on_reply(bulk("a")));
  EXPECT_FALSE(mux.on_reply(bulk("one too many")));
  EXPECT_EQ(a->replies.size(), 1u);
}

TEST(Multiplexer, AbandonedQueuedRequestIsNeverWritten) {
  Multiplexer mux(100);
  Tracked a("a;"), b("b;"), c("c;");
  mux.enqueue(a.request);
  mux.enqueue(b.request);
  mux.enqueue(c.request);
  mux.abandon(*b);
  EXPECT_EQ(mux.queued(), 2u);
  EXPECT_EQ(mux.prepare_write(), "a;c;");
  EXPECT_EQ(mux.in_flight(), 2u);
  ASSERT_TRUE(mux.on_reply(bulk("ra")));
  ASSERT_TRUE(mux.on_reply(bulk("rc")));
  EXPECT_EQ(a->replies.at(0).string, "ra");
  EXPECT_EQ(c->replies.at(0).string, "rc");
  EXPECT_EQ(b.calls(), 0);
  EXPECT_TRUE(b->replies.empty());
}

TEST(Multiplexer, AbandoningEveryQueuedRequestLeavesNothingToWrite) {
  Multiplexer mux(100);
  Tracked a("a;");
  mux.enqueue(a.request);
  mux.abandon(*a);
  EXPECT_FALSE(mux.has_queued());
  EXPECT_EQ(mux.prepare_write(), "");
  EXPECT_EQ(mux.in_flight(), 0u);
}

TEST(Multiplexer, AbandonedInFlightRequestsReplyIsDiscarded) {
  Multiplexer mux(100);
  Tracked a("a"), b("b", {.expected_replies = 2}), c("c");
  mux.enqueue(a.request);
  mux.enqueue(b.request);
  mux.enqueue(c.request);
  mux.prepare_write();
  mux.abandon(*a);
  mux.abandon(*b);

  ASSERT_TRUE(mux.on_reply(bulk("late a")));
  EXPECT_TRUE(a->replies.empty());
  EXPECT_FALSE(c->finished());
  ASSERT_TRUE(mux.on_reply(bulk("late b1")));
  ASSERT_TRUE(mux.on_reply(bulk("late b2")));
  EXPECT_TRUE(b->replies.empty());
  EXPECT_FALSE(c->finished());

  // The next reply belongs to the next live request, not to the abandoned ones.
  ASSERT_TRUE(mux.on_reply(bulk("for c")));
  EXPECT_TRUE(c->finished());
  EXPECT_EQ(c->replies.at(0).string, "for c");
  EXPECT_EQ(a.calls(), 0);
  EXPECT_EQ(b.calls(), 0);
  EXPECT_EQ(c.calls(), 1);
  EXPECT_EQ(mux.in_flight(), 0u);
}

TEST(Multiplexer, AbandonAfterAPartialPipelineDiscardsTheRest) {
  Multiplexer mux(100);
  Tracked p("p", {.expected_replies = 3}), next("n");
  mux.enqueue(p.request);
  mux.enqueue(next.request);
  mux.prepare_write();
  ASSERT_TRUE(mux.on_reply(bulk("1")));
  mux.abandon(*p);
  ASSERT_TRUE(mux.on_reply(bulk("2")));
  ASSERT_TRUE(mux.on_reply(bulk("3")));
  EXPECT_FALSE(next->finished());
  ASSERT_TRUE(mux.on_reply(bulk("for next")));
  EXPECT_EQ(next->replies.at(0).string, "for next");
  EXPECT_EQ(p.calls(), 0);
}

TEST(Multiplexer, ConnectionLostRequeuesResendableRequestsAheadOfNewerOnes) {
  Multiplexer mux(100);
  Tracked read1("R1;", {.resendable = true, .resends_left = 2});
  Tracked write("W;");
  Tracked read_spent("R0;", {.resendable = true, .resends_left = 0});
  Tracked read2("R2;", {.expected_replies = 2, .resendable = true, .resends_left = 1});
  Tracked gone("G;", {.resendable = true, .resends_left = 3});
  for (auto* t : {&read1, &write, &read_spent, &read2, &gone}) mux.enqueue(t->request);
  mux.prepare_write();
  mux.abandon(*gone);
  Tracked newer("N;");
  mux.enqueue(newer.request);

  mux.on_connection_lost();

  EXPECT_EQ(mux.in_flight(), 0u);
  // The write may have run: it fails, and says the outcome is unknown.
  EXPECT_TRUE(write->finished());
  EXPECT_EQ(write.calls(), 1);
  EXPECT_EQ(write->error, errc::connection_lost);
  // Read-only but out of resends: fails too.
  EXPECT_TRUE(read_spent->finished());
  EXPECT_EQ(read_spent->error, errc::connection_lost);
  // The abandoned one is forgotten.
  EXPECT_EQ(gone.calls(), 0);

  EXPECT_FALSE(read1->finished());
  EXPECT_FALSE(read2->finished());
  EXPECT_EQ(read1->resends_left, 1u);
  EXPECT_EQ(read2->resends_left, 0u);
  EXPECT_EQ(mux.queued(), 3u);
  EXPECT_EQ(mux.prepare_write(), "R1;R2;N;");

  ASSERT_TRUE(mux.on_reply(bulk("r1")));
  ASSERT_TRUE(mux.on_reply(bulk("r2a")));
  ASSERT_TRUE(mux.on_reply(bulk("r2b")));
  ASSERT_TRUE(mux.on_reply(bulk("n")));
  EXPECT_EQ(read1->replies.at(0).string, "r1");
  ASSERT_EQ(read2->replies.size(), 2u);
  EXPECT_EQ(read2->replies[0].string, "r2a");
  EXPECT_EQ(newer->replies.at(0).string, "n");
  EXPECT_EQ(read1.calls(), 1);
  EXPECT_EQ(read2.calls(), 1);
}

TEST(Multiplexer, ResentPipelineStartsOverWithoutItsPartialReplies) {
  Multiplexer mux(100);
  Tracked p("P;", {.expected_replies = 2, .resendable = true, .resends_left = 1});
  mux.enqueue(p.request);
  mux.prepare_write();
  ASSERT_TRUE(mux.on_reply(bulk("first, from the lost connection")));
  mux.on_connection_lost();
  EXPECT_FALSE(p->finished());
  EXPECT_EQ(mux.prepare_write(), "P;");
  ASSERT_TRUE(mux.on_reply(bulk("1")));
  EXPECT_FALSE(p->finished());
  ASSERT_TRUE(mux.on_reply(bulk("2")));
  EXPECT_TRUE(p->finished());
  ASSERT_EQ(p->replies.size(), 2u);
  EXPECT_EQ(p->replies[0].string, "1");
  EXPECT_EQ(p->replies[1].string, "2");
}

TEST(Multiplexer, ResendsRunOut) {
  Multiplexer mux(100);
  Tracked r("R;", {.resendable = true, .resends_left = 2});
  mux.enqueue(r.request);
  for (int drop = 0; drop < 2; ++drop) {
    EXPECT_EQ(mux.prepare_write(), "R;");
    mux.on_connection_lost();
    EXPECT_FALSE(r->finished()) << "drop " << drop;
  }
  EXPECT_EQ(mux.prepare_write(), "R;");
  mux.on_connection_lost();
  EXPECT_TRUE(r->finished());
  EXPECT_EQ(r->error, errc::connection_lost);
  EXPECT_EQ(r.calls(), 1);
  EXPECT_EQ(mux.queued(), 0u);
}

TEST(Multiplexer, ConnectFailedUsesUpReconnectsThenFails) {
  Multiplexer mux(100);
  Tracked patient("P;", {.reconnects_left = 1});
  Tracked impatient("I;", {.reconnects_left = 0});
  Tracked abandoned("A;", {.reconnects_left = 0});
  mux.enqueue(patient.request);
  mux.enqueue(impatient.request);
  mux.enqueue(abandoned.request);
  mux.abandon(*abandoned);

  const auto refused = std::make_error_code(std::errc::connection_refused);
  mux.on_connect_failed(refused, "connect refused");
  EXPECT_TRUE(impatient->finished());
  EXPECT_EQ(impatient.calls(), 1);
  EXPECT_EQ(impatient->error, refused);
  EXPECT_EQ(impatient->error_detail, "connect refused");
  EXPECT_EQ(abandoned.calls(), 0);
  EXPECT_FALSE(patient->finished());
  EXPECT_EQ(patient->reconnects_left, 0u);
  EXPECT_EQ(mux.queued(), 1u);

  mux.on_connect_failed(valkey::make_error_code(errc::not_connected), "still refused");
  EXPECT_TRUE(patient->finished());
  EXPECT_EQ(patient->error, errc::not_connected);
  EXPECT_EQ(patient->error_detail, "still refused");
  EXPECT_EQ(patient.calls(), 1);
  EXPECT_EQ(mux.queued(), 0u);
  EXPECT_EQ(mux.prepare_write(), "");
}

TEST(Multiplexer, ConnectFailedKeepsTheOrderOfSurvivors) {
  Multiplexer mux(100);
  Tracked a("a;", {.reconnects_left = 2}), b("b;"), c("c;", {.reconnects_left = 1});
  mux.enqueue(a.request);
  mux.enqueue(b.request);
  mux.enqueue(c.request);
  mux.on_connect_failed(valkey::make_error_code(errc::not_connected), "down");
  EXPECT_TRUE(b->finished());
  EXPECT_EQ(mux.queued(), 2u);
  EXPECT_EQ(mux.prepare_write(), "a;c;");
}

TEST(Multiplexer, QueueIsBounded) {
  Multiplexer mux(2);
  Tracked a("a;"), b("b;"), c("c;"), d("d;");
  EXPECT_TRUE(mux.enqueue(a.request));
  EXPECT_TRUE(mux.enqueue(b.request));
  EXPECT_FALSE(mux.enqueue(c.request));
  EXPECT_EQ(mux.queued(), 2u);

  // Abandoned requests do not hold a place.
  mux.abandon(*a);
  EXPECT_TRUE(mux.enqueue(c.request));
  EXPECT_FALSE(mux.enqueue(d.request));
  EXPECT_EQ(mux.queued(), 2u);
  EXPECT_EQ(mux.prepare_write(), "b;c;");

  // Requests in flight do not count against the queue either.
  EXPECT_TRUE(mux.enqueue(d.request));
  Tracked e("e;");
  EXPECT_TRUE(mux.enqueue(e.request));
  EXPECT_EQ(mux.in_flight(), 2u);
  EXPECT_EQ(mux.prepare_write(), "d;e;");
}

TEST(Multiplexer, ManyAbandonedRequestsDoNotFillTheQueue) {
  Multiplexer mux(3);
  std::vector<Tracked> abandoned;
  for (int i = 0; i < 50; ++i) {
    abandoned.emplace_back("x;");
    ASSERT_TRUE(mux.enqueue(abandoned.back().request)) << i;
    mux.abandon(*abandoned.back());
  }
  Tracked live("live;");
  EXPECT_TRUE(mux.enqueue(live.request));
  EXPECT_EQ(mux.queued(), 1u);
  EXPECT_EQ(mux.prepare_write(), "live;");
}

TEST(Multiplexer, FailAllFailsQueuedAndInFlightOnce) {
  Multiplexer mux(100);
  Tracked flying("f;"), waiting("w;"), abandoned("a;");
  mux.enqueue(flying.request);
  mux.prepare_write();
  mux.enqueue(waiting.request);
  mux.enqueue(abandoned.request);
  mux.abandon(*abandoned);

  mux.fail_all(valkey::make_error_code(errc::closed), "closing");
  EXPECT_TRUE(flying->finished());
  EXPECT_TRUE(waiting->finished());
  EXPECT_EQ(flying->error, errc::closed);
  EXPECT_EQ(waiting->error, errc::closed);
  EXPECT_EQ(flying->error_detail, "closing");
  EXPECT_EQ(flying.calls(), 1);
  EXPECT_EQ(waiting.calls(), 1);
  EXPECT_EQ(abandoned.calls(), 0);
  EXPECT_EQ(mux.queued(), 0u);
  EXPECT_EQ(mux.in_flight(), 0u);
  EXPECT_FALSE(mux.on_reply(bulk("late")));
  EXPECT_EQ(mux.prepare_write(), "");
}

TEST(Multiplexer, FailedRequestCarriesNoPartialReplies) {
  Multiplexer mux(100);
  Tracked p("p", {.expected_replies = 2});
  mux.enqueue(p.request);
  mux.prepare_write();
  ASSERT_TRUE(mux.on_reply(bulk("half")));
  mux.fail_all(valkey::make_error_code(errc::closed), "closing");
  EXPECT_TRUE(p->finished());
  EXPECT_TRUE(p->replies.empty());
}

// A completion handler may queue a follow-up request (a caller retrying at once). It must
// not be lost: either it is failed as well or it is still waiting to be written.
void expect_not_lost(Multiplexer& mux, const Tracked& follow_up) {
  if (follow_up->finished()) {
    EXPECT_EQ(follow_up.calls(), 1);
    return;
  }
  EXPECT_EQ(mux.queued(), 1u);
  EXPECT_EQ(mux.prepare_write(), "follow-up;");
}

TEST(Multiplexer, RequestQueuedByAHandlerDuringFailAllIsNotLost) {
  Multiplexer mux(100);
  Tracked waiting("w;"), follow_up("follow-up;");
  waiting->on_done = [&] { mux.enqueue(follow_up.request); };
  mux.enqueue(waiting.request);
  mux.fail_all(valkey::make_error_code(errc::closed), "closing");
  EXPECT_TRUE(waiting->finished());
  expect_not_lost(mux, follow_up);
}

TEST(Multiplexer, RequestQueuedByAHandlerDuringFailQueuedIsNotLost) {
  Multiplexer mux(100);
  Tracked waiting("w;"), other("o;"), follow_up("follow-up;");
  waiting->on_done = [&] { mux.enqueue(follow_up.request); };
  mux.enqueue(waiting.request);
  mux.enqueue(other.request);
  mux.fail_queued(valkey::make_error_code(errc::auth_failed), "WRONGPASS");
  EXPECT_TRUE(waiting->finished());
  EXPECT_TRUE(other->finished());
  EXPECT_EQ(other->error, errc::auth_failed);
  expect_not_lost(mux, follow_up);
}

TEST(Multiplexer, RequestQueuedByAHandlerDuringConnectFailedIsNotLost) {
  Multiplexer mux(100);
  Tracked waiting("w;"), survivor("s;", {.reconnects_left = 1}), follow_up("follow-up;");
  waiting->on_done = [&] { mux.enqueue(follow_up.request); };
  mux.enqueue(waiting.request);
  mux.enqueue(survivor.request);
  mux.on_connect_failed(valkey::make_error_code(errc::not_connected), "down");
  EXPECT_TRUE(waiting->finished());
  EXPECT_FALSE(survivor->finished());
  EXPECT_EQ(mux.queued(), 2u);
  // The survivor waited longer, so it goes first.
  EXPECT_EQ(mux.prepare_write(), "s;follow-up;");
}

}  // namespace
}  // namespace opencode_cache::testing

namespace opencode_cache::testing {
namespace {

using valkey::Multiplexer;
using valkey::Request;

std::shared_ptr<Request> request_with(const std::string& payload) {
  auto request = std::make_shared<Request>();
  request->payload = payload;
  return request;
}

valkey::resp::Value error_reply(const std::string& text) {
  return valkey::resp::Value{.type = valkey::resp::Type::simple_error, .string = text};
}

valkey::resp::Value ok_reply() {
  return valkey::resp::Value{.type = valkey::resp::Type::simple_string, .string = "OK"};
}

TEST(MultiplexerBounds, InFlightCapKeepsTheRestQueuedInOrder) {
  Multiplexer mux(100, 2);
  auto a = request_with("a;"), b = request_with("b;"), c = request_with("c;");
  mux.enqueue(a);
  mux.enqueue(b);
  mux.enqueue(c);
  EXPECT_EQ(mux.prepare_write(), "a;b;");
  EXPECT_EQ(mux.in_flight(), 2u);
  EXPECT_EQ(mux.queued(), 1u);
  EXPECT_FALSE(mux.can_write()) << "the cap is reached";
  auto d = request_with("d;");
  mux.enqueue(d);
  ASSERT_TRUE(mux.on_reply(ok_reply()));
  EXPECT_TRUE(mux.can_write());
  EXPECT_EQ(mux.prepare_write(), "c;") << "the oldest waiting goes first, one slot free";
  ASSERT_TRUE(mux.on_reply(ok_reply()));
  ASSERT_TRUE(mux.on_reply(ok_reply()));
  EXPECT_EQ(mux.prepare_write(), "d;");
}

TEST(MultiplexerBounds, ALargeWriteBufferIsReleasedAtTheNextWrite) {
  Multiplexer mux(100);
  mux.enqueue(request_with(std::string(1024 * 1024, 'x')));
  EXPECT_EQ(mux.prepare_write().size(), 1024u * 1024u);
  mux.on_reply(ok_reply());
  mux.enqueue(request_with("small"));
  EXPECT_EQ(mux.prepare_write(), "small");
  EXPECT_LE(mux.write_buffer_capacity(), 64u * 1024u);
}

TEST(MultiplexerRoleRefusal, ARefusedSingleCommandIsSentAgainAfterTheReset) {
  Multiplexer mux(100);
  auto write = request_with("INCR;");
  write->refusals_left = 1;
  auto read = request_with("GET;");
  read->resendable = true;
  read->resends_left = 1;
  mux.enqueue(write);
  mux.enqueue(read);
  mux.prepare_write();
  ASSERT_TRUE(
      mux.on_role_refusal(error_reply("READONLY You can't write against a read only replica.")));
  EXPECT_FALSE(write->finished()) << "the caller does not see the refusal";
  EXPECT_EQ(mux.refused(), 1u);
  ASSERT_TRUE(mux.on_reply(ok_reply())) << "the next reply belongs to the next request";
  EXPECT_TRUE(read->finished());
  mux.on_connection_lost("reset after READONLY");
  EXPECT_EQ(mux.prepare_write(), "INCR;") << "it did not run, so it may run now";
  ASSERT_TRUE(mux.on_reply(ok_reply()));
  EXPECT_TRUE(write->finished());
  EXPECT_FALSE(write->error);
}

TEST(MultiplexerRoleRefusal, WithoutRetriesLeftTheRefusalIsTheAnswer) {
  Multiplexer mux(100);
  auto write = request_with("SET;");
  mux.enqueue(write);
  mux.prepare_write();
  ASSERT_TRUE(mux.on_role_refusal(error_reply("READONLY no")));
  ASSERT_TRUE(write->finished());
  ASSERT_EQ(write->replies.size(), 1u);
  EXPECT_EQ(write->replies[0].string, "READONLY no");
}

TEST(MultiplexerRoleRefusal, APipelineGetsTheRefusalAsOneOfItsReplies) {
  Multiplexer mux(100);
  auto pipeline = request_with("SET;SET;");
  pipeline->expected_replies = 2;
  pipeline->refusals_left = 3;
  mux.enqueue(pipeline);
  mux.prepare_write();
  ASSERT_TRUE(mux.on_reply(ok_reply()));
  ASSERT_TRUE(mux.on_role_refusal(error_reply("READONLY no")));
  ASSERT_TRUE(pipeline->finished()) << "part of it ran: it cannot simply run again";
  EXPECT_EQ(pipeline->replies.at(1).string, "READONLY no");
}

TEST(MultiplexerRoleRefusal, ClosingFailsRefusedRequestsToo) {
  Multiplexer mux(100);
  auto write = request_with("SET;");
  write->refusals_left = 1;
  mux.enqueue(write);
  mux.prepare_write();
  mux.on_role_refusal(error_reply("LOADING"));
  mux.fail_all(make_error_code(valkey::errc::closed), "closed");
  ASSERT_TRUE(write->finished());
  EXPECT_EQ(write->error, valkey::errc::closed);
}

}  // namespace
}  // namespace opencode_cache::testing

// Decisions asked for in one loop turn go to Valkey in one script call: each caller still gets
// the decision it would have got one by one, mixed keys and peeks included; a caller that
// stops waiting neither takes a slot (before the call) nor holds up the others (during it);
// with Valkey gone every caller of the batch gets its limit's failure policy.

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "opencode_cache/ratelimit/rate_limiter.hpp"
#include "opencode_cache/valkey/error.hpp"
#include "ratelimit/decision_batcher.hpp"
#include "ratelimit/limit_script.hpp"
#include "ratelimit/rate_limit_fixture.hpp"
#include "support/async_test.hpp"

namespace opencode_cache::testing {
namespace {

namespace asio = boost::asio;

class RateLimitBatch : public ValkeyTest {};

// What one caller asks for, and what it got.
struct Call {
  std::vector<LimitRef> limits;
  bool peek = false;
};

struct Outcome {
  std::optional<std::vector<Decision>> decisions;
  std::string server_error;
  bool cancelled = false;
  bool done = false;
};

awaitable<void> ask(RateLimiter& limiter, const Call& call, Outcome& out) {
  try {
    if (call.peek) {
      out.decisions = co_await limiter.peek_many(call.limits);
    } else {
      out.decisions = co_await limiter.check_many(call.limits);
    }
  } catch (const valkey::ServerError& e) {
    out.server_error = e.message();
  } catch (const valkey::Error& e) {
    out.cancelled = e.code() == valkey::errc::cancelled;
  }
  out.done = true;
}

// Every call issued in the same loop turn, each in its own coroutine.
void spawn_all(Executor ex, RateLimiter& limiter, const std::vector<Call>& calls,
               std::vector<Outcome>& outcomes,
               std::vector<asio::cancellation_signal>* signals = nullptr) {
  for (std::size_t i = 0; i < calls.size(); ++i) {
    asio::cancellation_slot slot = signals ? (*signals)[i].slot() : asio::cancellation_slot();
    asio::co_spawn(ex, ask(limiter, calls[i], outcomes[i]),
                   asio::bind_cancellation_slot(slot, asio::detached));
  }
}

bool all_done(const std::vector<Outcome>& outcomes) {
  for (const Outcome& outcome : outcomes)
    if (!outcome.done) return false;
  return true;
}

// "cmdstat_evalsha:calls=N,..." from INFO commandstats; 0 when never called.
int evalsha_calls(const ValkeyServer& server) {
  const std::string info = server.cli({"INFO", "commandstats"});
  std::smatch match;
  if (!std::regex_search(info, match, std::regex("cmdstat_evalsha:calls=(\\d+)"))) return 0;
  return std::stoi(match[1]);
}

void load_script(const ValkeyServer& server) {
  server.cli({"SCRIPT", "LOAD", std::string(RateLimiter::script().source())});
}

RateLimiterConfig patient(RateLimiterConfig config) {
  config.timeout = std::chrono::seconds(30);  // atomicity is the point, not latency
  return config;
}

// A user limit of 50 and a global GCRA limit of 70 on the test's clock, and who asks: 120
// callers on one user key, every other one with the global limit too, every tenth a peek.
RateLimiterConfig boundary_config(const ManualClock& clock) {
  auto config = patient(limits_config(
      {{"user", {.window = 60s, .max_requests = 50}},
       {"global", {.window = 3600s, .max_requests = 70, .algorithm = Algorithm::gcra}}}));
  config.server_clock_override = clock.function();
  return config;
}

std::vector<Call> boundary_calls() {
  std::vector<Call> calls;
  for (int i = 0; i < 120; ++i) {
    Call call;
    call.limits.push_back({"user", "crowd"});
    if (i % 2 == 1) call.limits.push_back({"global", "all"});
    call.peek = i % 10 == 9;
    calls.push_back(std::move(call));
  }
  return calls;
}

void expect_same_decisions(const std::vector<Outcome>& batched,
                           const std::vector<Outcome>& one_by_one) {
  ASSERT_EQ(batched.size(), one_by_one.size());
  for (std::size_t i = 0; i < batched.size(); ++i) {
    SCOPED_TRACE("caller " + std::to_string(i));
    EXPECT_EQ(batched[i].server_error, one_by_one[i].server_error);
    ASSERT_EQ(batched[i].decisions.has_value(), one_by_one[i].decisions.has_value());
    if (!batched[i].decisions) continue;
    const auto& ours = *batched[i].decisions;
    const auto& theirs = *one_by_one[i].decisions;
    ASSERT_EQ(ours.size(), theirs.size());
    for (std::size_t j = 0; j < ours.size(); ++j) {
      EXPECT_EQ(ours[j].allowed, theirs[j].allowed);
      EXPECT_EQ(ours[j].remaining, theirs[j].remaining);
      EXPECT_EQ(ours[j].reset_after, theirs[j].reset_after);
      EXPECT_EQ(ours[j].retry_after, theirs[j].retry_after);
      EXPECT_EQ(ours[j].decided_at, theirs[j].decided_at);
      EXPECT_EQ(ours[j].type, theirs[j].type);
      EXPECT_FALSE(ours[j].degraded);
    }
  }
}

// The same calls on a fresh server state, awaited one after the other.
std::vector<Outcome> one_by_one(ValkeyServer& valkey, const RateLimiterConfig& config,
                                const std::vector<Call>& calls) {
  valkey.cli({"FLUSHALL"});
  std::vector<Outcome> outcomes(calls.size());
  const auto client_config = client_config_for(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, config);
    for (std::size_t i = 0; i < calls.size(); ++i) co_await ask(limiter, calls[i], outcomes[i]);
  });
  return outcomes;
}

TEST_F(RateLimitBatch, ConcurrentCallersGetTheDecisionsTheyWouldGetOneByOne) {
  auto& valkey = server();
  load_script(valkey);
  const ManualClock clock;
  const auto config = boundary_config(clock);
  const auto calls = boundary_calls();
  std::vector<Outcome> batched(calls.size());
  const int calls_before = evalsha_calls(valkey);
  const auto client_config = client_config_for(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, config);
    spawn_all(ex, limiter, calls, batched);
    co_await wait_until([&] { return all_done(batched); });
  });
  EXPECT_EQ(evalsha_calls(valkey) - calls_before, 2) << "120 callers, 64 per script call";
  EXPECT_EQ(valkey.cli({"ZCARD", "opencode:ratelimit:user:crowd"}), "50")
      << "exactly the limit admitted";
  int admitted = 0;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    if (!calls[i].peek && batched[i].decisions && ratelimit::all_allowed(*batched[i].decisions))
      ++admitted;
  }
  EXPECT_EQ(admitted, 50);

  const int sequential_before = evalsha_calls(valkey);
  const auto sequential = one_by_one(valkey, config, calls);
  EXPECT_EQ(evalsha_calls(valkey) - sequential_before, 120);
  expect_same_decisions(batched, sequential);
}

// Several users, a provider limit that binds, peeks among the checks, and one key that holds
// the wrong type: that caller alone gets WRONGTYPE, the others their decisions.
TEST_F(RateLimitBatch, MixedKeysAndAWrongTypeKeyInOneBatch) {
  auto& valkey = server();
  load_script(valkey);
  const ManualClock clock;
  auto config = patient(limits_config({{"user", {.window = 60s, .max_requests = 2}},
                                       {"provider", {.window = 10s, .max_requests = 20}}}));
  config.server_clock_override = clock.function();
  std::vector<Call> calls;
  for (int i = 0; i < 40; ++i) {
    Call call;
    call.limits.push_back({"user", i == 17 ? std::string("bad") : "u" + std::to_string(i % 7)});
    call.limits.push_back({"provider", "p"});
    call.peek = i % 8 == 3;
    calls.push_back(std::move(call));
  }
  const auto prepare = [&] { valkey.cli({"SET", "opencode:ratelimit:user:bad", "a string"}); };
  prepare();
  std::vector<Outcome> batched(calls.size());
  const auto client_config = client_config_for(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, config);
    spawn_all(ex, limiter, calls, batched);
    co_await wait_until([&] { return all_done(batched); });
  });
  EXPECT_NE(batched[17].server_error.find("WRONGTYPE"), std::string::npos);
  EXPECT_EQ(valkey.cli({"ZCARD", "opencode:ratelimit:provider:p"}), "14")
      << "7 users x 2 admitted; the provider's 20 never bound, no refused request charged";

  valkey.cli({"FLUSHALL"});
  prepare();
  std::vector<Outcome> sequential(calls.size());
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, config);
    for (std::size_t i = 0; i < calls.size(); ++i) co_await ask(limiter, calls[i], sequential[i]);
  });
  expect_same_decisions(batched, sequential);
}

// Cancelled while still queued (before the loop turn's flush): no decision, no slot taken.
TEST_F(RateLimitBatch, CallerCancelledBeforeTheCallTakesNoSlot) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  const auto config = patient(one_limit_config("user", {.window = 60s, .max_requests = 5}));
  std::vector<Call> calls(10);
  for (Call& call : calls) call.limits.push_back({"user", "c"});
  std::vector<Outcome> outcomes(calls.size());
  std::vector<asio::cancellation_signal> signals(calls.size());
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    co_await client.connect();
    RateLimiter limiter(client, config);
    spawn_all(ex, limiter, calls, outcomes, &signals);
    // co_spawn runs each caller up to its first suspension: all are queued now, and the
    // flush they scheduled runs only once this coroutine suspends.
    signals[0].emit(asio::cancellation_type::terminal);
    signals[1].emit(asio::cancellation_type::terminal);
    co_await wait_until([&] { return all_done(outcomes); });
  });
  EXPECT_TRUE(outcomes[0].cancelled);
  EXPECT_TRUE(outcomes[1].cancelled);
  EXPECT_FALSE(outcomes[0].decisions);
  int allowed = 0;
  for (std::size_t i = 2; i < outcomes.size(); ++i) {
    ASSERT_TRUE(outcomes[i].decisions) << i;
    if (ratelimit::all_allowed(*outcomes[i].decisions)) ++allowed;
  }
  EXPECT_EQ(allowed, 5);
  EXPECT_EQ(outcomes[2].decisions->front().remaining, 4u) << "the first uncancelled is first";
  EXPECT_EQ(valkey.cli({"ZCARD", "opencode:ratelimit:user:c"}), "5");
}

// Cancelled while its batch is on the wire (the server paused): it returns at once, the
// others of the batch still wait and then get their decisions.
TEST_F(RateLimitBatch, CallerCancelledInFlightDoesNotHoldUpTheOthers) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  const auto config = patient(one_limit_config("user", {.window = 60s, .max_requests = 50}));
  std::vector<Call> calls(6);
  for (Call& call : calls) call.limits.push_back({"user", "f"});
  std::vector<Outcome> outcomes(calls.size());
  std::vector<asio::cancellation_signal> signals(calls.size());
  bool others_waited = false;
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, config);
    co_await limiter.check("user", "warm-up");  // connected, script loaded
    valkey.pause();
    const auto writes = client.stats().writes;
    spawn_all(ex, limiter, calls, outcomes, &signals);
    co_await wait_until([&] { return client.stats().writes > writes; });
    signals[2].emit(asio::cancellation_type::terminal);
    co_await wait_until([&] { return outcomes[2].done; }, 1000ms);
    others_waited = !outcomes[0].done && !outcomes[5].done;
    valkey.resume();
    co_await wait_until([&] { return all_done(outcomes); });
  });
  EXPECT_TRUE(outcomes[2].cancelled);
  EXPECT_TRUE(others_waited);
  for (std::size_t i : {0u, 1u, 3u, 4u, 5u}) {
    ASSERT_TRUE(outcomes[i].decisions) << i;
    EXPECT_TRUE(outcomes[i].decisions->front().allowed) << i;
    EXPECT_FALSE(outcomes[i].decisions->front().degraded) << i;
  }
  // The script ran for the whole batch: the cancelled caller's request, admitted by the
  // server, holds its slot (as any request whose caller went away after sending).
  EXPECT_EQ(valkey.cli({"ZCARD", "opencode:ratelimit:user:f"}), "6");
}

TEST_F(RateLimitBatch, WithValkeyGoneEachCallerOfTheBatchGetsItsPolicy) {
  auto& valkey = server();
  auto client_config = client_config_for(valkey);
  client_config.command_timeout = 300ms;
  client_config.connect_timeout = 100ms;
  const auto config = limits_config(
      {{"user", {.window = 60s, .max_requests = 3, .on_unavailable = FailurePolicy::fail_open}},
       {"provider",
        {.window = 60s, .max_requests = 3, .on_unavailable = FailurePolicy::fail_closed}}});
  std::vector<Call> calls(20);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    calls[i].limits.push_back({i % 2 == 0 ? "user" : "provider", "x"});
  }
  std::vector<Outcome> outcomes(calls.size());
  ratelimit::RateLimiterStats stats;
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, config);
    co_await limiter.check("user", "warm-up");
    valkey.kill();
    spawn_all(ex, limiter, calls, outcomes);
    co_await wait_until([&] { return all_done(outcomes); });
    stats = limiter.stats();
  });
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    ASSERT_TRUE(outcomes[i].decisions) << i;
    const Decision& decision = outcomes[i].decisions->front();
    EXPECT_TRUE(decision.degraded) << i;
    EXPECT_EQ(decision.allowed, i % 2 == 0) << "user fails open, provider closed";
  }
  EXPECT_EQ(stats.unavailable, 20u);
  EXPECT_EQ(stats.failed_open, 10u);
  EXPECT_EQ(stats.failed_closed, 10u);
}

// The batcher alone: a caller abandoned while queued is not sent; one abandoned after
// sending is not woken; the others are.
TEST(RateLimitBatcher, AbandonedCallersAreNeitherSentNorWoken) {
  const LimitConfig limit{.window = 60s, .max_requests = 5};
  ratelimit::DecisionBatcher batcher(64);
  std::vector<ratelimit::PendingDecision> pending(3);
  int woken = 0;
  bool first = true;
  for (std::size_t i = 0; i < pending.size(); ++i) {
    pending[i].limits.push_back({"user", "opencode:ratelimit:user:" + std::to_string(i), &limit});
    pending[i].wake = [&woken] { ++woken; };
    EXPECT_EQ(batcher.enqueue(pending[i]), first) << "one flush per loop turn";
    first = false;
  }
  batcher.abandon(pending[0]);
  ASSERT_TRUE(batcher.has_queued());
  auto batch = batcher.take(std::nullopt, "s");
  EXPECT_FALSE(batcher.has_queued());
  batcher.flushed();
  EXPECT_EQ(batch->size(), 2u);
  EXPECT_EQ(batch->call.keys.size(), 2u) << "the abandoned caller's key is not sent";
  batcher.abandon(pending[1]);
  EXPECT_EQ(batch->waiting(), 1u);
  batch->unreachable();
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(pending[2].state, ratelimit::PendingDecision::State::unreachable);
  EXPECT_EQ(pending[1].state, ratelimit::PendingDecision::State::sent);
}

valkey::resp::Value script_reply(const std::vector<std::int64_t>& numbers) {
  valkey::resp::Value reply{.type = valkey::resp::Type::array};
  for (const std::int64_t number : numbers) {
    reply.elements.push_back(
        valkey::resp::Value{.type = valkey::resp::Type::integer, .integer = number});
  }
  return reply;
}

// The script's call alone: an admitted consume reports the member it recorded ("<ms>:<call
// suffix>.<request>"), a refused one none; a release names that member after its indexes.
TEST(RateLimitScriptBatch, AReleaseNamesTheMemberAnAdmittedConsumeRecorded) {
  const LimitConfig sliding{.window = 60s, .max_requests = 5};
  const LimitConfig gcra{.window = 60s, .max_requests = 5, .algorithm = Algorithm::gcra};
  std::vector<ratelimit::ResolvedLimit> limits;
  limits.push_back({"user", "opencode:ratelimit:user:alice", &sliding});
  limits.push_back({"provider", "opencode:ratelimit-gcra:provider:openai", &gcra});

  ratelimit::ScriptBatch reserve;
  reserve.add(limits, ratelimit::ScriptMode::consume);
  reserve.add(limits, ratelimit::ScriptMode::consume);
  const auto call = reserve.finish(std::chrono::microseconds(1'700'000'000'123'456), "tag.7");
  EXPECT_EQ(call.args, strings("1700000000123456", "tag.7", "consume", "2", "1", "2", "consume",
                               "2", "1", "2", "sliding_log", "60000", "5", "gcra", "60000", "5"));
  // The first admitted by both limits, the second refused by the provider.
  const auto replies = reserve.parse(script_reply(
      {1'700'000'000'123'456, 1, 4, 60000, 0, 1, 4, 12000, 0, 1, 3, 60000, 0, 0, 0, 12000, 12000}));
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].member, "1700000000123:tag.7.1");
  EXPECT_EQ(replies[1].member, "");

  ratelimit::ScriptBatch release;
  release.add(limits, ratelimit::ScriptMode::release, replies[0].member);
  const auto undo = release.finish(std::nullopt, "tag.8");
  EXPECT_EQ(undo.args, strings("", "tag.8", "release", "2", "1", "2", "1700000000123:tag.7.1",
                               "sliding_log", "60000", "5", "gcra", "60000", "5"));
  const auto released =
      release.parse(script_reply({1'700'000'000'200'000, 1, 5, 0, 0, 1, 5, 0, 0}));
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].member, "") << "a release records nothing";
  EXPECT_EQ(released[0].outcomes[0].remaining, 5u);
}

// One script call of `mode` for `limits` at `now_ms` (and `released` for a release).
struct ScriptRun {
  ratelimit::ScriptBatch batch;
  ratelimit::ScriptCall call;
};

std::unique_ptr<ScriptRun> script_run(const std::vector<ratelimit::ResolvedLimit>& limits,
                                      ratelimit::ScriptMode mode, std::int64_t now_ms,
                                      const std::string& released, const std::string& suffix) {
  auto run = std::make_unique<ScriptRun>();
  run->batch.add(limits, mode, released);
  run->call = run->batch.finish(std::chrono::milliseconds(now_ms), suffix);
  return run;
}

awaitable<ratelimit::ScriptReply> run_script(valkey::Client& client, const ScriptRun& run) {
  const valkey::resp::Value reply =
      co_await client.eval(ratelimit::rate_limit_script(), run.call.keys, run.call.args);
  co_return std::move(run.batch.parse(reply).front());
}

// The script's release on a real server: the sliding log loses exactly the member it names
// (nothing when it is gone), GCRA one interval of debt, down to no key at all.
TEST_F(RateLimitBatch, AReleaseUndoesTheRequestItNames) {
  auto& valkey = server();
  const LimitConfig sliding{.window = 60s, .max_requests = 5};
  const LimitConfig gcra{.window = 60s, .max_requests = 5, .algorithm = Algorithm::gcra};
  std::vector<ratelimit::ResolvedLimit> limits;
  limits.push_back({"user", "opencode:ratelimit:user:alice", &sliding});
  limits.push_back({"provider", "opencode:ratelimit-gcra:provider:openai", &gcra});
  const std::int64_t t0 = 1'700'000'000'000;
  using ratelimit::ScriptMode;
  const auto first = script_run(limits, ScriptMode::consume, t0, "", "a");
  const auto second = script_run(limits, ScriptMode::consume, t0 + 1, "", "b");
  std::string first_member;
  std::string second_member;
  std::vector<std::uint64_t> remaining;
  const auto client_config = client_config_for(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    first_member = (co_await run_script(client, *first)).member;
    second_member = (co_await run_script(client, *second)).member;
    const auto undo_first = script_run(limits, ScriptMode::release, t0 + 2, first_member, "c");
    const auto released = co_await run_script(client, *undo_first);
    for (const auto& outcome : released.outcomes) remaining.push_back(outcome.remaining);
    // The oldest entry left is the second request's: the next slot frees with it.
    EXPECT_EQ(released.outcomes[0].reset_after, 60'000ms - 1ms);
    // Released again: the member is gone; GCRA gives back its second request too.
    const auto again = co_await run_script(client, *undo_first);
    for (const auto& outcome : again.outcomes) remaining.push_back(outcome.remaining);
    const auto undo_second = script_run(limits, ScriptMode::release, t0 + 3, second_member, "d");
    const auto none = co_await run_script(client, *undo_second);
    for (const auto& outcome : none.outcomes) remaining.push_back(outcome.remaining);
  });
  EXPECT_EQ(first_member, "1700000000000:a.1");
  EXPECT_EQ(second_member, "1700000000001:b.1");
  const std::vector<std::uint64_t> expected{4, 4, 4, 5, 5, 5};
  EXPECT_EQ(remaining, expected);
  EXPECT_EQ(valkey.cli({"EXISTS", "opencode:ratelimit:user:alice"}), "0");
  EXPECT_EQ(valkey.cli({"EXISTS", "opencode:ratelimit-gcra:provider:openai"}), "0");
}

}  // namespace
}  // namespace opencode_cache::testing

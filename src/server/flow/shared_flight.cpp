#include "server/flow/shared_flight.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <limits>
#include <random>

#include "opencode_cache/valkey/pipeline.hpp"

namespace opencode_cache::server::flow {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using Verdict = FlightFollower::Verdict;
namespace resp = valkey::resp;

namespace {

constexpr std::size_t read_batch = 256;

std::string random_token() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char digits[] = "0123456789abcdef";
  std::string token(16, '0');
  std::uint64_t bits = generator();
  for (char& c : token) {
    c = digits[bits & 0xf];
    bits >>= 4;
  }
  return token;
}

struct StreamEntry {
  std::string id;
  std::vector<std::string> fields;
};

// XREAD's reply for one stream: a RESP3 map {key: entries} or a RESP2 array [[key, entries]];
// null when nothing came.
std::vector<StreamEntry> stream_entries(const resp::Value& reply) {
  std::vector<StreamEntry> out;
  const resp::Value* entries = nullptr;
  if (reply.type == resp::Type::map && reply.elements.size() >= 2) {
    entries = &reply.elements[1];
  } else if (reply.type == resp::Type::array && !reply.elements.empty() &&
             reply.elements[0].elements.size() >= 2) {
    entries = &reply.elements[0].elements[1];
  }
  if (entries == nullptr) return out;
  for (const resp::Value& entry : entries->elements) {
    if (entry.elements.size() < 2) continue;
    StreamEntry parsed;
    parsed.id = entry.elements[0].string;
    for (const resp::Value& field : entry.elements[1].elements)
      parsed.fields.push_back(field.string);
    out.push_back(std::move(parsed));
  }
  return out;
}

valkey::Command xadd(const std::string& stream, std::size_t max_entries, const FlightEntry& entry) {
  valkey::Command command("XADD", stream, "MAXLEN", max_entries, "*");
  command.args(entry_fields(entry));
  return command;
}

FlightOutcome outcome_of(const Flight& flight) {
  FlightOutcome outcome;
  if (flight.done) return outcome;
  outcome.end = flight.abandoned ? FlightEnd::abandoned : FlightEnd::failed;
  outcome.status = flight.failure_status;
  outcome.message = flight.failure_message;
  return outcome;
}

// What a follower's step does to its local flight.
void apply(Flight& flight, FlightFollower::Step& step) {
  if (step.head) {
    flight.status = step.head->status;
    flight.headers = std::move(step.head->headers);
    flight.head_ready = true;
  }
  flight.body += step.bytes;
  if (step.outcome) {
    if (step.outcome->end == FlightEnd::done) {
      flight.done = true;
    } else {
      flight.failed = true;
      flight.failure_status = step.outcome->status;
      flight.failure_message = step.outcome->message;
    }
  }
  if (step.verdict == Verdict::abort) {
    flight.failed = true;
    flight.failure_status = 502;
    flight.failure_message = "the gateway process streaming this answer stopped";
  }
  flight.notify();
}

void call(const std::function<void()>& event) {
  if (event) event();
}

}  // namespace

// Not an aggregate: g++ 12 destroys aggregate temporaries twice in a co_await expression.
struct SharedFlights::Leading {
  explicit Leading(asio::any_io_executor executor)
      : renewal(executor), signal(executor, Clock::time_point::max()) {}
  asio::steady_timer renewal;
  asio::steady_timer signal;
  bool ended = false;
  bool recorded = false;
};

SharedFlights::SharedFlights(valkey::Client& client, valkey::ClientConfig reader,
                             std::string prefix, SharedFlightConfig config,
                             SharedFlightEvents events)
    : client_(client),
      reader_(std::move(reader)),
      prefix_(std::move(prefix)),
      config_(config),
      events_(std::move(events)),
      renew_script_(
          "if redis.call('get', KEYS[1]) == ARGV[1] then "
          "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"),
      release_script_(
          "if redis.call('get', KEYS[1]) == ARGV[1] then "
          "return redis.call('del', KEYS[1]) else return 0 end") {
  reader_.dedicated = true;
  reader_.lazy_connect = true;
  reader_.client_name = "opencode-cache-follower";
}

std::string SharedFlights::lease_key(std::string_view flight_key) const {
  std::string key = prefix_;
  key += ":flight:";
  key += flight_key;
  return key;
}

std::string SharedFlights::stream_key(std::string_view lease_key, std::string_view token) {
  std::string key(lease_key);
  key += ':';
  key += token;
  return key;
}

std::chrono::milliseconds SharedFlights::block_time() const {
  return std::clamp(config_.lease / 2, std::chrono::milliseconds(10),
                    std::chrono::milliseconds(1000));
}

upstream::Task<SharedFlights::Claim> SharedFlights::claim(const std::string& lease_key,
                                                          const std::string& token) {
  Claim claim;
  claim.token = token;
  valkey::Pipeline pipeline;
  pipeline.add("SET", lease_key, token, "NX", "PX", config_.lease.count());
  pipeline.add("GET", lease_key);
  valkey::RequestOptions options;
  options.wait_for_connection = false;
  try {
    const auto replies = co_await client_.execute(pipeline, options);
    if (replies.size() != 2 || replies[0].is_error() || replies[1].is_error()) {
      claim.reachable = false;
      co_return claim;
    }
    claim.won = !replies[0].is_null();
    if (replies[1].is_string()) claim.holder = replies[1].string;
  } catch (const valkey::Error&) {
    claim.reachable = false;
  }
  co_return claim;
}

upstream::Task<SharedFlights::Claim> SharedFlights::claim_ahead(const std::string& flight_key) {
  if (!config_.enabled) {
    Claim none;
    none.reachable = false;
    co_return none;
  }
  co_return co_await claim(lease_key(flight_key), random_token());
}

void SharedFlights::release(const std::string& flight_key, const Claim& claim) {
  if (!claim.won) return;
  asio::co_spawn(client_.get_executor(), release_lease(lease_key(flight_key), claim.token),
                 asio::detached);
}

upstream::Task<void> SharedFlights::release_lease(std::string lease_key, std::string token) {
  try {
    std::vector<std::string> keys(1, std::move(lease_key));
    std::vector<std::string> args(1, std::move(token));
    co_await client_.eval(release_script_, keys, args);
  } catch (const valkey::Error&) {
    // It expires on its own.
  }
}

upstream::Task<void> SharedFlights::run(std::shared_ptr<Flight> flight, std::string flight_key,
                                        Lead lead, std::optional<Claim> ahead) {
  if (!config_.enabled) {
    co_await lead();
    co_return;
  }
  const std::string lease = lease_key(flight_key);
  const auto give_up_at = Clock::now() + config_.follow_timeout;
  std::optional<FlightFollower> follower;
  // A few rounds: each ends with a leader found, followed to an end, or a lease taken.
  int own_waits = 0;
  for (int round = 0; round < 8;) {
    Claim claimed;
    if (ahead && ahead->won) {
      claimed = std::move(*ahead);
      ahead.reset();
    } else {
      // A claim ahead that lost is stale by now: its holder may be a leader of this thread
      // that has finished and released since, whose answer ended before this request came
      // (following it would replay that answer, or its failure). Asked again.
      ahead.reset();
      claimed = co_await claim(lease, random_token());
    }
    const std::string& token = claimed.token;
    if (!claimed.reachable) break;
    if (claimed.won) {
      if (follower) call(events_.took_over);
      co_await lead_recorded(flight, lease, token, lead);
      co_return;
    }
    if (claimed.holder && leading_.contains(*claimed.holder) && ++own_waits < 500) {
      asio::steady_timer pause(client_.get_executor(), std::chrono::milliseconds(2));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    ++round;
    if (!claimed.holder) continue;  // expired between SET and GET
    if (follower && claimed.holder == follower->token()) {
      // A leader that gave up (its clients left) has not released its lease yet.
      asio::steady_timer pause(client_.get_executor(), block_time());
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (!follower) {
      follower.emplace(*claimed.holder, give_up_at);
      call(events_.followed);
    } else if (follower->on_quiet(claimed.holder, Clock::now()).verdict == Verdict::go_upstream) {
      break;
    }
    const Verdict verdict = co_await follow(*flight, lease, *follower);
    if (verdict == Verdict::take_over) continue;
    if (verdict == Verdict::go_upstream) break;
    if (verdict == Verdict::abort) call(events_.aborted);
    co_return;
  }
  if (follower) call(events_.fell_back);
  co_await lead();
}

upstream::Task<void> SharedFlights::lead_recorded(std::shared_ptr<Flight> flight,
                                                  std::string lease_key, std::string token,
                                                  const Lead& lead) {
  leading_.insert(token);
  struct Forget {
    std::set<std::string, std::less<>>& tokens;
    const std::string& token;
    ~Forget() { tokens.erase(token); }
  } forget{leading_, token};
  auto leading = std::make_shared<Leading>(client_.get_executor());
  asio::co_spawn(client_.get_executor(), renew(lease_key, token, leading), asio::detached);
  asio::co_spawn(client_.get_executor(), record(flight, stream_key(lease_key, token), leading),
                 asio::detached);
  std::exception_ptr failure;
  try {
    co_await lead();
  } catch (...) {
    failure = std::current_exception();
  }
  if (!flight->done && !flight->failed) {
    // `lead` gave up before the answer ended: its clients and followers must learn of it.
    flight->failed = true;
    flight->failure_message = "the answer could not be read";
    flight->notify();
  }
  // The flight has ended: the recording writes its end entry and stops.
  while (!leading->recorded) {
    co_await leading->signal.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  leading->ended = true;
  leading->renewal.cancel();
  // Released only now that the entry is stored: a request that finds no lease finds the entry.
  co_await release_lease(lease_key, token);
  if (failure) std::rethrow_exception(failure);
}

upstream::Task<void> SharedFlights::renew(std::string lease_key, std::string token,
                                          std::shared_ptr<Leading> leading) {
  while (!leading->ended) {
    leading->renewal.expires_after(config_.lease / 3);
    co_await leading->renewal.async_wait(asio::as_tuple(asio::use_awaitable));
    if (leading->ended) co_return;
    try {
      std::vector<std::string> keys(1, lease_key);
      std::vector<std::string> args;
      args.push_back(token);
      args.push_back(std::to_string(config_.lease.count()));
      const auto renewed = co_await client_.eval(renew_script_, keys, args);
      // Lost (expired while Valkey was out of reach, and taken): the new holder leads.
      if (renewed.integer == 0) co_return;
    } catch (const valkey::Error&) {
      // Valkey out of reach: try again at the next tick, the lease may still hold.
    }
  }
}

upstream::Task<void> SharedFlights::record(std::shared_ptr<Flight> flight, std::string stream,
                                           std::shared_ptr<Leading> leading) {
  std::uint64_t seq = 0;
  std::size_t sent = 0;
  bool head_sent = false;
  bool last = false;
  const auto entry = [&](FlightEntry::Kind kind, std::string value) {
    FlightEntry out;
    out.seq = seq++;
    out.kind = kind;
    out.value = std::move(value);
    return xadd(stream, config_.max_entries, out);
  };
  try {
    while (!last) {
      valkey::Pipeline pipeline;
      if (!head_sent && flight->head_ready) {
        FlightHead head;
        head.status = flight->status;
        head.headers = flight->headers;
        pipeline.add(entry(FlightEntry::Kind::head, encode_head(head)));
        head_sent = true;
      }
      if (head_sent && flight->body.size() > sent) {
        if (flight->body.size() > config_.max_bytes) {
          FlightOutcome overflow;
          overflow.end = FlightEnd::overflow;
          pipeline.add(entry(FlightEntry::Kind::end, encode_outcome(overflow)));
          last = true;
        } else {
          pipeline.add(entry(FlightEntry::Kind::data, flight->body.substr(sent)));
          sent = flight->body.size();
        }
      }
      if (!last && (flight->done || flight->failed) && sent == flight->body.size()) {
        pipeline.add(entry(FlightEntry::Kind::end, encode_outcome(outcome_of(*flight))));
        last = true;
      }
      if (pipeline.empty()) {
        co_await flight->changed();
        // Behind the flight's own clients, woken by the same change: their bytes go out
        // before the recording's.
        co_await asio::post(client_.get_executor(), asio::use_awaitable);
        continue;
      }
      pipeline.add("PEXPIRE", stream, config_.stream_ttl.count());
      const auto replies = co_await client_.execute(pipeline);
      for (const auto& reply : replies) last = last || reply.is_error();
    }
  } catch (const valkey::Error&) {
    // Followers see no more entries; the lease stays with the renewal until the flight ends.
  }
  leading->recorded = true;
  leading->signal.cancel();
}

// Not an aggregate: g++ 12 destroys aggregate temporaries twice in a co_await expression.
struct SharedFlights::Read {
  Read() = default;
  std::vector<StreamEntry> entries;
  bool quiet = false;                 // nothing new: `holder` says who holds the lease now
  std::optional<std::string> holder;  // when quiet
};

upstream::Task<SharedFlights::Read> SharedFlights::read(valkey::Client& reader,
                                                        const std::string& lease_key,
                                                        const std::string& stream,
                                                        const std::string& last_id) {
  Read out;
  const auto block = block_time();
  valkey::RequestOptions options;
  options.timeout = block + std::chrono::milliseconds(2000);
  const auto reply =
      co_await reader.command(valkey::Command("XREAD", "COUNT", read_batch, "BLOCK", block.count(),
                                              "STREAMS", stream, last_id),
                              options);
  out.entries = stream_entries(reply);
  if (!out.entries.empty()) co_return out;
  // The lease first, then the stream: a leader releases its lease only after its end entry,
  // so a lease found gone means the end, if any, is in this read.
  valkey::Pipeline pipeline;
  pipeline.add("GET", lease_key);
  pipeline.add("XREAD", "COUNT", read_batch, "STREAMS", stream, last_id);
  const auto replies = co_await client_.execute(pipeline);
  if (replies.size() != 2 || replies[0].is_error() || replies[1].is_error()) {
    throw valkey::Error(valkey::errc::unexpected_reply, "GET and XREAD of a flight");
  }
  if (replies[0].is_string()) out.holder = replies[0].string;
  out.entries = stream_entries(replies[1]);
  out.quiet = out.entries.empty();
  co_return out;
}

upstream::Task<Verdict> SharedFlights::follow(Flight& flight, const std::string& lease_key,
                                              FlightFollower& follower) {
  valkey::Client reader(client_.get_executor(), reader_);
  struct Close {
    valkey::Client& client;
    ~Close() { client.close(); }
  } close{reader};
  std::string last_id = "0";
  for (;;) {
    // Nobody to answer any more: stop reading, and let no one join this flight.
    if (flight.attached == 0) {
      flight.abandoned = true;
      flight.failed = true;
      flight.notify();
      co_return Verdict::finished;
    }
    Read got;
    bool broken = false;
    try {
      got = co_await read(reader, lease_key, stream_key(lease_key, follower.token()), last_id);
    } catch (const valkey::Error&) {
      broken = true;
    }
    FlightFollower::Step step;
    if (broken) {
      step.verdict = follower.published() ? Verdict::abort : Verdict::go_upstream;
      if (step.verdict == Verdict::abort) apply(flight, step);
      co_return step.verdict;
    }
    for (const StreamEntry& stored : got.entries) {
      last_id = stored.id;
      auto parsed = entry_from_fields(stored.fields);
      FlightEntry gap;
      gap.seq = std::numeric_limits<std::uint64_t>::max();  // not ours: as if one were missing
      step = follower.on_entry(parsed ? *parsed : gap);
      if (step.verdict == Verdict::go_upstream || step.verdict == Verdict::take_over) {
        co_return step.verdict;
      }
      apply(flight, step);
      if (step.verdict != Verdict::follow) co_return step.verdict;
    }
    if (!got.quiet) continue;
    step = follower.on_quiet(got.holder, Clock::now());
    if (step.verdict == Verdict::restart) {
      last_id = "0";
    } else if (step.verdict == Verdict::abort) {
      apply(flight, step);
      co_return step.verdict;
    } else if (step.verdict != Verdict::follow) {
      co_return step.verdict;
    }
  }
}

}  // namespace opencode_cache::server::flow

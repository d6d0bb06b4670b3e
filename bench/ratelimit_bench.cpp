// The rate limiter against a private valkey-server, beside two references on the same server
// in the same run: the seed's TypeScript peer (--seed-peer=DIR, prepared by scripts/seed-peer;
// its ratelimit_check_throughput), and valkey-benchmark running the very same Lua script for
// one decision per call (EVALSHA, the arguments of a lone check): what the server can do with
// one call per decision, which our batches (one call per loop turn) exceed.
//
// ratelimit_p50_us, ratelimit_p99_us: one coroutine awaiting one check() at a time, beside
//   valkey-benchmark -c 1 EVALSHA <script> (one connection, one request at a time).
// ratelimit_ops: 64 coroutines sharing one Client and RateLimiter, check("user", <one of 100k
//   ids>) with the seed's user limit (sliding log, 60 per minute): every decision admits and
//   writes, the costlier path. Beside the seed peer; as ratelimit_ops_vs_evalsha beside
//   valkey-benchmark -c 4 -P 16 (also 64 in flight).
// ratelimit_many_ops: the same with check_many of user + provider (sliding log, one of 1000
//   ids) + global (GCRA, one hot key), limits high enough that every request is admitted.
// ratelimit_gcra_ops: check("global", "all"), one hot GCRA key, admitting.
//
// The seed's TypeScript does a MULTI of ZREMRANGEBYSCORE, ZADD, ZCARD, EXPIRE on ioredis per
// decision. Before every run the server is flushed, so that every run starts from empty sets. Runs alternate ours and the reference, and medians are reported.
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench_report.hpp"
#include "opencode_cache/ratelimit/rate_limiter.hpp"
#include "opencode_cache/valkey/client.hpp"
#include "opencode_cache/valkey/script.hpp"
#include "seed_peer.hpp"
#include "valkey_benchmark.hpp"
#include "valkey_process.hpp"

namespace {

namespace asio = boost::asio;
namespace bench = opencode_cache::bench;
namespace ratelimit = opencode_cache::ratelimit;
namespace valkey = opencode_cache::valkey;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int runs = 5;  // --runs=N
constexpr int users = 100'000;
constexpr int providers = 1000;

constexpr int latency_warmup = 2000;
constexpr int latency_samples = 20000;
constexpr int reference_latency_requests = 20000;

constexpr int concurrency = 64;
constexpr int throughput_warmup = 10000;
constexpr int throughput_ops = 128000;
constexpr int reference_throughput_requests = 256000;

bool verbose = false;

void trace_run(std::string_view what, double ours, double reference) {
  if (verbose)
    std::cerr << "  run " << what << ": ours " << ours << " reference " << reference << '\n';
}

using bench::run;

// ---- the workloads --------------------------------------------------------------------------

enum class Workload { user, many, gcra };

ratelimit::RateLimiterConfig bench_config() {
  ratelimit::RateLimiterConfig config;  // user: the seed's 60 per minute
  // Every decision from Valkey, however loaded the machine (the default 100 ms would let
  // slow decisions fail open, and the bench refuses those).
  config.timeout = 10s;
  config.limits["provider"] = {.window = 60s, .max_requests = 1'000'000};
  config.limits["global"] = {
      .window = 1s, .max_requests = 1'000'000, .algorithm = ratelimit::Algorithm::gcra};
  return config;
}

// The ids one worker asks about, drawn from its own generator.
class Ids {
 public:
  explicit Ids(unsigned seed) : random_(seed) {}
  std::string user() { return id('u', users); }
  std::string provider() { return id('p', providers); }

 private:
  // Appended rather than "u" + std::to_string(...), which g++ 12 -O3 flags with a false
  // -Wrestrict.
  std::string id(char kind, int range) {
    std::string out(1, kind);
    out += std::to_string(random_() % static_cast<unsigned>(range));
    return out;
  }

  std::minstd_rand random_;
};

std::vector<ratelimit::LimitRef> request_limits(Ids& ids) {
  std::vector<ratelimit::LimitRef> limits;
  limits.push_back({"user", ids.user()});
  limits.push_back({"provider", ids.provider()});
  limits.push_back({"global", "all"});
  return limits;
}

// One decision; throws unless admitted, so that a run measures the path it claims to.
asio::awaitable<void> decide(ratelimit::RateLimiter& limiter, Workload workload, Ids& ids) {
  std::vector<ratelimit::Decision> decisions;
  switch (workload) {
    case Workload::user: decisions.push_back(co_await limiter.check("user", ids.user())); break;
    case Workload::many: decisions = co_await limiter.check_many(request_limits(ids)); break;
    case Workload::gcra: decisions.push_back(co_await limiter.check("global", "all")); break;
  }
  if (!ratelimit::all_allowed(decisions)) throw std::runtime_error("a decision was refused");
  // A decision taken without Valkey (fail_open after a timeout) would flatter the figures.
  for (const auto& decision : decisions) {
    if (decision.degraded) throw std::runtime_error("a decision was taken without Valkey");
  }
}

asio::awaitable<std::vector<double>> latencies_us(ratelimit::RateLimiter& limiter, int count) {
  Ids ids(1);
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    const auto start = Clock::now();
    co_await decide(limiter, Workload::user, ids);
    const std::chrono::duration<double, std::micro> elapsed = Clock::now() - start;
    samples.push_back(elapsed.count());
  }
  co_return samples;
}

asio::awaitable<void> worker(ratelimit::RateLimiter& limiter, Workload workload, unsigned seed,
                             int count) {
  Ids ids(seed);
  for (int i = 0; i < count; ++i) co_await decide(limiter, workload, ids);
}

// `total` decisions from `concurrency` coroutines on the one limiter, in decisions per second.
asio::awaitable<double> decisions_per_second(ratelimit::RateLimiter& limiter, Workload workload,
                                             int total) {
  const auto executor = co_await asio::this_coro::executor;
  asio::steady_timer all_done(executor, asio::steady_timer::time_point::max());
  int running = concurrency;
  std::exception_ptr failure;
  const auto start = Clock::now();
  for (unsigned i = 0; i < concurrency; ++i) {
    asio::co_spawn(executor, worker(limiter, workload, i + 1, total / concurrency),
                   [&](std::exception_ptr e) {
                     if (e && !failure) failure = e;
                     if (--running == 0) all_done.cancel();
                   });
  }
  co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
  const std::chrono::duration<double> elapsed = Clock::now() - start;
  if (failure) std::rethrow_exception(failure);
  co_return (total / concurrency) * concurrency / elapsed.count();
}

asio::awaitable<bool> flush(valkey::Client& client) {
  co_await client.command(valkey::Command("FLUSHALL", "SYNC"));
  co_return true;
}

// ---- valkey-benchmark -----------------------------------------------------------------------

using bench::parse_valkey_benchmark_csv;
using bench::ReferenceRow;

// The script call a lone check() or check_many() makes (a batch of one request; see the
// header of src/ratelimit/lua/rate_limit.lua): "" asks for the server's TIME, __rand_int__
// (with -r) stands for the random ids and the members' unique suffix, then the request
// (consume, its number of limits, their key indexes) and each key's limit.
std::vector<std::string> script_command(Workload workload) {
  const std::string& sha = ratelimit::RateLimiter::script().sha1();
  const std::string suffix = "bench.__rand_int__";
  switch (workload) {
    case Workload::user:
      return {"EVALSHA", sha,           "1",       "opencode:ratelimit:user:u__rand_int__",
              "",        suffix,        "consume", "1",
              "1",       "sliding_log", "60000",   "60"};
    case Workload::many:
      return {"EVALSHA",
              sha,
              "3",
              "opencode:ratelimit:user:u__rand_int__",
              "opencode:ratelimit:provider:p__rand_int__",
              "opencode:ratelimit-gcra:global:all",
              "",
              suffix,
              "consume",
              "3",
              "1",
              "2",
              "3",
              "sliding_log",
              "60000",
              "60",
              "sliding_log",
              "60000",
              "1000000",
              "gcra",
              "1000",
              "1000000"};
    case Workload::gcra:
      return {"EVALSHA", sha,    "1",       "opencode:ratelimit-gcra:global:all",
              "",        suffix, "consume", "1",
              "1",       "gcra", "1000",    "1000000"};
  }
  return {};
}

class ValkeyBenchmark {
 public:
  explicit ValkeyBenchmark(const bench::ValkeyProcess& server)
      : base_{"valkey-benchmark", "-h", server.host(), "-p", std::to_string(server.port())} {}

  ReferenceRow run(const std::vector<std::string>& flags, Workload workload) const {
    std::vector<std::string> argv = base_;
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.emplace_back("--csv");
    const auto command = script_command(workload);
    argv.insert(argv.end(), command.begin(), command.end());
    return parse_valkey_benchmark_csv(bench::spawn_and_capture(argv));
  }

 private:
  std::vector<std::string> base_;
};

// The user ids span 100k as ours do. valkey-benchmark has one -r for every __rand_int__, so
// its provider ids span 100k too instead of our 1000 (smaller sets per key for the reference).
const std::vector<std::string> latency_flags = {
    "-c", "1", "-n", std::to_string(reference_latency_requests), "-r", std::to_string(users)};
const std::vector<std::string> throughput_flags = {
    "-c", "4",
    "-P", "16",
    "-n", std::to_string(reference_throughput_requests),
    "-r", std::to_string(users)};

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& word : words) out += (out.empty() ? "" : " ") + word;
  return out;
}

// ---- the measurements -----------------------------------------------------------------------

struct Medians {
  double ours = 0;
  double reference = 0;
};

struct Session {
  asio::io_context& io;
  valkey::Client& client;
  ratelimit::RateLimiter& limiter;
  const ValkeyBenchmark& reference;
};

std::pair<Medians, Medians> sequential_latency(Session& s) {
  run(s.io, flush(s.client));
  run(s.io, latencies_us(s.limiter, latency_warmup));
  std::vector<double> p50, p99, ref_p50, ref_p99;
  for (int i = 0; i < runs; ++i) {
    run(s.io, flush(s.client));
    const std::vector<double> samples = run(s.io, latencies_us(s.limiter, latency_samples));
    p50.push_back(bench::percentile(samples, 50));
    p99.push_back(bench::percentile(samples, 99));
    run(s.io, flush(s.client));
    const ReferenceRow row = s.reference.run(latency_flags, Workload::user);
    ref_p50.push_back(row.p50_us);
    ref_p99.push_back(row.p99_us);
    trace_run("check p50 us", p50.back(), ref_p50.back());
    trace_run("check p99 us", p99.back(), ref_p99.back());
  }
  return {{bench::median(p50), bench::median(ref_p50)},
          {bench::median(p99), bench::median(ref_p99)}};
}

Medians throughput(Session& s, Workload workload, std::string_view name) {
  run(s.io, flush(s.client));
  run(s.io, decisions_per_second(s.limiter, workload, throughput_warmup));
  std::vector<double> ours, theirs;
  for (int i = 0; i < runs; ++i) {
    run(s.io, flush(s.client));
    ours.push_back(run(s.io, decisions_per_second(s.limiter, workload, throughput_ops)));
    run(s.io, flush(s.client));
    theirs.push_back(s.reference.run(throughput_flags, workload).rps);
    trace_run(std::string(name) + " decisions/s", ours.back(), theirs.back());
  }
  return {bench::median(ours), bench::median(theirs)};
}

// ---- the seed's TypeScript peer --------------------------------------------------------

constexpr int peer_runs = 3;
constexpr int peer_seconds = 3;
constexpr std::string_view peer_figure = "ratelimit_check_throughput";

// The median of the peer's decisions/s over its runs on our server, flushed before each;
// nullopt (and why, on stderr) when it cannot run.
std::optional<double> seed_peer_decisions(Session& s, const bench::SeedPeer& peer,
                                          std::uint16_t port) {
  if (!peer.available()) {
    std::cerr << "ratelimit_bench: the seed peer did not run: " << peer.unavailable_reason()
              << "\n  (ratelimit_ops is printed without it)\n";
    return std::nullopt;
  }
  std::vector<double> runs_seen;
  try {
    for (int i = 0; i < peer_runs; ++i) {
      run(s.io, flush(s.client));
      const auto figures = peer.run(port, peer_seconds);
      const auto found = figures.find(std::string(peer_figure));
      if (found == figures.end()) throw std::runtime_error("no " + std::string(peer_figure));
      runs_seen.push_back(found->second);
      trace_run("seed peer decisions/s", found->second, 0);
    }
  } catch (const std::exception& e) {
    std::cerr << "ratelimit_bench: the seed peer failed: " << e.what() << '\n';
    return std::nullopt;
  }
  return bench::median(runs_seen);
}

void print_notes(const valkey::ClientStats& stats) {
  std::cerr << "ratelimit_bench: medians of " << runs << " runs, the server flushed before each"
            << "\n  latency reference: valkey-benchmark " << joined(latency_flags)
            << " EVALSHA <rate_limit.lua> (the user check's arguments)"
            << "\n  throughput reference: valkey-benchmark " << joined(throughput_flags)
            << " EVALSHA <rate_limit.lua> (the same arguments as ours)"
            << "\n  ours: " << latency_samples << " sequential checks per run; " << throughput_ops
            << " decisions per run from " << concurrency << " coroutines on one Client"
            << "\n  our pipelining: " << stats.writes << " socket writes in all"
            << "\n  seed peer: shared/peers/seed-ts bench.ts (" << peer_figure << ", 64 callers on"
            << " one ioredis connection, u0..u999 at 60/min), BENCH_SECONDS=" << peer_seconds
            << ", median of " << peer_runs << " runs on this server; target ours >= 5x\n";
}

}  // namespace

int main(int argc, char** argv) {
  try {
    bench::Report report(bench::has_flag(argc, argv, "--json"));
    verbose = bench::has_flag(argc, argv, "--verbose");
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      if (arg.starts_with("--runs=")) runs = std::max(1, std::stoi(std::string(arg.substr(7))));
    }
    const bench::SeedPeer peer = bench::SeedPeer::from_args(argc, argv);
    const bench::ValkeyProcess server;
    const ValkeyBenchmark reference(server);
    asio::io_context io(1);
    valkey::ClientConfig client_config;
    client_config.host = server.host();
    client_config.port = server.port();
    // A loaded machine must not open the breaker on a slow FLUSHALL.
    client_config.command_timeout = 10s;
    valkey::Client client(io.get_executor(), client_config);
    ratelimit::RateLimiter limiter(client, bench_config());
    Session session{io, client, limiter, reference};

    const auto [p50, p99] = sequential_latency(session);
    report.add("ratelimit_p50_us", p50.ours, "us", "valkey_benchmark_c1_evalsha_p50_us",
               p50.reference);
    report.add("ratelimit_p99_us", p99.ours, "us", "valkey_benchmark_c1_evalsha_p99_us",
               p99.reference);
    const Medians user = throughput(session, Workload::user, "check");
    const std::optional<double> seed = seed_peer_decisions(session, peer, server.port());
    if (seed) {
      report.add("ratelimit_ops", user.ours, "decisions/s", "seed_ts_" + std::string(peer_figure),
                 *seed);
    } else {
      report.add("ratelimit_ops", user.ours, "decisions/s");
    }
    report.add("ratelimit_ops_vs_evalsha", user.ours, "decisions/s",
               "valkey_benchmark_P16_c4_evalsha_ops", user.reference);
    const Medians many = throughput(session, Workload::many, "check_many");
    report.add("ratelimit_many_ops", many.ours, "decisions/s",
               "valkey_benchmark_P16_c4_evalsha_3keys_ops", many.reference);
    const Medians gcra = throughput(session, Workload::gcra, "gcra");
    report.add("ratelimit_gcra_ops", gcra.ours, "decisions/s",
               "valkey_benchmark_P16_c4_evalsha_gcra_ops", gcra.reference);

    print_notes(client.stats());
    client.close();
    report.print(std::cout);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "ratelimit_bench: " << e.what() << '\n';
    return 1;
  }
}

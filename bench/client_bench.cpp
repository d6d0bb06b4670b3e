// The asynchronous client against a private valkey-server, beside valkey-benchmark run on the
// same server in the same run.
//
// get_p50_us, get_p99_us: one coroutine awaiting one GET of a 2 KB value at a time, beside
//   valkey-benchmark -c 1 -t get (one connection, one request at a time). Not quite like for
//   like: valkey-benchmark starts its clock just before write() and reports whole
//   microseconds, while ours runs from the call to get() to its return.
// get_sequential_ops: the same runs in GETs per second, beside valkey-benchmark's requests per
//   second, which count all the work on both sides.
// near_get_p50_us: the same GET answered by a NearCache (a hot key, read once from Valkey),
//   beside get_p50_us of the same run.
// get_ops, set_ops: 64 coroutines sharing one Client (one connection, automatic pipelining),
//   GET and SET of 2 KB values, beside valkey-benchmark -c 4 -P 16 (also 64 requests in
//   flight), both single-threaded.
//
// Both sides use the key valkey-benchmark uses without -r, "key:__rand_int__", holding 2048
// bytes of 'x' as valkey-benchmark's SET -d 2048 writes it. Every measurement runs several
// times, ours and the reference alternately so that a noisy neighbour slows both alike, and
// the medians are reported.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench_report.hpp"
#include "opencode_cache/valkey/client.hpp"
#include "opencode_cache/valkey/near_cache.hpp"
#include "valkey_benchmark.hpp"
#include "valkey_process.hpp"

namespace {

namespace asio = boost::asio;
namespace bench = opencode_cache::bench;
namespace valkey = opencode_cache::valkey;
using Clock = std::chrono::steady_clock;

constexpr int runs = 7;
constexpr std::size_t value_size = 2048;
// The key valkey-benchmark's GET and SET use when not given -r.
constexpr std::string_view key = "key:__rand_int__";

constexpr int latency_warmup = 2000;
constexpr int latency_samples = 20000;
constexpr int reference_latency_requests = 50000;

constexpr int concurrency = 64;
constexpr int throughput_warmup = 20000;
constexpr int throughput_ops = 256000;
constexpr int reference_throughput_requests = 500000;

// --verbose: each run's figures on stderr, to see how noisy the machine is.
bool verbose = false;

void trace_run(std::string_view what, double ours, double reference) {
  if (verbose)
    std::cerr << "  run " << what << ": ours " << ours << " reference " << reference << '\n';
}

const std::string& value() {
  static const std::string x(value_size, 'x');
  return x;
}

using bench::run;

void check_value(const std::optional<std::string>& got) {
  if (!got || got->size() != value_size) {
    throw std::runtime_error(
        "GET returned " + (got ? std::to_string(got->size()) + " bytes" : std::string("nothing")) +
        ", not the " + std::to_string(value_size) + " byte value");
  }
}

// ---- ours -----------------------------------------------------------------------------------

// Commands this program sent, for the pipelining note.
std::uint64_t commands_sent = 0;

struct SequentialRun {
  std::vector<double> latencies_us;  // from the call to get() to its return
  double ops_per_second = 0;
};

asio::awaitable<SequentialRun> sequential_gets(valkey::Client& client, int count) {
  SequentialRun run;
  run.latencies_us.reserve(static_cast<std::size_t>(count));
  const auto first = Clock::now();
  for (int i = 0; i < count; ++i) {
    const auto start = Clock::now();
    const std::optional<std::string> got = co_await client.get(key);
    const std::chrono::duration<double, std::micro> elapsed = Clock::now() - start;
    check_value(got);
    run.latencies_us.push_back(elapsed.count());
  }
  const std::chrono::duration<double> total = Clock::now() - first;
  run.ops_per_second = count / total.count();
  commands_sent += static_cast<std::uint64_t>(count);
  co_return run;
}

enum class Op { get, set };

asio::awaitable<void> issue(valkey::Client& client, Op op, int count) {
  for (int i = 0; i < count; ++i) {
    if (op == Op::get) {
      check_value(co_await client.get(key));
    } else {
      co_await client.set(key, value());
    }
  }
  commands_sent += static_cast<std::uint64_t>(count);
}

// `total` commands from `concurrency` coroutines on the one client, in commands per second.
asio::awaitable<double> ops_per_second(valkey::Client& client, Op op, int total) {
  const auto executor = co_await asio::this_coro::executor;
  asio::steady_timer all_done(executor, asio::steady_timer::time_point::max());
  int running = concurrency;
  std::exception_ptr failure;
  const auto start = Clock::now();
  for (int i = 0; i < concurrency; ++i) {
    asio::co_spawn(executor, issue(client, op, total / concurrency), [&](std::exception_ptr e) {
      if (e && !failure) failure = e;
      if (--running == 0) all_done.cancel();
    });
  }
  co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
  const std::chrono::duration<double> elapsed = Clock::now() - start;
  if (failure) std::rethrow_exception(failure);
  co_return (total / concurrency) * concurrency / elapsed.count();
}

// ---- valkey-benchmark -----------------------------------------------------------------------

// The row of `test` in valkey-benchmark's --csv output, by column name:
//   "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",...,"p99_latency_ms",...
std::map<std::string, double> csv_row(const std::string& csv, std::string_view test) {
  const auto fields = [](const std::string& line) {
    std::vector<std::string> out;
    std::istringstream in(line);
    std::string field;
    while (std::getline(in, field, ',')) {
      if (field.size() >= 2 && field.front() == '"') field = field.substr(1, field.size() - 2);
      out.push_back(field);
    }
    return out;
  };
  std::istringstream lines(csv);
  std::string line;
  std::vector<std::string> header;
  while (std::getline(lines, line)) {
    const std::vector<std::string> row = fields(line);
    if (row.empty()) continue;
    if (row.front() == "test") {
      header = row;
    } else if (row.front() == test && row.size() == header.size()) {
      std::map<std::string, double> values;
      for (std::size_t i = 1; i < row.size(); ++i) values[header[i]] = std::stod(row[i]);
      return values;
    }
  }
  throw std::runtime_error("no " + std::string(test) + " row in valkey-benchmark's output:\n" +
                           csv);
}

double column(const std::map<std::string, double>& row, const std::string& name) {
  const auto found = row.find(name);
  if (found == row.end()) throw std::runtime_error("valkey-benchmark printed no " + name);
  return found->second;
}

class ValkeyBenchmark {
 public:
  explicit ValkeyBenchmark(const bench::ValkeyProcess& server)
      : base_{"valkey-benchmark", "-h", server.host(), "-p", std::to_string(server.port())} {}

  // `flags` as given on the command line; --csv is added.
  std::map<std::string, double> run(const std::vector<std::string>& flags,
                                    std::string_view test) const {
    std::vector<std::string> argv = base_;
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.emplace_back("--csv");
    return csv_row(bench::spawn_and_capture(argv), test);
  }

 private:
  std::vector<std::string> base_;
};

std::string joined(const std::vector<std::string>& flags) {
  std::string out = "valkey-benchmark";
  for (const std::string& flag : flags) out += " " + flag;
  return out;
}

// ---- the measurements -----------------------------------------------------------------------

struct Medians {
  double ours = 0;
  double reference = 0;
};

struct SequentialMedians {
  Medians p50_us;
  Medians p99_us;
  Medians ops;
};

const std::vector<std::string> latency_flags = {
    "-c", "1", "-n", std::to_string(reference_latency_requests), "-t", "get", "-d", "2048"};

SequentialMedians sequential_get(asio::io_context& io, valkey::Client& client,
                                 const ValkeyBenchmark& reference) {
  run(io, sequential_gets(client, latency_warmup));
  std::vector<double> p50, p99, ops, ref_p50, ref_p99, ref_ops;
  for (int i = 0; i < runs; ++i) {
    const SequentialRun ours = run(io, sequential_gets(client, latency_samples));
    p50.push_back(bench::percentile(ours.latencies_us, 50));
    p99.push_back(bench::percentile(ours.latencies_us, 99));
    ops.push_back(ours.ops_per_second);
    const auto row = reference.run(latency_flags, "GET");
    ref_p50.push_back(column(row, "p50_latency_ms") * 1000);
    ref_p99.push_back(column(row, "p99_latency_ms") * 1000);
    ref_ops.push_back(column(row, "rps"));
    trace_run("get p50 us", p50.back(), ref_p50.back());
    trace_run("get p99 us", p99.back(), ref_p99.back());
    trace_run("sequential get ops/s", ops.back(), ref_ops.back());
  }
  return {{bench::median(p50), bench::median(ref_p50)},
          {bench::median(p99), bench::median(ref_p99)},
          {bench::median(ops), bench::median(ref_ops)}};
}

std::vector<std::string> throughput_flags(std::string_view test) {
  return {"-c", "4",
          "-P", "16",
          "-n", std::to_string(reference_throughput_requests),
          "-t", std::string(test),
          "-d", "2048"};
}

Medians throughput(asio::io_context& io, valkey::Client& client, const ValkeyBenchmark& reference,
                   Op op) {
  const std::string test = op == Op::get ? "get" : "set";
  const std::string row_name = op == Op::get ? "GET" : "SET";
  run(io, ops_per_second(client, op, throughput_warmup));
  std::vector<double> ours, theirs;
  for (int i = 0; i < runs; ++i) {
    ours.push_back(run(io, ops_per_second(client, op, throughput_ops)));
    theirs.push_back(column(reference.run(throughput_flags(test), row_name), "rps"));
    trace_run(test + " ops/s", ours.back(), theirs.back());
  }
  return {bench::median(ours), bench::median(theirs)};
}

// GETs of one hot key through a NearCache: after the first, none leaves the process.
asio::awaitable<double> near_get_p50_us(valkey::Client& tracking_client) {
  valkey::NearCache near(tracking_client);
  check_value(co_await near.get(key));
  std::vector<double> latencies;
  latencies.reserve(latency_samples);
  for (int i = 0; i < latency_samples; ++i) {
    const auto start = Clock::now();
    const std::optional<std::string> got = co_await near.get(key);
    const std::chrono::duration<double, std::micro> elapsed = Clock::now() - start;
    check_value(got);
    latencies.push_back(elapsed.count());
  }
  co_return bench::percentile(latencies, 50);
}

valkey::ClientConfig client_config(const bench::ValkeyProcess& server) {
  valkey::ClientConfig config;
  config.host = server.host();
  config.port = server.port();
  return config;
}

asio::awaitable<bool> prepare(valkey::Client& client) {
  co_await client.connect();  // a PING
  const bool stored = co_await client.set(key, value());
  commands_sent += 2;
  co_return stored;
}

void print_notes(const valkey::ClientStats& stats) {
  std::cerr << "client_bench: medians of " << runs << " runs; value " << value_size
            << " bytes; key " << key << "\n  latency reference: " << joined(latency_flags)
            << "\n  throughput references: " << joined(throughput_flags("get|set"))
            << "\n  ours: " << latency_samples << " sequential GETs per run; " << throughput_ops
            << " commands per run from " << concurrency << " coroutines on one Client"
            << "\n  our pipelining: " << commands_sent << " commands in " << stats.writes
            << " socket writes\n";
}

}  // namespace

int main(int argc, char** argv) {
  try {
    bench::Report report(bench::has_flag(argc, argv, "--json"));
    verbose = bench::has_flag(argc, argv, "--verbose");
    const bench::ValkeyProcess server;
    const ValkeyBenchmark reference(server);
    asio::io_context io(1);
    valkey::Client client(io.get_executor(), client_config(server));
    run(io, prepare(client));

    const SequentialMedians sequential = sequential_get(io, client, reference);
    report.add("get_p50_us", sequential.p50_us.ours, "us", "valkey_benchmark_c1_get_p50_us",
               sequential.p50_us.reference);
    report.add("get_p99_us", sequential.p99_us.ours, "us", "valkey_benchmark_c1_get_p99_us",
               sequential.p99_us.reference);
    // valkey-benchmark's latency clock starts just before its write and so leaves out its own
    // work between requests; requests per second over the same run count everything, as ours.
    report.add("get_sequential_ops", sequential.ops.ours, "ops/s", "valkey_benchmark_c1_get_ops",
               sequential.ops.reference);
    {
      auto tracking = client_config(server);
      tracking.tracking = true;
      valkey::Client tracking_client(io.get_executor(), tracking);
      std::vector<double> near;
      for (int i = 0; i < runs; ++i) near.push_back(run(io, near_get_p50_us(tracking_client)));
      // Beside the same GET's round trip through the client, measured above.
      report.add("near_get_p50_us", bench::median(near), "us", "get_p50_us",
                 sequential.p50_us.ours);
      tracking_client.close();
    }
    const Medians gets = throughput(io, client, reference, Op::get);
    report.add("get_ops", gets.ours, "ops/s", "valkey_benchmark_P16_c4_get_ops", gets.reference);
    // valkey-benchmark's SET writes the same 2048 'x's, so GET above always saw the value.
    const Medians sets = throughput(io, client, reference, Op::set);
    report.add("set_ops", sets.ours, "ops/s", "valkey_benchmark_P16_c4_set_ops", sets.reference);

    print_notes(client.stats());
    client.close();
    report.print(std::cout);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "client_bench: " << e.what() << '\n';
    return 1;
  }
}

// The client's cluster mode on a 3-primary cluster beside the standalone client on one node
// of the same machine, in the same run, and valkey-benchmark --cluster on the same cluster.
//
// cluster_get_ops, cluster_set_ops: 64 coroutines sharing one cluster Client (one connection
//   per primary, automatic pipelining on each), GET and SET of 2 KB values over 1000 keys that
//   spread over the 3 primaries, beside the standalone Client doing the same against one
//   valkey-server. The issue's bar: cluster_get_ops at least 0.87 of the standalone figure
//   (the cluster client's per-request cost within 1.15x).
// cluster_get_cpu_us, cluster_cache_hit_cpu_us: the CPU time this process spent per request
//   (its one thread, user and system) in those runs, beside the standalone client's: the
//   per-request cost itself, which the throughput shows only when the servers are not short of
//   cores (3 valkey-servers and the client on a 2-core machine are).
// cluster_get_p50_us: one GET at a time, beside the standalone client's p50.
// cluster_cache_hit_ops: CacheService::get_cached_response hits from 64 coroutines, cluster
//   beside standalone.
// cluster_get_ops_vs_valkey_benchmark: cluster_get_ops beside valkey-benchmark --cluster -c 4
//   -P 16 -t get (C, one thread, the same 64 requests in flight per node... its -c is per node).
//
// Each measurement runs 5 times, ours and the reference alternately; medians are reported.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "bench_report.hpp"
#include "cluster/valkey_cluster.hpp"
#include "opencode_cache/cache/cache_service.hpp"
#include "opencode_cache/valkey/client.hpp"
#include "valkey_benchmark.hpp"

namespace {

namespace asio = boost::asio;
namespace bench = opencode_cache::bench;
namespace valkey = opencode_cache::valkey;
namespace cache = opencode_cache::cache;
using opencode_cache::testing::ValkeyCluster;
using opencode_cache::testing::ValkeyClusterOptions;
using opencode_cache::testing::ValkeyServer;
using Clock = std::chrono::steady_clock;

constexpr int runs = 5;
constexpr int keys = 1000;
constexpr int concurrency = 64;
constexpr int throughput_ops = 128000;
constexpr int latency_samples = 10000;
constexpr std::size_t value_size = 2048;

std::string key_of(int i) {
  return "key:" + std::to_string(i);
}

const std::string& value() {
  static const std::string x(value_size, 'x');
  return x;
}

enum class Op { get, set, cache_hit };

std::uint64_t misses = 0;  // cache reads that missed, both sides

asio::awaitable<void> issue(valkey::Client& client, cache::CacheService& service, Op op, int first,
                            int count) {
  for (int i = 0; i < count; ++i) {
    const int k = (first + i * 7) % keys;
    if (op == Op::get) {
      const auto got = co_await client.get(key_of(k));
      if (!got || got->size() != value_size) throw std::runtime_error("GET missed");
    } else if (op == Op::set) {
      co_await client.set(key_of(k), value());
    } else {
      const auto hit = co_await service.get_cached_response("prompt " + std::to_string(k), "m");
      // A read past the cache's soft budget is a counted miss, not an error (fail-soft).
      if (!hit) ++misses;
    }
  }
}

asio::awaitable<double> ops_per_second(valkey::Client& client, cache::CacheService& service, Op op,
                                       int concurrency) {
  const auto executor = co_await asio::this_coro::executor;
  asio::steady_timer all_done(executor, asio::steady_timer::time_point::max());
  int running = concurrency;
  std::exception_ptr failure;
  const int each = throughput_ops / concurrency;
  const auto start = Clock::now();
  for (int i = 0; i < concurrency; ++i) {
    asio::co_spawn(executor, issue(client, service, op, i * 13, each),
                   [&](const std::exception_ptr& e) {
                     if (e && !failure) failure = e;
                     if (--running == 0) all_done.cancel();
                   });
  }
  co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
  const std::chrono::duration<double> elapsed = Clock::now() - start;
  if (failure) std::rethrow_exception(failure);
  co_return each* concurrency / elapsed.count();
}

asio::awaitable<double> get_p50_us(valkey::Client& client) {
  std::vector<double> samples;
  for (int i = 0; i < latency_samples; ++i) {
    const auto start = Clock::now();
    co_await client.get(key_of(i % keys));
    samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  co_return bench::median(samples);
}

asio::awaitable<int> fill(valkey::Client& client, cache::CacheService& service) {
  for (int i = 0; i < keys; ++i) {
    co_await client.set(key_of(i), value());
    co_await service.cache_response("prompt " + std::to_string(i), "m", value());
  }
  co_return 0;
}

// CPU time of the calling thread (user and system), in microseconds.
double thread_cpu_us() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e6 + static_cast<double>(now.tv_nsec) / 1e3;
}

struct Rate {
  double ops_per_second = 0;
  double cpu_us_per_op = 0;
};

// One side of the comparison: its event loop, client and cache service.
struct Side {
  Side(const valkey::ClientConfig& config) : client(io.get_executor(), config), service(client) {
    bench::run(io, fill(client, service));
  }
  Rate ops(Op op, int in_flight = concurrency) {
    const double cpu_before = thread_cpu_us();
    const double rate = bench::run(io, ops_per_second(client, service, op, in_flight));
    const int each = throughput_ops / in_flight;  // what ops_per_second has each coroutine do
    const double ops = static_cast<double>(each) * in_flight;
    return {rate, (thread_cpu_us() - cpu_before) / ops};
  }
  double p50() { return bench::run(io, get_p50_us(client)); }

  asio::io_context io;
  valkey::Client client;
  cache::CacheService service;
};

double valkey_benchmark_cluster_get_ops(const ValkeyCluster& cluster) {
  const std::vector<std::string> argv = {"valkey-benchmark",
                                         "--cluster",
                                         "-h",
                                         "127.0.0.1",
                                         "-p",
                                         std::to_string(cluster.seed_port()),
                                         "-c",
                                         "4",
                                         "-P",
                                         "16",
                                         "-n",
                                         std::to_string(throughput_ops * 2),
                                         "-d",
                                         std::to_string(value_size),
                                         "-t",
                                         "get",
                                         "--csv"};
  // With --cluster it first prints the primaries it found: the CSV starts at its header.
  const std::string output = bench::spawn_and_capture(argv);
  const auto header = output.find("\"test\"");
  return bench::parse_valkey_benchmark_csv(header == std::string::npos ? output
                                                                       : output.substr(header))
      .rps;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    bench::Report report(bench::has_flag(argc, argv, "--json"));
    ValkeyCluster cluster(ValkeyClusterOptions{.primaries = 3, .replicas_per_primary = 0});
    ValkeyServer standalone;
    valkey::ClientConfig single;
    single.host = standalone.host();
    single.port = standalone.port();
    Side ours(valkey::ClientConfig::from_url(cluster.url()));
    Side reference(single);

    std::vector<double> get_ops, ref_get_ops, set_ops, ref_set_ops, hit_ops, ref_hit_ops, p50,
        ref_p50, vb_get_ops, get_cpu, ref_get_cpu, hit_cpu, ref_hit_cpu;
    const auto record = [](const Rate& rate, std::vector<double>& ops, std::vector<double>& cpu) {
      ops.push_back(rate.ops_per_second);
      cpu.push_back(rate.cpu_us_per_op);
    };
    std::vector<double> unused;
    std::vector<double> deep_get_ops, deep_get_cpu;
    for (int run = 0; run < runs; ++run) {
      record(ours.ops(Op::get), get_ops, get_cpu);
      record(ours.ops(Op::get, concurrency * 3), deep_get_ops, deep_get_cpu);
      record(reference.ops(Op::get), ref_get_ops, ref_get_cpu);
      record(ours.ops(Op::set), set_ops, unused);
      record(reference.ops(Op::set), ref_set_ops, unused);
      record(ours.ops(Op::cache_hit), hit_ops, hit_cpu);
      record(reference.ops(Op::cache_hit), ref_hit_ops, ref_hit_cpu);
      p50.push_back(ours.p50());
      ref_p50.push_back(reference.p50());
      vb_get_ops.push_back(valkey_benchmark_cluster_get_ops(cluster));
    }
    report.add("cluster_get_ops", bench::median(get_ops), "ops/s", "standalone_get_ops",
               bench::median(ref_get_ops));
    report.add("cluster_set_ops", bench::median(set_ops), "ops/s", "standalone_set_ops",
               bench::median(ref_set_ops));
    report.add("cluster_cache_hit_ops", bench::median(hit_ops), "ops/s", "standalone_cache_hit_ops",
               bench::median(ref_hit_ops));
    report.add("cluster_get_cpu_us", bench::median(get_cpu), "us", "standalone_get_cpu_us",
               bench::median(ref_get_cpu));
    report.add("cluster_cache_hit_cpu_us", bench::median(hit_cpu), "us",
               "standalone_cache_hit_cpu_us", bench::median(ref_hit_cpu));
    report.add("cluster_get_cpu_us_192", bench::median(deep_get_cpu), "us", "standalone_get_cpu_us",
               bench::median(ref_get_cpu));
    report.add("cluster_get_ops_192", bench::median(deep_get_ops), "ops/s", "standalone_get_ops",
               bench::median(ref_get_ops));
    report.add("cluster_get_p50_us", bench::median(p50), "us", "standalone_get_p50_us",
               bench::median(ref_p50));
    report.add("cluster_get_ops_vs_valkey_benchmark", bench::median(get_ops), "ops/s",
               "valkey_benchmark_cluster_P16_c4_get_ops", bench::median(vb_get_ops));
    std::cerr << "cluster_bench: medians of " << runs << " runs; 3 primaries, " << keys
              << " keys of " << value_size << " bytes, " << concurrency << " coroutines; " << misses
              << " cache reads missed\n";
    report.print(std::cout);
  } catch (const std::exception& e) {
    std::cerr << "cluster_bench: " << e.what() << '\n';
    return 1;
  }
  return 0;
}

// opencode-cache-server under load, beside references measured in the same run:
//   gateway_hit_rps             cache hits/s (wrk, 64 keep-alive connections, a 2 KB completion)
//                               vs nginx serving the same 2 KB from a file; one worker each
//   gateway_hit_p99_us          their p99 latencies
//   gateway_hit_share           the share of that run answered as HIT (must be 1: not BYPASS)
//   gateway_replay_ops          replays/s of a cached 200-chunk stream (and gateway_replay_mb_s)
//   api_session_patch_ops       PATCH /api/sessions/{id} per second (wrk), beside the library's
//                               update_session on the same Valkey (64 callers, one Client)
//   api_cache_get_ops           GET /api/cache/{key} per second, beside read_fetched
//   gateway_replay_responses_ops, gateway_replay_messages_ops   the same for a recorded
//                               Responses and Messages stream (and their _mb_s)
//   gateway_miss_added_p50_us   p50 of a miss through the gateway minus the fake provider's own
//   gateway_rss_1k_conns_mb     resident memory with 1000 idle keep-alive connections
// The gateway is the real binary as a child process with one thread; the provider is the
// test suite's fake; Valkey a private valkey-server.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "bench_report.hpp"
#include "opencode_cache/cache/cache_service.hpp"
#include "opencode_cache/valkey/client.hpp"
#include "server/support/fake_upstream.hpp"
#include "server/support/http_client.hpp"
#include "support/free_port.hpp"
#include "valkey_process.hpp"

namespace {

using namespace opencode_cache;
using namespace std::chrono_literals;
using testing::HttpClient;
namespace asio = boost::asio;

pid_t spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
            const std::string& log_path) {
  std::vector<std::string> entries;
  for (const auto& [name, value] : env) entries.push_back(name + "=" + value);
  if (const char* path = std::getenv("PATH")) entries.push_back(std::string("PATH=") + path);
  std::vector<char*> envp;
  for (auto& entry : entries) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(log, STDERR_FILENO);
    dup2(log, STDOUT_FILENO);
    execvpe(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  return pid;
}

void stop(pid_t pid) {
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
}

bool answers(std::uint16_t port, const std::string& target) {
  try {
    return HttpClient(port).request("GET", target).status == 200;
  } catch (const std::exception&) {
    return false;
  }
}

void wait_for(std::uint16_t port, const std::string& target, const std::string& what) {
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (!answers(port, target)) {
    if (std::chrono::steady_clock::now() > give_up)
      throw std::runtime_error(what + " did not start");
    std::this_thread::sleep_for(10ms);
  }
}

struct WrkResult {
  double rps = 0;
  double p99_us = 0;
};

double to_us(const std::string& value, const std::string& unit) {
  const double v = std::stod(value);
  if (unit == "us") return v;
  if (unit == "ms") return v * 1000;
  if (unit == "s") return v * 1e6;
  return v;
}

WrkResult wrk(const std::string& url, const std::string& script_path, const std::string& seconds) {
  std::vector<std::string> args = {"wrk", "-t1", "-c64", "-d" + seconds, "--latency"};
  if (!script_path.empty()) {
    args.push_back("-s");
    args.push_back(script_path);
  }
  args.push_back(url);
  const std::string out = bench::spawn_and_capture(args);
  WrkResult result;
  std::smatch match;
  if (std::regex_search(out, match, std::regex(R"(Requests/sec:\s+([0-9.]+))"))) {
    result.rps = std::stod(match[1]);
  }
  if (std::regex_search(out, match, std::regex(R"(99%\s+([0-9.]+)(us|ms|s))"))) {
    result.p99_us = to_us(match[1], match[2]);
  }
  if (std::regex_search(out, match, std::regex(R"(Non-2xx or 3xx responses:\s+([0-9]+))"))) {
    throw std::runtime_error("wrk saw errors: " + out);
  }
  return result;
}

// A wrk script sending `method` with a JSON body.
std::string lua_request(const std::filesystem::path& dir, const std::string& name,
                        const std::string& method, const std::string& body) {
  const auto path = dir / (name + ".lua");
  std::string escaped;
  for (char c : body) {
    if (c == '\\' || c == '"') escaped += '\\';
    escaped += c;
  }
  std::ofstream(path) << "wrk.method = \"" << method << "\"\nwrk.body = \"" << escaped
                      << "\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n";
  return path.string();
}

// The library doing what the app's API does for those routes, 64 callers on one Client (as
// wrk's 64 connections on one gateway thread), in operations per second.
double library_ops(const bench::ValkeyProcess& valkey,
                   const std::function<asio::awaitable<void>(cache::CacheService&)>& operation) {
  asio::io_context io(1);
  valkey::ClientConfig config;
  config.host = valkey.host();
  config.port = valkey.port();
  valkey::Client client(io.get_executor(), config);
  cache::CacheService service(client);
  constexpr int callers = 64;
  constexpr int each = 2000;
  int running = callers;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < callers; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          for (int n = 0; n < each; ++n) co_await operation(service);
        },
        [&](std::exception_ptr failure) {
          if (failure) std::rethrow_exception(failure);
          if (--running == 0) client.close();
        });
  }
  io.run();
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  return callers * each / elapsed.count();
}

std::string lua_post(const std::filesystem::path& dir, const std::string& name,
                     const std::string& body) {
  return lua_request(dir, name, "POST", body);
}

pid_t start_nginx(const std::filesystem::path& dir, std::uint16_t port) {
  const auto conf = dir / "nginx.conf";
  std::ofstream(conf) << "worker_processes 1;\ndaemon off;\npid " << (dir / "nginx.pid").string()
                      << ";\nerror_log " << (dir / "nginx.log").string()
                      << ";\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n"
                      << "  client_body_temp_path " << dir.string() << ";\n"
                      << "  proxy_temp_path " << dir.string() << ";\n"
                      << "  fastcgi_temp_path " << dir.string() << ";\n"
                      << "  uwsgi_temp_path " << dir.string() << ";\n"
                      << "  scgi_temp_path " << dir.string() << ";\n"
                      << "  keepalive_requests 1000000;\n"
                      << "  server {\n    listen 127.0.0.1:" << port << ";\n"
                      << "    location / { root " << dir.string()
                      << "; default_type application/json; }\n  }\n}\n";
  return spawn({"nginx", "-p", dir.string(), "-c", conf.string()}, {},
               (dir / "nginx.stdout").string());
}

// The gateway's count of chat completion answers, by cache result, from /metrics.
struct CacheCounts {
  double hits = 0;
  double all = 0;
};

CacheCounts chat_cache_counts(std::uint16_t port) {
  const std::string text = HttpClient(port).request("GET", "/metrics").body;
  const std::string prefix = R"(opencode_cache_requests_total{route="/v1/chat/completions",)";
  CacheCounts counts;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with(prefix)) continue;
    const double value = std::stod(line.substr(line.rfind(' ') + 1));
    counts.all += value;
    if (line.find(R"(cache="HIT")") != std::string::npos) counts.hits += value;
  }
  return counts;
}

double rss_mb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

double p50_us(const std::function<void(int)>& request, int count) {
  std::vector<double> samples;
  for (int i = 0; i < count; ++i) {
    const auto start = std::chrono::steady_clock::now();
    request(i);
    samples.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
  }
  return bench::median(samples);
}

}  // namespace

int main(int argc, char** argv) {
  const bool json = bench::has_flag(argc, argv, "--json");
  const std::string seconds = bench::has_flag(argc, argv, "--quick") ? "2s" : "5s";
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);

  const auto dir = std::filesystem::temp_directory_path() /
                   ("opencode-cache-server-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  bench::Report report(json);
  try {
    bench::ValkeyProcess valkey;
    testing::FakeUpstream upstream;
    const std::uint16_t port = testing::free_loopback_port();
    const std::string big = "1000000";  // above anything this run sends
    const pid_t gateway = spawn({OPENCODE_CACHE_SERVER_BINARY},
                                {{"OPENCODE_CACHE_LISTEN", "127.0.0.1:" + std::to_string(port)},
                                 {"OPENCODE_CACHE_THREADS", "1"},
                                 {"OPENCODE_CACHE_UPSTREAM", upstream.base_url()},
                                 {"VALKEY_HOST", valkey.host()},
                                 {"VALKEY_PORT", std::to_string(valkey.port())},
                                 {"RATE_LIMIT_USER_MAX", big},
                                 {"RATE_LIMIT_PROVIDER_MAX", big},
                                 {"RATE_LIMIT_GLOBAL_MAX", big}},
                                (dir / "gateway.log").string());
    wait_for(port, "/healthz", "opencode-cache-server");
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/v1/chat/completions";

    // A completion of about 2 KB, cached.
    const std::string hit_request = testing::chat_body(std::string(1650, 'x'), false);
    HttpClient http(port);
    http.post("/v1/chat/completions", hit_request);
    const auto hit = http.post("/v1/chat/completions", hit_request);
    if (hit.header("x-cache") != "HIT") throw std::runtime_error("the 2 KB answer is not a hit");
    std::ofstream(dir / "body.json") << hit.body;
    const std::uint16_t nginx_port = testing::free_loopback_port();
    const pid_t nginx = start_nginx(dir, nginx_port);
    wait_for(nginx_port, "/body.json", "nginx");
    const CacheCounts before = chat_cache_counts(port);
    const WrkResult ours = wrk(url, lua_post(dir, "hit", hit_request), seconds);
    const CacheCounts after = chat_cache_counts(port);
    const WrkResult theirs =
        wrk("http://127.0.0.1:" + std::to_string(nginx_port) + "/body.json", "", seconds);
    stop(nginx);
    report.add("gateway_hit_rps", ours.rps, "req/s", "nginx_file_rps", theirs.rps);
    report.add("gateway_hit_p99_us", ours.p99_us, "us", "nginx_file_p99_us", theirs.p99_us);
    report.add("gateway_hit_body_bytes", static_cast<double>(hit.body.size()), "B");
    // Every request of the run must have been a hit: a Valkey too slow to answer would turn
    // hits into calls upstream (BYPASS), and the figure above would measure those instead.
    report.add("gateway_hit_share", (after.hits - before.hits) / (after.all - before.all), "ratio",
               "all_requests", 1.0);

    // A cached stream of 200 content chunks, replayed.
    const std::string stream_request = testing::chat_body("replay", true, "long-200");
    http.post("/v1/chat/completions", stream_request);
    const auto replayed = http.post("/v1/chat/completions", stream_request);
    if (replayed.header("x-cache") != "HIT") throw std::runtime_error("the stream is not a hit");
    const WrkResult replay = wrk(url, lua_post(dir, "replay", stream_request), seconds);
    report.add("gateway_replay_ops", replay.rps, "replays/s");
    report.add("gateway_replay_mb_s", replay.rps * static_cast<double>(replayed.body.size()) / 1e6,
               "MB/s");

    // The other two APIs' recorded streams (text, reasoning with its signature or encrypted
    // content, a tool call, usage), replayed.
    struct ApiReplay {
      std::string name;
      std::string path;
      std::string body;
    };
    const std::vector<ApiReplay> apis = {
        {"responses", "/v1/responses", testing::responses_body("replay", true)},
        {"messages", "/v1/messages", testing::messages_body("replay", true)}};
    for (const ApiReplay& api : apis) {
      http.post(api.path, api.body);
      const auto recorded = http.post(api.path, api.body);
      if (recorded.header("x-cache") != "HIT") {
        throw std::runtime_error("the " + api.name + " stream is not a hit");
      }
      const std::string api_url = "http://127.0.0.1:" + std::to_string(port) + api.path;
      const WrkResult api_replay =
          wrk(api_url, lua_post(dir, "replay_" + api.name, api.body), seconds);
      report.add("gateway_replay_" + api.name + "_ops", api_replay.rps, "replays/s");
      report.add("gateway_replay_" + api.name + "_mb_s",
                 api_replay.rps * static_cast<double>(recorded.body.size()) / 1e6, "MB/s");
    }

    // The app's API: a session PATCH (an atomic merge) and a get-or-fetch read, over HTTP,
    // beside the library doing the same on the same Valkey.
    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    http.request("PUT", "/api/sessions/bench", R"({"user":"bench","turns":0})");
    http.request("PUT", "/api/cache/bench-value", R"({"answer":"cached for the web UI"})");
    const WrkResult patches =
        wrk(base + "/api/sessions/bench",
            lua_request(dir, "patch", "PATCH", R"({"title":"renamed"})"), seconds);
    cache::JsonObject changes;
    changes["title"] = "renamed";
    const double library_patches =
        library_ops(valkey, [&](cache::CacheService& service) -> asio::awaitable<void> {
          co_await service.update_session("bench", changes);
        });
    report.add("api_session_patch_ops", patches.rps, "req/s", "library_update_session_ops",
               library_patches);
    const WrkResult reads = wrk(base + "/api/cache/bench-value", "", seconds);
    const double library_reads =
        library_ops(valkey, [](cache::CacheService& service) -> asio::awaitable<void> {
          co_await service.read_fetched("bench-value", cache::ns::fetch);
        });
    report.add("api_cache_get_ops", reads.rps, "req/s", "library_read_fetched_ops", library_reads);

    // Misses: unique prompts, through the gateway and straight to the provider.
    constexpr int misses = 400;
    HttpClient direct(upstream.port());
    const double direct_p50 = p50_us(
        [&](int i) {
          direct.post("/v1/chat/completions", testing::chat_body("d" + std::to_string(i), false));
        },
        misses);
    const double gateway_p50 = p50_us(
        [&](int i) {
          http.post("/v1/chat/completions", testing::chat_body("g" + std::to_string(i), false));
        },
        misses);
    report.add("gateway_miss_added_p50_us", gateway_p50 - direct_p50, "us", "provider_p50_us",
               direct_p50);

    // 1000 idle keep-alive connections, each after one request.
    asio::io_context io;
    std::vector<asio::ip::tcp::socket> idle;
    const std::string health = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 1000; ++i) {
      idle.emplace_back(io);
      idle.back().connect({asio::ip::make_address("127.0.0.1"), port});
      asio::write(idle.back(), asio::buffer(health));
      asio::streambuf answer;
      asio::read_until(idle.back(), answer, "{\"status\":\"ok\"}");
    }
    report.add("gateway_rss_1k_conns_mb", rss_mb(gateway), "MB");
    idle.clear();
    stop(gateway);
  } catch (const std::exception& e) {
    std::cerr << "server_bench: " << e.what() << "\n";
    std::ifstream log(dir / "gateway.log");
    std::cerr << log.rdbuf();
    std::filesystem::remove_all(dir);
    return 1;
  }
  std::filesystem::remove_all(dir);
  report.print(std::cout);
  return 0;
}

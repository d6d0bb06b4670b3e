#include "faults/fault_suite.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_to.hpp>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
#include <utility>

#include "faults/cluster_faults.hpp"
#include "opencode_cache/cache/cache_service.hpp"
#include "opencode_cache/valkey/client.hpp"
#include "support/fault_proxy.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::faults {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using cache::CacheService;
using cache::Json;
using cache::JsonObject;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;
template <class T>
using Task = valkey::Task<T>;

// The deadlines the load runs with: much shorter than the library's defaults, so that each
// fault runs for seconds.
constexpr Millis operation_timeout = 250ms;  // cache reads and writes
constexpr Millis session_timeout = 1000ms;   // each session command
constexpr Millis command_timeout = 1000ms;   // the client's default (connect, final checks)
constexpr Millis connect_timeout = 500ms;
constexpr Millis lease_wait = 200ms;
constexpr Millis lease_poll = 20ms;
constexpr Millis fetch_delay = 2ms;  // the origin behind get_or_fetch
constexpr Millis breaker_cool_down = 500ms;

// The fault schedule.
constexpr Millis kill_outage = 1500ms;
constexpr Millis stop_duration = 2000ms;
constexpr int client_kill_rounds = 5;
constexpr Millis client_kill_interval = 400ms;
constexpr Millis oom_duration = 2000ms;
constexpr int debug_sleeps = 4;
constexpr const char* debug_sleep_seconds = "0.5";
constexpr Millis debug_sleep_interval = 150ms;

// A session write acknowledged this shortly before its primary was killed or stopped may be
// missing on the promoted replica (fault_suite.hpp). The primary writes the replica's copy in
// the same event-loop turn as the reply; the rest is room for a busy machine.
constexpr Millis replication_window = 100ms;

// Where kill_restart's server keeps its AOF, when it may (server_options).
constexpr const char* memory_backed_dir = "/dev/shm";

constexpr Millis setup_limit = 15s;
constexpr Millis stop_limit = 30s;

constexpr int prompt_count = 64;
constexpr int item_count = 48;
constexpr std::string_view model = "fault-model";
constexpr std::size_t kept_log_lines = 100;
constexpr std::size_t kept_notes = 10;

enum class Kind : std::uint8_t {
  response_get,
  response_set,
  fetch,
  session_get,
  session_update,
  session_create,
};
constexpr std::size_t kind_count = 6;

std::string_view kind_name(Kind kind) noexcept {
  switch (kind) {
    case Kind::response_get: return "get_cached_response";
    case Kind::response_set: return "cache_response";
    case Kind::fetch: return "get_or_fetch";
    case Kind::session_get: return "get_session";
    case Kind::session_update: return "update_session";
    case Kind::session_create: return "set_session";
  }
  return "unknown";
}

bool is_session(Kind kind) noexcept {
  return kind == Kind::session_get || kind == Kind::session_update || kind == Kind::session_create;
}

bool is_cache_read(Kind kind) noexcept {
  return kind == Kind::response_get || kind == Kind::fetch;
}

// The longest a request may take by the library's contract: each Valkey round trip it makes is
// bounded by its own deadline (CacheConfig::operation_timeout for the cache, session_timeout
// for sessions), and these are the most round trips each operation makes.
Millis budget(Kind kind) noexcept {
  switch (kind) {
    case Kind::response_get:
    case Kind::response_set: return operation_timeout;  // one GET or SET
    case Kind::fetch:
      // GET, SET NX (lease), then either fetch + SET + release (EVALSHA, EVAL on NOSCRIPT),
      // or waiting for another holder's value: polls of GET + EXISTS for up to lease_wait (the
      // last one may start just before it ends), then fetch + SET.
      return 5 * operation_timeout + lease_wait + lease_poll + fetch_delay;
    case Kind::session_get:
    case Kind::session_create: return session_timeout;  // one GETEX or SET
    case Kind::session_update:
      // GET, then EVALSHA (EVAL after NOSCRIPT). Each worker owns its session, so the compare
      // and set does not lose races to other writers.
      return 3 * session_timeout;
  }
  return operation_timeout;
}

enum class Outcome : std::uint8_t { ok, degraded, failed };

struct Record {
  Kind kind = Kind::response_get;
  Outcome outcome = Outcome::ok;
  bool hit = false;
  Clock::time_point start;
  Clock::time_point end;
};

struct Counters {
  std::uint64_t hits = 0;
  std::uint64_t errors = 0;
  std::uint64_t dropped = 0;
  std::uint64_t invalid = 0;
};

Counters counters(const cache::CacheStats& stats) {
  Counters sum;
  for (const auto& [name, figures] : stats.by_namespace()) {
    sum.hits += figures.hits;
    sum.errors += figures.errors;
    sum.dropped += figures.writes_dropped;
    sum.invalid += figures.invalid;
  }
  return sum;
}

// Values the load writes and expects back; built outside coroutines (g++ 12: no braced lists
// in coroutine bodies).
std::string prompt_text(std::uint32_t i) {
  return "fault prompt " + std::to_string(i);
}

std::string response_text(std::string_view prompt) {
  return "response to " + std::string(prompt) + ": " + std::string(400, 'r');
}

Json item_value(std::string_view id) {
  JsonObject item;
  item["id"] = id;
  item["body"] = "the origin's value of " + std::string(id);
  return item;
}

JsonObject seq_object(std::int64_t seq) {
  JsonObject object;
  object["seq"] = seq;
  return object;
}

cache::Fetcher make_fetcher(std::string id) {
  return [id = std::move(id)]() -> Task<Json> {
    const std::string key = id;
    asio::steady_timer origin(co_await asio::this_coro::executor, fetch_delay);
    co_await origin.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return item_value(key);
  };
}

cache::FetchOptions fetch_options() {
  cache::FetchOptions options;
  options.ttl = cache::Seconds(2);
  options.cross_process = true;
  return options;
}

std::string describe(const valkey::Error& error) {
  if (const auto* server = dynamic_cast<const valkey::ServerError*>(&error)) {
    return "server error " + std::string(server->prefix());
  }
  return error.code().message();
}

std::int64_t ceil_ms(Clock::duration duration) {
  return std::chrono::ceil<Millis>(duration).count();
}

struct Worker {
  int index = 0;
  std::string session_id;
  std::mt19937 rng;
  std::unique_ptr<CacheService> cache;
  std::vector<Record> records;
  std::int64_t next_seq = 0;
  std::int64_t last_acked = 0;     // the seq of the last acknowledged session write
  std::int64_t max_attempted = 0;  // the highest seq ever sent
  bool session_acked = false;      // a set_session was acknowledged (and not found lost since)
  std::int64_t created_seq = 0;    // the seq of the last acknowledged set_session
  std::map<std::int64_t, Clock::time_point> acked_at;  // seq -> when it was acknowledged

  void acknowledged(std::int64_t seq) {
    last_acked = seq;
    acked_at[seq] = Clock::now();
  }
};

struct Performed {
  bool session_missing = false;
};

// The load: a Client and one CacheService per worker (so that each request's effect on the
// cache stats is its own), on an event loop thread of its own.
class Load {
 public:
  // `config`: where Valkey is (a server, a proxy in front of it, or a cluster's seeds); the
  // load sets the rest.
  Load(valkey::ClientConfig config, const SuiteOptions& options, bool session_check)
      : options_(options), session_check_(session_check), all_done_(io_) {
    config.health_check_interval = options.health_check_interval;
    config.client_name = "opencode-cache-faults";
    config.command_timeout = command_timeout;
    config.connect_timeout = connect_timeout;
    config.reconnect.base_delay = 20ms;
    config.reconnect.max_delay = 200ms;
    config.reconnect.max_attempts = 0;
    config.breaker.cool_down = breaker_cool_down;
    config.log = [this](std::string_view line) {
      if (options_.verbose) std::cerr << line << "\n";
      if (line.find("event=loop_failed") != std::string_view::npos) ++loop_failures_;
      log_.emplace_back(line);
      if (log_.size() > kept_log_lines) log_.pop_front();
    };
    client_ = std::make_unique<valkey::Client>(io_.get_executor(), config);

    cache::CacheConfig cache_config;
    cache_config.prefix = "faults";
    cache_config.operation_timeout = operation_timeout;
    cache_config.session_timeout = session_timeout;
    cache_config.lease_ttl = 2000ms;
    cache_config.lease_wait = lease_wait;
    cache_config.lease_poll = lease_poll;
    workers_.resize(static_cast<std::size_t>(options_.workers));
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      Worker& worker = workers_[i];
      worker.index = static_cast<int>(i);
      worker.session_id = "fault-worker-" + std::to_string(i);
      worker.rng.seed(static_cast<std::mt19937::result_type>(1000 + i));
      worker.cache = std::make_unique<CacheService>(*client_, cache_config);
      worker.records.reserve(4096);
    }
  }

  ~Load() {
    if (thread_.joinable()) halt();
  }

  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  // Connects, creates every worker's session, starts the workers; returns once they run.
  void start() {
    std::future<void> ready = ready_.get_future();
    finished_future_ = finished_.get_future();
    asio::co_spawn(io_, main_task(), [this](std::exception_ptr error) {
      if (error) escaped(error);
      finished_.set_value();
    });
    thread_ = std::thread([this] { io_.run(); });
    if (ready.wait_for(setup_limit) != std::future_status::ready) {
      throw std::runtime_error("the load's setup (connect, create sessions) took over 15 s");
    }
    ready.get();  // rethrows a setup failure
  }

  // Lets every worker finish its request in progress, runs the final checks, closes the
  // client. False: that did not end within stop_limit (the loop was then halted).
  bool stop() {
    stopped_at_ = Clock::now();
    stop_.store(true);
    const bool finished = finished_future_.wait_for(stop_limit) == std::future_status::ready;
    halt();
    return finished;
  }

  Clock::time_point stopped_at() const { return stopped_at_; }
  const std::vector<Worker>& workers() const { return workers_; }
  const std::vector<std::string>& escaped_exceptions() const { return escaped_; }
  std::uint64_t loop_failures() const { return loop_failures_; }
  std::uint64_t wrong_values() const { return wrong_values_; }
  std::uint64_t lost_writes() const { return lost_writes_; }
  // For each lost write: when the first write lost was acknowledged.
  const std::vector<Clock::time_point>& lost_acks() const { return lost_acks_; }
  // Connections made by the time the workers started (one per primary on a cluster).
  std::uint64_t initial_connects() const { return initial_connects_; }
  std::uint64_t sessions_lost() const { return sessions_lost_; }
  const std::vector<std::string>& notes() const { return notes_; }
  const std::vector<std::string>& final_problems() const { return final_problems_; }
  const std::map<std::string, std::uint64_t>& failures() const { return failures_; }
  const valkey::ClientStats& client_stats() const { return client_stats_; }
  std::vector<std::string> client_log() const { return {log_.begin(), log_.end()}; }

 private:
  void halt() {
    io_.stop();
    thread_.join();
    // Whatever still waits (only after a hang) fails now and unwinds on this thread.
    client_->close();
    io_.restart();
    io_.run_for(2s);
  }

  void escaped(std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      escaped_.emplace_back(e.what());
    } catch (...) {
      escaped_.emplace_back("an exception of unknown type");
    }
  }

  void note(std::string text) {
    if (notes_.size() < kept_notes) notes_.push_back(std::move(text));
  }

  void wrong_value(const Worker& worker, Kind kind, const std::string& what) {
    ++wrong_values_;
    note("worker " + std::to_string(worker.index) + " " + std::string(kind_name(kind)) + ": " +
         what);
  }

  void session_missing(Worker& worker, std::string_view what) {
    ++sessions_lost_;
    if (session_check_ && worker.session_acked) {
      ++lost_writes_;
      lost_acks_.push_back(worker.acked_at[worker.created_seq]);  // the session's creation
      note("worker " + std::to_string(worker.index) + ": " + std::string(what) + " although seq " +
           std::to_string(worker.last_acked) + " was acknowledged");
    }
    worker.session_acked = false;
  }

  // A stored session must hold a seq this worker sent, and none older than the last one
  // acknowledged (unless the fault is allowed to lose data).
  void check_session(Worker& worker, Kind kind, const JsonObject& session) {
    const Json* seq = session.if_contains("seq");
    if (seq == nullptr || !seq->is_int64()) {
      wrong_value(worker, kind, "the session holds no seq: " + boost::json::serialize(session));
      return;
    }
    const std::int64_t value = seq->as_int64();
    if (value > worker.max_attempted) {
      wrong_value(worker, kind, "read seq " + std::to_string(value) + ", never written");
    }
    if (session_check_ && value < worker.last_acked) {
      ++lost_writes_;
      lost_acks_.push_back(worker.acked_at.upper_bound(value)->second);  // the first one lost
      note("worker " + std::to_string(worker.index) + ": read seq " + std::to_string(value) +
           " after seq " + std::to_string(worker.last_acked) + " was acknowledged");
    }
  }

  static Kind pick(std::mt19937& rng) {
    const auto roll = rng() % 100;
    if (roll < 35) return Kind::response_get;
    if (roll < 50) return Kind::response_set;
    if (roll < 70) return Kind::fetch;
    if (roll < 85) return Kind::session_get;
    return Kind::session_update;
  }

  Task<void> main_task() {
    try {
      co_await client_->connect();
      for (Worker& worker : workers_) {
        co_await worker.cache->set_session(worker.session_id, seq_object(0));
        worker.acknowledged(0);
        worker.session_acked = true;
      }
      initial_connects_ = client_->stats().connects;
    } catch (...) {
      ready_.set_exception(std::current_exception());
      client_->close();
      co_return;
    }
    ready_.set_value();

    workers_left_ = workers_.size();
    for (Worker& worker : workers_) {
      asio::co_spawn(io_, run_worker(worker), [this](std::exception_ptr error) {
        if (error) escaped(error);
        if (--workers_left_ == 0) all_done_.cancel();
      });
    }
    while (workers_left_ > 0) {
      all_done_.expires_at(asio::steady_timer::time_point::max());
      co_await all_done_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_await final_check();
    client_stats_ = client_->stats();
    client_->close();
  }

  Task<void> run_worker(Worker& worker) {
    asio::steady_timer pace(io_);
    while (!stop_.load()) {
      if (co_await request(worker, pick(worker.rng))) {
        co_await request(worker, Kind::session_create);
      }
      pace.expires_after(options_.pace);
      co_await pace.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  // One timed, classified request. True: the worker's session was missing (create it).
  Task<bool> request(Worker& worker, Kind kind) {
    Record record;
    record.kind = kind;
    const Counters before = counters(worker.cache->stats());
    record.start = Clock::now();
    bool failed = false;
    Performed performed;
    try {
      performed = co_await perform(worker, kind);
    } catch (const valkey::Error& e) {
      failed = true;
      ++failures_[std::string(kind_name(kind)) + ": " + describe(e)];
    }
    record.end = Clock::now();
    const Counters after = counters(worker.cache->stats());
    if (after.invalid != before.invalid) {
      wrong_value(worker, kind, "a stored value was not ours to read");
    }
    record.hit = after.hits != before.hits;
    if (failed) {
      record.outcome = Outcome::failed;
    } else if (after.errors != before.errors || after.dropped != before.dropped) {
      record.outcome = Outcome::degraded;
    }
    worker.records.push_back(record);
    co_return performed.session_missing;
  }

  Task<Performed> perform(Worker& worker, Kind kind) {
    CacheService& cache = *worker.cache;
    Performed performed;
    switch (kind) {
      case Kind::response_get: {
        const std::string prompt = prompt_text(worker.rng() % prompt_count);
        const auto response = co_await cache.get_cached_response(prompt, model);
        if (response && *response != response_text(prompt)) {
          wrong_value(worker, kind, "a response that is not the one stored for its prompt");
        }
        break;
      }
      case Kind::response_set: {
        const std::string prompt = prompt_text(worker.rng() % prompt_count);
        const std::string response = response_text(prompt);
        co_await cache.cache_response(prompt, model, response);
        break;
      }
      case Kind::fetch: {
        const std::string id = "item-" + std::to_string(worker.rng() % item_count);
        const cache::Fetcher fetcher = make_fetcher(id);
        const cache::FetchOptions options = fetch_options();
        const Json value = co_await cache.get_or_fetch(id, fetcher, options);
        if (value != item_value(id)) {
          wrong_value(worker, kind, "got " + boost::json::serialize(value) + " for " + id);
        }
        break;
      }
      case Kind::session_get: {
        const auto session = co_await cache.get_session(worker.session_id);
        if (session) {
          check_session(worker, kind, *session);
        } else {
          session_missing(worker, "get_session found no session");
          performed.session_missing = true;
        }
        break;
      }
      case Kind::session_update: {
        const std::int64_t seq = ++worker.next_seq;
        worker.max_attempted = seq;
        const JsonObject updates = seq_object(seq);
        if (co_await cache.update_session(worker.session_id, updates)) {
          worker.acknowledged(seq);
        } else {
          session_missing(worker, "update_session found no session");
          performed.session_missing = true;
        }
        break;
      }
      case Kind::session_create: {
        const std::int64_t seq = ++worker.next_seq;
        worker.max_attempted = seq;
        const JsonObject data = seq_object(seq);
        co_await cache.set_session(worker.session_id, data);
        worker.acknowledged(seq);
        worker.created_seq = seq;
        worker.session_acked = true;
        break;
      }
    }
    co_return performed;
  }

  // After the load: the client must serve normally, and every session must still hold its
  // last acknowledged write.
  Task<void> final_check() {
    try {
      if (client_->breaker_state() != valkey::CircuitBreaker::State::closed) {
        final_problems_.push_back("the circuit breaker is " +
                                  std::string(valkey::to_string(client_->breaker_state())) +
                                  " after recovery");
      }
      CacheService& cache = *workers_.front().cache;
      const Counters before = counters(cache.stats());
      const std::string prompt = "final check";
      const std::string response = response_text(prompt);
      co_await cache.cache_response(prompt, model, response);
      const auto back = co_await cache.get_cached_response(prompt, model);
      const Counters after = counters(cache.stats());
      if (!back || *back != response || after.errors != before.errors ||
          after.dropped != before.dropped) {
        final_problems_.push_back("a response written after recovery was not read back");
      }
      for (Worker& worker : workers_) {
        const auto session = co_await worker.cache->get_session(worker.session_id);
        if (session) {
          check_session(worker, Kind::session_get, *session);
        } else if (session_check_ && worker.session_acked) {
          session_missing(worker, "the final read found no session");
        }
      }
      Worker& first = workers_.front();
      const std::int64_t seq = ++first.next_seq;
      first.max_attempted = seq;
      const JsonObject updates = seq_object(seq);
      if (!co_await first.cache->update_session(first.session_id, updates) && first.session_acked) {
        final_problems_.push_back("a session update after recovery found no session");
      }
    } catch (const valkey::Error& e) {
      final_problems_.push_back(std::string("a request after recovery failed: ") + e.what());
    }
  }

  SuiteOptions options_;
  bool session_check_;
  asio::io_context io_;
  std::unique_ptr<valkey::Client> client_;
  std::vector<Worker> workers_;
  asio::steady_timer all_done_;
  std::atomic<bool> stop_{false};
  Clock::time_point stopped_at_;
  std::thread thread_;
  std::promise<void> ready_;
  std::promise<void> finished_;
  std::future<void> finished_future_;

  // Written on the loop thread, read after it has stopped.
  std::size_t workers_left_ = 0;
  std::vector<std::string> escaped_;
  std::deque<std::string> log_;
  std::uint64_t loop_failures_ = 0;
  std::uint64_t wrong_values_ = 0;
  std::uint64_t lost_writes_ = 0;
  std::vector<Clock::time_point> lost_acks_;
  std::uint64_t initial_connects_ = 0;
  std::uint64_t sessions_lost_ = 0;
  std::vector<std::string> notes_;
  std::vector<std::string> final_problems_;
  std::map<std::string, std::uint64_t> failures_;
  valkey::ClientStats client_stats_;
};

// --- the faults -------------------------------------------------------------------------

struct Window {
  Clock::time_point begin;
  Clock::time_point end;
};

struct Timeline {
  Clock::time_point fault_start;
  Clock::time_point fault_end;
  std::vector<Window> outages;  // Valkey gone: nothing can answer a request
  std::uint64_t clients_killed = 0;
};

testing::ValkeyServerOptions server_options(Fault fault) {
  testing::ValkeyServerOptions options;
  if (fault == Fault::kill_restart) {
    // Every acknowledged write is in the AOF before its reply, so kill -9 must not lose one.
    options.config.emplace_back("appendonly", "yes");
    options.config.emplace_back("appendfsync", "always");
    // A killed process leaves the page cache behind, so an AOF in memory shows the same, and
    // the fsync of every write then waits for no disk the other tests flush to: with the AOF
    // on disk, this was the one fault whose cache reads ran past their 250 ms before the fault
    // began (twice, in the ASan stage).
    if (::access(memory_backed_dir, W_OK) == 0) options.temp_base = memory_backed_dir;
  }
  if (fault == Fault::oom) options.config.emplace_back("maxmemory-policy", "noeviction");
  return options;
}

std::uint64_t parse_number(std::string_view text) {
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') break;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

// "name:value" or "name:count=value" in INFO output; 0 when absent.
std::uint64_t info_number(std::string_view info, std::string_view name) {
  const std::string needle = std::string(name) + ":";
  const auto at = info.find(needle);
  if (at == std::string_view::npos) return 0;
  std::string_view rest = info.substr(at + needle.size());
  if (rest.starts_with("count=")) rest.remove_prefix(6);
  return parse_number(rest);
}

// What stands around the server for the faults that need more than the server itself.
struct Surroundings {
  testing::FaultProxy* address = nullptr;    // the primary's address, as clients reach it
  testing::ValkeyServer* standby = nullptr;  // a replica of the primary, promoted by failover
};

std::uint64_t replication_offset(const testing::ValkeyServer& server) {
  return info_number(server.cli({"INFO", "replication"}), "master_repl_offset");
}

void wait_for_replica(const testing::ValkeyServer& replica) {
  const auto give_up = Clock::now() + setup_limit;
  while (replica.cli({"INFO", "replication"}).find("master_link_status:up") == std::string::npos) {
    if (Clock::now() > give_up) throw std::runtime_error("the replica never synced");
    std::this_thread::sleep_for(10ms);
  }
}

// A manual failover as Sentinel does it: writes paused on the primary until the replica has
// all of them, the replica promoted, the old primary made its replica, the address moved, and
// writes let go (they meet READONLY on the old primary and go to the new one).
void fail_over(testing::ValkeyServer& primary, testing::ValkeyServer& standby,
               testing::FaultProxy& address) {
  primary.cli({"CLIENT", "PAUSE", "5000", "WRITE"});
  const auto give_up = Clock::now() + setup_limit;
  while (replication_offset(standby) < replication_offset(primary)) {
    if (Clock::now() > give_up) throw std::runtime_error("the replica never caught up");
    std::this_thread::sleep_for(5ms);
  }
  standby.cli({"REPLICAOF", "NO", "ONE"});
  primary.cli({"REPLICAOF", "127.0.0.1", std::to_string(standby.port())});
  address.retarget(standby.port());
  primary.cli({"CLIENT", "UNPAUSE"});
}

Timeline inject(Fault fault, testing::ValkeyServer& server, const Surroundings& around) {
  Timeline timeline;
  timeline.fault_start = Clock::now();
  switch (fault) {
    case Fault::kill_restart: {
      server.kill();
      const auto down = Clock::now();
      std::this_thread::sleep_for(kill_outage);
      timeline.outages.push_back(Window{down, Clock::now()});
      server.start();
      break;
    }
    case Fault::sigstop: {
      server.pause();
      const auto stopped = Clock::now();
      std::this_thread::sleep_for(stop_duration);
      timeline.outages.push_back(Window{stopped, Clock::now()});
      server.resume();
      break;
    }
    case Fault::client_kill: {
      for (int round = 0; round < client_kill_rounds; ++round) {
        if (round > 0) std::this_thread::sleep_for(client_kill_interval);
        timeline.clients_killed +=
            parse_number(server.cli({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}));
      }
      break;
    }
    case Fault::empty_restart: {
      server.stop();
      timeline.outages.push_back(Window{Clock::now(), Clock::now()});
      server.start();
      break;
    }
    case Fault::oom: {
      const std::uint64_t used = info_number(server.cli({"INFO", "memory"}), "used_memory");
      server.cli({"CONFIG", "SET", "maxmemory", std::to_string(used + 2 * 1024 * 1024)});
      bool refused = false;
      for (int round = 0; round < 40 && !refused; ++round) {
        server.cli({"DEBUG", "POPULATE", "5000", "oomfill" + std::to_string(round), "256"});
        refused = server.cli({"SET", "oom-probe", "x"}).starts_with("OOM");
      }
      if (!refused) throw std::runtime_error("the server never refused a write with OOM");
      std::this_thread::sleep_for(oom_duration);
      server.cli({"CONFIG", "SET", "maxmemory", "0"});
      break;
    }
    case Fault::slow_server: {
      for (int round = 0; round < debug_sleeps; ++round) {
        if (round > 0) std::this_thread::sleep_for(debug_sleep_interval);
        server.cli({"DEBUG", "SLEEP", debug_sleep_seconds});
      }
      break;
    }
    case Fault::blackhole: around.address->blackhole_open_connections(); break;
    case Fault::demoted_primary: fail_over(server, *around.standby, *around.address); break;
    case Fault::cluster_primary_kill:
    case Fault::cluster_primary_pause:
    case Fault::cluster_reshard:
      throw std::logic_error("a cluster fault on one server: " + std::string(name(fault)));
  }
  timeline.fault_end = Clock::now();
  return timeline;
}

// "what xN", comma-separated.
void append_count(std::string& text, const std::string& what, std::uint64_t count) {
  text += (text.empty() ? "" : ", ") + what + " x" + std::to_string(count);
}

std::string join_failures(const std::map<std::string, std::uint64_t>& failures, bool sessions) {
  std::string text;
  for (const auto& [reason, count] : failures) {
    const bool session = reason.find("session") != std::string::npos;
    if (session == sessions) append_count(text, reason, count);
  }
  return text;
}

void judge(Fault fault, const Timeline& timeline, const Load& load, const SuiteOptions& options,
           bool stopped_in_time, FaultReport& report) {
  auto& problems = report.problems;
  Clock::time_point recovered_at = timeline.fault_end;
  Clock::duration worst_overrun{0};
  std::string worst_overrun_text;
  std::uint64_t ok_before_fault = 0;
  std::map<std::string, std::uint64_t> early_failures;  // "kind outcome" -> count

  for (const Worker& worker : load.workers()) {
    for (const Record& record : worker.records) {
      const auto latency = record.end - record.start;
      report.max_latency_ms = std::max(report.max_latency_ms, ceil_ms(latency));
      const auto overrun = latency - (budget(record.kind) + options.slack);
      if (overrun > Clock::duration::zero()) {
        ++report.over_deadline;
        if (overrun > worst_overrun) {
          worst_overrun = overrun;
          worst_overrun_text = std::string(kind_name(record.kind)) + " took " +
                               std::to_string(ceil_ms(latency)) + " ms, budget " +
                               std::to_string(budget(record.kind).count()) + " ms";
        }
      }
      switch (record.outcome) {
        case Outcome::ok: ++report.ok; break;
        case Outcome::degraded: ++report.degraded; break;
        case Outcome::failed: ++report.failed; break;
      }
      if (record.outcome == Outcome::ok && record.end < timeline.fault_start) ++ok_before_fault;
      if (record.outcome != Outcome::ok) {
        recovered_at = std::max(recovered_at, record.end);
        if (record.end < timeline.fault_start) {
          ++report.early_failures;
          ++early_failures[std::string(kind_name(record.kind)) +
                           (record.outcome == Outcome::failed ? " failed" : " degraded")];
        }
      }
      if (record.outcome == Outcome::failed && !is_session(record.kind)) ++report.cache_failures;
      if (record.kind == Kind::response_get && record.outcome == Outcome::degraded &&
          record.start >= timeline.fault_start && record.start <= timeline.fault_end) {
        ++report.reads_degraded_in_fault;
      }
      if (is_cache_read(record.kind) && record.outcome != Outcome::failed) {
        for (const Window& outage : timeline.outages) {
          if (record.start < outage.begin || record.end > outage.end) continue;
          ++report.outage_reads;
          if (record.hit) ++report.outage_read_hits;
        }
      }
    }
  }

  // Recovery: every request that ended after recovered_at was ok; each kind must have been
  // served again, for long enough to count.
  std::array<std::uint64_t, kind_count> ok_after{};
  for (const Worker& worker : load.workers()) {
    for (const Record& record : worker.records) {
      if (record.outcome == Outcome::ok && record.start >= recovered_at) {
        ++report.ok_after_recovery;
        ++ok_after[static_cast<std::size_t>(record.kind)];
      }
    }
  }
  report.stable_ms = ceil_ms(load.stopped_at() - recovered_at);
  std::string unserved;
  for (Kind kind : {Kind::response_get, Kind::response_set, Kind::fetch, Kind::session_get,
                    Kind::session_update}) {
    if (ok_after[static_cast<std::size_t>(kind)] == 0) {
      unserved += (unserved.empty() ? "" : ", ") + std::string(kind_name(kind));
    }
  }
  const bool recovered =
      stopped_in_time && report.stable_ms >= options.min_stable.count() && unserved.empty();
  if (recovered) report.recovery_ms = ceil_ms(recovered_at - timeline.fault_end);

  report.wrong_values = load.wrong_values();
  report.lost_writes = load.lost_writes();
  if (fault == Fault::cluster_primary_kill || fault == Fault::cluster_primary_pause) {
    for (const Clock::time_point acked : load.lost_acks()) {
      if (acked <= timeline.fault_start && acked >= timeline.fault_start - replication_window) {
        ++report.unreplicated_writes;
      }
    }
  }
  report.sessions_lost = load.sessions_lost();
  report.failures = load.failures();
  report.client_log = load.client_log();
  report.breaker_transitions = load.client_stats().breaker_transitions;
  const std::uint64_t connects = load.client_stats().connects;
  report.reconnects = connects > load.initial_connects() ? connects - load.initial_connects() : 0;
  report.clients_killed = timeline.clients_killed;
  for (const Worker& worker : load.workers()) {
    for (const auto& [name, figures] : worker.cache->stats().by_namespace()) {
      report.writes_dropped += figures.writes_dropped;
    }
  }
  report.crashed = !load.escaped_exceptions().empty() || load.loop_failures() > 0;

  // The verdict.
  for (const std::string& what : load.escaped_exceptions()) {
    problems.push_back("an exception escaped into the event loop: " + what);
  }
  if (load.loop_failures() > 0) problems.push_back("the client's connection loop failed");
  if (!stopped_in_time) {
    problems.push_back("the load did not stop within " + std::to_string(stop_limit.count()) +
                       " ms of being asked to");
  }
  if (ok_before_fault == 0) problems.push_back("no request succeeded before the fault");
  if (report.over_deadline > 0) {
    problems.push_back(
        std::to_string(report.over_deadline) + " requests ended past their deadline (+" +
        std::to_string(options.slack.count()) + " ms slack); worst: " + worst_overrun_text);
  }
  if (!report.recovery_ms) {
    problems.push_back("no full recovery: after the last request that was not ok, the load ran " +
                       std::to_string(report.stable_ms) + " ms (needs " +
                       std::to_string(options.min_stable.count()) + ")" +
                       (unserved.empty() ? "" : "; never served again: " + unserved));
  } else if (*report.recovery_ms > options.recovery_limit.count()) {
    problems.push_back("recovery took " + std::to_string(*report.recovery_ms) + " ms (limit " +
                       std::to_string(options.recovery_limit.count()) + ")");
  }
  for (const std::string& what : load.final_problems()) problems.push_back(what);
  if (report.cache_failures > 0) {
    problems.push_back(std::to_string(report.cache_failures) +
                       " cache operations threw instead of failing soft: " +
                       join_failures(report.failures, false));
  }
  if (report.early_failures > 0) {
    std::string kinds;
    for (const auto& [what, count] : early_failures) append_count(kinds, what, count);
    problems.push_back(std::to_string(report.early_failures) +
                       " requests were not ok before the fault began: " + kinds);
  }
  const std::uint64_t lost = report.lost_writes - report.unreplicated_writes;
  if (report.wrong_values > 0 || lost > 0) {
    std::string text = std::to_string(report.wrong_values) + " wrong values, " +
                       std::to_string(lost) + " acknowledged session writes lost" +
                       (report.unreplicated_writes > 0
                            ? " (besides " + std::to_string(report.unreplicated_writes) +
                                  " acknowledged just before the failover)"
                            : "");
    for (const std::string& what : load.notes()) text += "; " + what;
    problems.push_back(text);
  }
  // The fault must have reached the client. CLIENT KILL may well pass unseen by callers (reads
  // in flight are sent again); the reconnects show it happened. So may a restart at once, when
  // the server is back before any caller's deadline (its NOSCRIPT and lost sessions are checked
  // below), and a paused failover. A reshard must pass unseen by callers: the nodes' ASK
  // replies show it happened.
  const bool reconnects_show_it = fault == Fault::client_kill || fault == Fault::empty_restart ||
                                  fault == Fault::demoted_primary;
  bool visible = report.degraded + report.failed > 0;
  if (reconnects_show_it) visible = report.reconnects > 0;
  if (fault == Fault::cluster_reshard) visible = report.server_ask > 0;
  if (!visible) problems.push_back("the fault had no visible effect on the client");
  if (report.outage_read_hits > 0) {
    problems.push_back(std::to_string(report.outage_read_hits) +
                       " cache reads were hits while Valkey was gone");
  }
  switch (fault) {
    case Fault::kill_restart:
    case Fault::sigstop:
      if (report.outage_reads == 0) {
        problems.push_back("no cache read was answered while Valkey was gone");
      }
      break;
    case Fault::client_kill:
      if (report.clients_killed == 0) problems.push_back("CLIENT KILL closed no connection");
      break;
    case Fault::empty_restart:
      if (report.server_noscript == 0) problems.push_back("the restarted server saw no NOSCRIPT");
      if (report.sessions_lost == 0) problems.push_back("no session was lost in the restart");
      break;
    case Fault::oom:
      if (report.server_oom == 0) problems.push_back("the server refused no write with OOM");
      if (report.writes_dropped == 0) problems.push_back("no cache write was dropped under OOM");
      if (report.reads_degraded_in_fault > 0) {
        problems.push_back(std::to_string(report.reads_degraded_in_fault) +
                           " response reads degraded while only writes were refused");
      }
      break;
    case Fault::slow_server: break;
    case Fault::blackhole:
      if (report.reconnects == 0)
        problems.push_back("the black-holed connection was never replaced");
      break;
    case Fault::demoted_primary:
      if (report.reconnects == 0) problems.push_back("the client never left the demoted primary");
      break;
    case Fault::cluster_primary_kill:
    case Fault::cluster_primary_pause: break;
    case Fault::cluster_reshard:
      if (report.degraded + report.failed > 0) {
        const std::string reasons =
            join_failures(report.failures, true) + " " + join_failures(report.failures, false);
        problems.push_back(std::to_string(report.degraded) + " requests degraded and " +
                           std::to_string(report.failed) +
                           " failed during the reshard, which must disturb none: " + reasons);
      }
      break;
  }
}

valkey::ClientConfig at_port(std::uint16_t port) {
  valkey::ClientConfig config;
  config.host = "127.0.0.1";
  config.port = port;
  return config;
}

// A cluster fault (cluster_faults.hpp): the same load through a cluster Client.
FaultReport run_cluster_fault(Fault fault, const SuiteOptions& options) {
  FaultReport report;
  report.fault = std::string(name(fault));
  report.session_check = true;

  ClusterBed bed;
  Load load(valkey::ClientConfig::from_url(bed.url()), options, report.session_check);
  load.start();
  std::this_thread::sleep_for(options.warmup);
  const ClusterFaultEvents events = bed.inject(fault);
  // After a failover the load runs on for `settle` from the promotion, which recovery is
  // counted from, and for min_stable at least once the cluster is healthy again (a node
  // rejoining must not disturb it). A reshard leaves nothing to recover from: the load runs on
  // long enough to show it stable.
  const bool failover = fault != Fault::cluster_reshard;
  const auto after_fault = Clock::now() + options.min_stable + (failover ? 0ms : 500ms);
  std::this_thread::sleep_until(failover ? std::max(events.end + options.settle, after_fault)
                                         : after_fault);
  const bool stopped_in_time = load.stop();

  for (const std::string& errorstats : bed.errorstats()) {
    report.server_noscript += info_number(errorstats, "errorstat_NOSCRIPT");
    report.server_oom += info_number(errorstats, "errorstat_OOM");
    report.server_ask += info_number(errorstats, "errorstat_ASK");
    report.server_moved += info_number(errorstats, "errorstat_MOVED");
  }
  if (failover) report.failover_ms = ceil_ms(events.end - events.start);
  report.slots_moved = events.slots_moved;
  report.keys_moved = events.keys_moved;
  Timeline timeline;
  timeline.fault_start = events.start;
  timeline.fault_end = events.end;
  judge(fault, timeline, load, options, stopped_in_time, report);
  for (const std::string& problem : events.problems) report.problems.push_back(problem);
  return report;
}

}  // namespace

const std::vector<Fault>& all_faults() {
  static const std::vector<Fault> faults = {Fault::kill_restart,
                                            Fault::sigstop,
                                            Fault::client_kill,
                                            Fault::empty_restart,
                                            Fault::oom,
                                            Fault::slow_server,
                                            Fault::blackhole,
                                            Fault::demoted_primary,
                                            Fault::cluster_primary_kill,
                                            Fault::cluster_primary_pause,
                                            Fault::cluster_reshard};
  return faults;
}

std::string_view name(Fault fault) noexcept {
  switch (fault) {
    case Fault::kill_restart: return "kill_restart";
    case Fault::sigstop: return "sigstop";
    case Fault::client_kill: return "client_kill";
    case Fault::empty_restart: return "empty_restart";
    case Fault::oom: return "oom";
    case Fault::slow_server: return "slow_server";
    case Fault::blackhole: return "blackhole";
    case Fault::demoted_primary: return "demoted_primary";
    case Fault::cluster_primary_kill: return "cluster_primary_kill";
    case Fault::cluster_primary_pause: return "cluster_primary_pause";
    case Fault::cluster_reshard: return "cluster_reshard";
  }
  return "unknown";
}

std::string_view description(Fault fault) noexcept {
  switch (fault) {
    case Fault::kill_restart: return "kill -9, down 1.5 s, restart (AOF, appendfsync always)";
    case Fault::sigstop: return "SIGSTOP for 2 s, then SIGCONT: sockets open, no answers";
    case Fault::client_kill: return "CLIENT KILL of our connection, 5 times 400 ms apart";
    case Fault::empty_restart: return "SIGTERM and restart at once: keys and scripts gone";
    case Fault::oom: return "maxmemory reached with noeviction for 2 s: writes refused (OOM)";
    case Fault::slow_server: return "DEBUG SLEEP 0.5, 4 times 150 ms apart";
    case Fault::blackhole: return "the open connection carries nothing more, no FIN or RST";
    case Fault::demoted_primary:
      return "failover: writes paused, replica promoted, primary demoted, address moved";
    case Fault::cluster_primary_kill:
      return "cluster of 3+3: kill -9 of a primary, its replica promoted";
    case Fault::cluster_primary_pause:
      return "cluster of 3+3: SIGSTOP of a primary until its replica is promoted, then SIGCONT";
    case Fault::cluster_reshard:
      return "cluster of 3+3: the slots of load keys on a primary moved (ASK for 1 s, then MOVED)";
  }
  return "";
}

std::optional<Fault> fault_named(std::string_view wanted) {
  for (Fault fault : all_faults()) {
    if (name(fault) == wanted) return fault;
  }
  return std::nullopt;
}

FaultReport run_fault(Fault fault, const SuiteOptions& options) {
  if (is_cluster(fault)) return run_cluster_fault(fault, options);
  FaultReport report;
  report.fault = std::string(name(fault));
  report.session_check = fault != Fault::empty_restart;

  testing::ValkeyServer server(server_options(fault));
  std::optional<testing::ValkeyServer> standby;
  if (fault == Fault::demoted_primary) {
    standby.emplace(server_options(fault));
    standby->cli({"REPLICAOF", "127.0.0.1", std::to_string(server.port())});
    wait_for_replica(*standby);
  }
  std::optional<testing::FaultProxy> address;
  if (fault == Fault::blackhole || fault == Fault::demoted_primary) address.emplace(server.port());
  Load load(at_port(address ? address->port() : server.port()), options, report.session_check);
  load.start();
  std::this_thread::sleep_for(options.warmup);
  const Surroundings around{address ? &*address : nullptr, standby ? &*standby : nullptr};
  const Timeline timeline = inject(fault, server, around);
  std::this_thread::sleep_for(options.settle);
  const bool stopped_in_time = load.stop();

  const std::string errorstats = server.cli({"INFO", "errorstats"});
  report.server_noscript = info_number(errorstats, "errorstat_NOSCRIPT");
  report.server_oom = info_number(errorstats, "errorstat_OOM");
  judge(fault, timeline, load, options, stopped_in_time, report);
  return report;
}

// --- output -----------------------------------------------------------------------------

namespace {

// A figure that may be missing: null in JSON.
boost::json::value optional_json(const std::optional<std::int64_t>& figure) {
  if (figure) return *figure;
  return nullptr;
}

std::optional<std::int64_t> optional_from(const boost::json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  if (value == nullptr || value->is_null()) return std::nullopt;
  return boost::json::value_to<std::int64_t>(*value);
}

}  // namespace

std::string to_json(const FaultReport& report, bool with_evidence) {
  boost::json::object object;
  object["fault"] = report.fault;
  object["ok"] = report.ok;
  object["degraded"] = report.degraded;
  object["failed"] = report.failed;
  object["max_latency_ms"] = report.max_latency_ms;
  object["recovery_ms"] = optional_json(report.recovery_ms);
  object["crashed"] = report.crashed;
  object["over_deadline"] = report.over_deadline;
  object["lost_writes"] = report.lost_writes;
  object["unreplicated_writes"] = report.unreplicated_writes;
  object["passed"] = report.passed();
  boost::json::array problems;
  for (const std::string& problem : report.problems) problems.emplace_back(problem);
  object["problems"] = std::move(problems);
  if (with_evidence) {
    boost::json::object evidence;
    evidence["session_check"] = report.session_check;
    evidence["wrong_values"] = report.wrong_values;
    evidence["cache_failures"] = report.cache_failures;
    evidence["early_failures"] = report.early_failures;
    evidence["outage_reads"] = report.outage_reads;
    evidence["outage_read_hits"] = report.outage_read_hits;
    evidence["ok_after_recovery"] = report.ok_after_recovery;
    evidence["stable_ms"] = report.stable_ms;
    evidence["sessions_lost"] = report.sessions_lost;
    evidence["reads_degraded_in_fault"] = report.reads_degraded_in_fault;
    evidence["writes_dropped"] = report.writes_dropped;
    evidence["server_noscript"] = report.server_noscript;
    evidence["server_oom"] = report.server_oom;
    evidence["clients_killed"] = report.clients_killed;
    evidence["breaker_transitions"] = report.breaker_transitions;
    evidence["reconnects"] = report.reconnects;
    evidence["failover_ms"] = optional_json(report.failover_ms);
    evidence["slots_moved"] = report.slots_moved;
    evidence["keys_moved"] = report.keys_moved;
    evidence["server_ask"] = report.server_ask;
    evidence["server_moved"] = report.server_moved;
    boost::json::object failures;
    for (const auto& [reason, count] : report.failures) failures[reason] = count;
    evidence["failures"] = std::move(failures);
    boost::json::array log;
    for (const std::string& line : report.client_log) log.emplace_back(line);
    evidence["client_log"] = std::move(log);
    object["evidence"] = std::move(evidence);
  }
  return boost::json::serialize(object);
}

FaultReport from_json(std::string_view line) {
  const boost::json::object object = boost::json::parse(line).as_object();
  const auto number = [&](std::string_view key) -> std::uint64_t {
    const auto* value = object.if_contains(key);
    return value != nullptr ? boost::json::value_to<std::uint64_t>(*value) : 0;
  };
  FaultReport report;
  report.fault = std::string(object.at("fault").as_string());
  report.ok = number("ok");
  report.degraded = number("degraded");
  report.failed = number("failed");
  report.max_latency_ms = static_cast<std::int64_t>(number("max_latency_ms"));
  report.recovery_ms = optional_from(object, "recovery_ms");
  report.crashed = object.at("crashed").as_bool();
  report.over_deadline = number("over_deadline");
  report.lost_writes = number("lost_writes");
  report.unreplicated_writes = number("unreplicated_writes");
  if (const auto* problems = object.if_contains("problems")) {
    for (const auto& problem : problems->as_array()) {
      report.problems.emplace_back(problem.as_string());
    }
  }
  const auto* evidence_value = object.if_contains("evidence");
  if (evidence_value == nullptr) return report;
  const boost::json::object& evidence = evidence_value->as_object();
  const auto figure = [&](std::string_view key) -> std::uint64_t {
    const auto* value = evidence.if_contains(key);
    return value != nullptr ? boost::json::value_to<std::uint64_t>(*value) : 0;
  };
  report.session_check = evidence.at("session_check").as_bool();
  report.wrong_values = figure("wrong_values");
  report.cache_failures = figure("cache_failures");
  report.early_failures = figure("early_failures");
  report.outage_reads = figure("outage_reads");
  report.outage_read_hits = figure("outage_read_hits");
  report.ok_after_recovery = figure("ok_after_recovery");
  report.stable_ms = boost::json::value_to<std::int64_t>(evidence.at("stable_ms"));
  report.sessions_lost = figure("sessions_lost");
  report.reads_degraded_in_fault = figure("reads_degraded_in_fault");
  report.writes_dropped = figure("writes_dropped");
  report.server_noscript = figure("server_noscript");
  report.server_oom = figure("server_oom");
  report.clients_killed = figure("clients_killed");
  report.breaker_transitions = figure("breaker_transitions");
  report.reconnects = figure("reconnects");
  report.failover_ms = optional_from(evidence, "failover_ms");
  report.slots_moved = figure("slots_moved");
  report.keys_moved = figure("keys_moved");
  report.server_ask = figure("server_ask");
  report.server_moved = figure("server_moved");
  for (const auto& [reason, count] : evidence.at("failures").as_object()) {
    report.failures[std::string(reason)] = boost::json::value_to<std::uint64_t>(count);
  }
  for (const auto& line : evidence.at("client_log").as_array()) {
    report.client_log.emplace_back(line.as_string());
  }
  return report;
}

std::string table_header() {
  char line[256];
  std::snprintf(line, sizeof line, "%-21s %8s %9s %7s %15s %12s %8s %14s %12s  %s\n", "fault", "ok",
                "degraded", "failed", "max_latency_ms", "recovery_ms", "crashed", "over_deadline",
                "lost_writes", "result");
  return line;
}

std::string table_row(const FaultReport& report) {
  const std::string recovery = report.recovery_ms ? std::to_string(*report.recovery_ms) : "never";
  char line[256];
  std::snprintf(line, sizeof line,
                "%-21s %8" PRIu64 " %9" PRIu64 " %7" PRIu64 " %15" PRId64 " %12s %8s %14" PRIu64
                " %12" PRIu64 "  %s\n",
                report.fault.c_str(), report.ok, report.degraded, report.failed,
                report.max_latency_ms, recovery.c_str(), report.crashed ? "yes" : "no",
                report.over_deadline, report.lost_writes, report.passed() ? "pass" : "FAIL");
  return line;
}

std::string details(const FaultReport& report) {
  std::string text =
      "  " + report.fault + ": cache reads answered while Valkey was gone " +
      std::to_string(report.outage_reads) + " (hits " + std::to_string(report.outage_read_hits) +
      "), cache writes dropped " + std::to_string(report.writes_dropped) + ", sessions lost " +
      std::to_string(report.sessions_lost) +
      (report.session_check ? " (checked)" : " (expected: data gone)") + ", NOSCRIPT " +
      std::to_string(report.server_noscript) + ", OOM " + std::to_string(report.server_oom) +
      ", clients killed " + std::to_string(report.clients_killed) + ", breaker transitions " +
      std::to_string(report.breaker_transitions) + ", reconnects " +
      std::to_string(report.reconnects) + ", ok after recovery " +
      std::to_string(report.ok_after_recovery) + " over " + std::to_string(report.stable_ms) +
      " ms\n";
  if (report.fault.starts_with("cluster_")) {
    text += "    cluster: promotion seen " +
            (report.failover_ms ? std::to_string(*report.failover_ms) + " ms" : "-") +
            " after the signal, slots moved " + std::to_string(report.slots_moved) + " (keys " +
            std::to_string(report.keys_moved) + "), ASK " + std::to_string(report.server_ask) +
            ", MOVED " + std::to_string(report.server_moved) +
            ", writes lost to asynchronous replication " +
            std::to_string(report.unreplicated_writes) + "\n";
  }
  const std::string session_failures = join_failures(report.failures, true);
  const std::string cache_failures = join_failures(report.failures, false);
  if (!session_failures.empty()) text += "    session failures: " + session_failures + "\n";
  if (!cache_failures.empty()) text += "    cache failures: " + cache_failures + "\n";
  for (const std::string& problem : report.problems) text += "    PROBLEM: " + problem + "\n";
  return text;
}

}  // namespace opencode_cache::faults

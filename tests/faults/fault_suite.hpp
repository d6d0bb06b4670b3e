#pragma once

// The fault-injection suite: a real valkey-server under steady load from many coroutines going
// through CacheService, one fault injected while the load runs, and a verdict on what the
// callers saw. Shared by the gtest suite (FaultInjection.*) and the fault_runner program.
//
// Each request is timed and classified:
//   ok        Valkey answered (a hit, a real miss, a stored write, a session read or update);
//   degraded  the cache answered without Valkey: a miss served, a write dropped, the fetcher's
//             value used, because Valkey failed or was unreachable (the cache stats say so);
//   failed    an exception reached the caller: allowed for session operations only, and only
//             from the fault's start until recovery.
// Recovery is the time from the fault's end until the last request that was not ok ended;
// after it, every request must be ok until the load stops.
//
// The cluster faults (cluster_..., cluster_faults.hpp) run the same load through a cluster
// Client on a real Valkey Cluster (3 primaries, 3 replicas) and are judged the same way, with
// these differences:
//   - a failover's end is the promotion of the replica, seen by polling the cluster: recovery
//     is counted from it;
//   - a reshard must not disturb a single request: every request ok (ASK and MOVED followed),
//     and the servers must have answered ASK (errorstat_ASK), or the fault did not happen;
//   - a session write the primary acknowledged within replication_window before it was
//     killed or stopped, then missing on the promoted replica, is Valkey's asynchronous
//     replication (a primary answers before its replica has the write, and the cluster does
//     not wait for it: no WAIT in CacheService). It is counted in lost_writes and apart in
//     unreplicated_writes, and does not fail the fault; any other lost write does.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace opencode_cache::faults {

enum class Fault : std::uint8_t {
  kill_restart,   // SIGKILL, down for a while, started again (AOF with appendfsync always)
  sigstop,        // SIGSTOP, then SIGCONT: the server hangs with its sockets open
  client_kill,    // CLIENT KILL of our connection, several times
  empty_restart,  // stopped and started again at once with an empty dataset: keys and scripts gone
  oom,            // maxmemory reached with noeviction: writes get OOM replies
  slow_server,    // DEBUG SLEEP, several times: the server stalls, then catches up
  blackhole,      // the connection stops carrying bytes, without FIN or RST (a partition)
  demoted_primary,  // failover: the primary becomes a replica, its replica the primary, and the
                    // address moves; the old connection now answers writes with READONLY
  cluster_primary_kill,   // Valkey Cluster: SIGKILL of a primary, its replica promoted
  cluster_primary_pause,  // Valkey Cluster: SIGSTOP of a primary until its replica is promoted,
                          // then SIGCONT: it rejoins as a replica
  cluster_reshard,        // Valkey Cluster: the slots of load keys moved to another primary
};

const std::vector<Fault>& all_faults();
std::string_view name(Fault fault) noexcept;
std::string_view description(Fault fault) noexcept;
std::optional<Fault> fault_named(std::string_view name);

struct SuiteOptions {
  int workers = 32;                                // coroutines issuing requests
  std::chrono::milliseconds pace{10};              // each worker's pause between requests
  std::chrono::milliseconds warmup{1000};          // load before the fault
  std::chrono::milliseconds settle{4500};          // load after the fault's end
  std::chrono::milliseconds recovery_limit{3000};  // the longest recovery that passes
  std::chrono::milliseconds min_stable{1000};      // all-ok load needed after recovery
  // How far past its budget a request may end: scheduling on a busy (or sanitized) build.
  std::chrono::milliseconds slack{250};
  // The client's health check: a dead connection is found within twice this.
  std::chrono::milliseconds health_check_interval{500};
  bool verbose = false;  // the client's state-change log lines go to stderr
};

struct FaultReport {
  std::string fault;
  std::uint64_t ok = 0;
  std::uint64_t degraded = 0;
  std::uint64_t failed = 0;
  std::int64_t max_latency_ms = 0;
  std::optional<std::int64_t> recovery_ms;  // none: requests never became all ok again
  // The process died, or an exception other than valkey::Error escaped into the event loop,
  // or the client's connection loop failed.
  bool crashed = false;
  std::uint64_t over_deadline = 0;  // requests that ended past their budget plus slack
  std::uint64_t lost_writes = 0;    // acknowledged session writes later missing
  // ... of which a failed-over primary acknowledged just before it died (see above).
  std::uint64_t unreplicated_writes = 0;

  // The evidence behind the verdict.
  bool session_check = false;          // were acknowledged session writes checked?
  std::uint64_t wrong_values = 0;      // a value that is not what was stored
  std::uint64_t cache_failures = 0;    // exceptions from cache operations (never allowed)
  std::uint64_t early_failures = 0;    // requests not ok before the fault began
  std::uint64_t outage_reads = 0;      // cache reads begun and answered while Valkey was gone
  std::uint64_t outage_read_hits = 0;  // ... that were hits (impossible without Valkey)
  std::uint64_t ok_after_recovery = 0;
  std::int64_t stable_ms = 0;                 // all-ok load after recovery until the load stopped
  std::uint64_t sessions_lost = 0;            // sessions found missing (expected after restarts)
  std::uint64_t reads_degraded_in_fault = 0;  // response reads degraded during the fault
  std::uint64_t writes_dropped = 0;           // cache writes dropped over the whole run
  std::uint64_t server_noscript = 0;          // the server's errorstat_NOSCRIPT at the end
  std::uint64_t server_oom = 0;               // the server's errorstat_OOM at the end
  std::uint64_t clients_killed = 0;           // connections CLIENT KILL closed
  std::uint64_t breaker_transitions = 0;
  std::uint64_t reconnects = 0;
  // Cluster faults: the signal until the promotion was seen (kill, pause); slots and keys
  // moved (reshard); ASK and MOVED replies the nodes sent.
  std::optional<std::int64_t> failover_ms;
  std::uint64_t slots_moved = 0;
  std::uint64_t keys_moved = 0;
  std::uint64_t server_ask = 0;
  std::uint64_t server_moved = 0;
  std::map<std::string, std::uint64_t> failures;  // "<operation>: <error>" -> count
  std::vector<std::string> client_log;            // the client's state-change lines (last 100)

  std::vector<std::string> problems;  // every property that did not hold; empty: passed
  bool passed() const noexcept { return problems.empty(); }
};

// Starts a server, runs the load, injects the fault, and judges. Call from the thread that
// should own the server processes (they die with it). Throws if the harness itself fails.
FaultReport run_fault(Fault fault, const SuiteOptions& options = {});

// One line of JSON: fault, ok, degraded, failed, max_latency_ms, recovery_ms (null when there
// was none), crashed, over_deadline, then lost_writes, unreplicated_writes, passed and
// problems; with_evidence adds "evidence", the other figures of FaultReport.
std::string to_json(const FaultReport& report, bool with_evidence = false);
// The fields back (the runner passes reports between processes this way).
FaultReport from_json(std::string_view line);

std::string table_header();
std::string table_row(const FaultReport& report);
// A few lines of evidence: outage reads, NOSCRIPT and OOM counts, failures by reason.
std::string details(const FaultReport& report);

}  // namespace opencode_cache::faults

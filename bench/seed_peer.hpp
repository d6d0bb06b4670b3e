// The seed's TypeScript (shared/peers/seed-ts, on ioredis) as a benchmark peer: run against
// the benchmark's own valkey-server in the same run, its figures read back.
//
// scripts/seed-peer prepares a copy (copied to a temporary folder, `./setup` = npm install)
// and scripts/bench passes it as --seed-peer=DIR, or --seed-peer-unavailable=REASON when the
// copy or the install failed; a benchmark then says so and prints the rest.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace opencode_cache::bench {

class SeedPeer {
 public:
  // From the program's arguments; not available() when neither flag was given.
  static SeedPeer from_args(int argc, char** argv);

  bool available() const noexcept { return dir_.has_value(); }
  // Why the peer does not run, for the benchmark's notes.
  const std::string& unavailable_reason() const noexcept { return reason_; }

  // Runs `npx tsx bench.ts` with VALKEY_PORT=port and BENCH_SECONDS=seconds; returns each
  // figure's ops_per_s (throughputs) by figure name, as the peer prints one JSON line each.
  // Throws std::runtime_error when the peer fails.
  std::map<std::string, double> run(std::uint16_t port, int seconds) const;

 private:
  std::optional<std::string> dir_;
  std::string reason_;
};

}  // namespace opencode_cache::bench

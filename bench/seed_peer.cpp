#include "seed_peer.hpp"

#include <sstream>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "bench_report.hpp"

namespace opencode_cache::bench {

namespace {

// The value of `"field":` in one JSON line the peer printed (flat objects, no escapes).
std::optional<std::string> field(std::string_view line, std::string_view name) {
  const std::string marker = "\"" + std::string(name) + "\":";
  const auto at = line.find(marker);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(at + marker.size());
  if (!rest.empty() && rest.front() == '"') {
    rest.remove_prefix(1);
    return std::string(rest.substr(0, rest.find('"')));
  }
  return std::string(rest.substr(0, rest.find_first_of(",}")));
}

}  // namespace

SeedPeer SeedPeer::from_args(int argc, char** argv) {
  SeedPeer peer;
  peer.reason_ = "no --seed-peer=DIR given (scripts/bench prepares one)";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--seed-peer=")) {
      peer.dir_ = std::string(arg.substr(std::string_view("--seed-peer=").size()));
      peer.reason_.clear();
    } else if (arg.starts_with("--seed-peer-unavailable=")) {
      peer.reason_ = std::string(arg.substr(std::string_view("--seed-peer-unavailable=").size()));
    }
  }
  return peer;
}

std::map<std::string, double> SeedPeer::run(std::uint16_t port, int seconds) const {
  if (!dir_) throw std::runtime_error("the seed peer is not available: " + reason_);
  // The directory and numbers come from scripts/bench and this program, not from users.
  const std::string script = "cd '" + *dir_ + "' && VALKEY_PORT=" + std::to_string(port) +
                             " BENCH_SECONDS=" + std::to_string(seconds) +
                             " exec npx --no-install tsx bench.ts";
  const std::vector<std::string> argv = {"sh", "-c", script};
  std::istringstream lines(spawn_and_capture(argv));
  std::map<std::string, double> figures;
  for (std::string line; std::getline(lines, line);) {
    const auto figure = field(line, "figure");
    const auto ops = field(line, "ops_per_s");
    if (figure && ops) figures[*figure] = std::stod(*ops);
  }
  if (figures.empty()) throw std::runtime_error("the seed peer printed no figures");
  return figures;
}

}  // namespace opencode_cache::bench

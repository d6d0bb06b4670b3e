// What every benchmark program shares: a report of figures set beside a reference measured in
// the same run, and the few statistics and process helpers the benchmarks need.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace opencode_cache::bench {

struct Figure {
  std::string name;  // such as "parse_mb_s"
  double value = 0;
  std::string unit;  // such as "MB/s" or "us"
  // The same quantity measured for the reference implementation (hiredis, valkey-benchmark...)
  // on the same machine in the same run; empty when there is none.
  std::string ref_name;
  std::optional<double> ref_value;

  // ours / reference: above 1 is better for throughputs, below 1 is better for latencies.
  std::optional<double> ratio() const;
};

class Report {
 public:
  explicit Report(bool json = false) : json_(json) {}

  void add(Figure figure) { figures_.push_back(std::move(figure)); }
  void add(std::string name, double value, std::string unit);
  void add(std::string name, double value, std::string unit, std::string ref_name,
           double ref_value);

  // A table for people, or with --json one object per line for scripts:
  // {"name", "value", "unit", "ref_name", "ref_value", "ratio"}, null where there is no reference.
  void print(std::ostream& out) const;
  const std::vector<Figure>& figures() const noexcept { return figures_; }

 private:
  void print_table(std::ostream& out) const;
  void print_json(std::ostream& out) const;

  bool json_;
  std::vector<Figure> figures_;
};

// True if `flag` (such as "--json") is among the program's arguments.
bool has_flag(int argc, char** argv, std::string_view flag);

// Both throw std::invalid_argument on no samples.
double median(std::vector<double> samples);
// Nearest-rank percentile, `p` in [0, 100]: the smallest sample not below p% of the samples,
// so p99 is a latency that was actually observed.
double percentile(std::vector<double> samples, double p);

// Runs argv[0] (looked up in PATH) with the given arguments and returns what it wrote to
// stdout; its stderr goes to ours. Throws std::runtime_error if it cannot be started or does
// not exit with status 0.
std::string spawn_and_capture(const std::vector<std::string>& argv);

}  // namespace opencode_cache::bench

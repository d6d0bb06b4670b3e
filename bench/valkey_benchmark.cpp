#include "valkey_benchmark.hpp"

#include <sstream>
#include <string_view>
#include <vector>

namespace opencode_cache::bench {
namespace {

std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string field;
  while (std::getline(in, field, ',')) {
    if (field.size() >= 2 && field.front() == '"') field = field.substr(1, field.size() - 2);
    out.push_back(field);
  }
  return out;
}

}  // namespace

ReferenceRow parse_valkey_benchmark_csv(const std::string& csv) {
  std::istringstream lines(csv);
  std::string header_line;
  std::string row_line;
  std::getline(lines, header_line);
  std::getline(lines, row_line);
  const auto header = csv_fields(header_line);
  const auto row = csv_fields(row_line);
  const auto column = [&](std::string_view name) {
    for (std::size_t i = 1; i < header.size() && header.size() <= row.size(); ++i) {
      if (header[i] == name) return std::stod(row[row.size() - header.size() + i]);
    }
    throw std::runtime_error("valkey-benchmark printed no " + std::string(name) + ":\n" + csv);
  };
  return {column("rps"), column("p50_latency_ms") * 1000, column("p99_latency_ms") * 1000};
}

}  // namespace opencode_cache::bench

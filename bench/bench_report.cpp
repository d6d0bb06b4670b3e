#include "bench_report.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <utility>

extern char** environ;

namespace opencode_cache::bench {
namespace {

// Shortest text that reads back as the same double; JSON has no inf or nan, so those are null.
std::string json_number(std::optional<double> value) {
  if (!value || !std::isfinite(*value)) return "null";
  std::array<char, 32> text{};
  const auto [end, ec] = std::to_chars(text.data(), text.data() + text.size(), *value);
  return std::string(text.data(), end);
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      std::array<char, 8> escaped{};
      std::snprintf(escaped.data(), escaped.size(), "\\u%04x", static_cast<unsigned>(c));
      out += escaped.data();
    } else {
      out += c;
    }
  }
  return out + '"';
}

std::string fixed(std::optional<double> value, std::string_view suffix = "") {
  if (!value) return "-";
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << *value << suffix;
  return out.str();
}

std::string system_error(std::string_view what, int error) {
  return std::string(what) + ": " + std::strerror(error);
}

}  // namespace

std::optional<double> Figure::ratio() const {
  if (!ref_value || *ref_value == 0) return std::nullopt;
  return value / *ref_value;
}

void Report::add(std::string name, double value, std::string unit) {
  add(Figure{std::move(name), value, std::move(unit), {}, std::nullopt});
}

void Report::add(std::string name, double value, std::string unit, std::string ref_name,
                 double ref_value) {
  add(Figure{std::move(name), value, std::move(unit), std::move(ref_name), ref_value});
}

void Report::print(std::ostream& out) const {
  if (json_) {
    print_json(out);
  } else {
    print_table(out);
  }
}

void Report::print_json(std::ostream& out) const {
  for (const Figure& figure : figures_) {
    out << "{\"name\":" << json_string(figure.name) << ",\"value\":" << json_number(figure.value)
        << ",\"unit\":" << json_string(figure.unit)
        << ",\"ref_name\":" << (figure.ref_value ? json_string(figure.ref_name) : "null")
        << ",\"ref_value\":" << json_number(figure.ref_value)
        << ",\"ratio\":" << json_number(figure.ratio()) << "}\n";
  }
}

void Report::print_table(std::ostream& out) const {
  const std::array<std::string, 6> header = {"figure",    "ours",      "unit",
                                             "reference", "ref value", "ratio"};
  std::vector<std::array<std::string, 6>> rows = {header};
  for (const Figure& figure : figures_) {
    rows.push_back({figure.name, fixed(figure.value), figure.unit,
                    figure.ref_value ? figure.ref_name : "-", fixed(figure.ref_value),
                    fixed(figure.ratio(), "x")});
  }
  std::array<std::size_t, 6> widths{};
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      // Names left-aligned, numbers right-aligned so that their decimals line up.
      const bool text = i == 0 || i == 2 || i == 3;
      out << (text ? std::left : std::right) << std::setw(static_cast<int>(widths[i])) << row[i]
          << (i + 1 < row.size() ? "  " : "\n");
    }
  }
}

bool has_flag(int argc, char** argv, std::string_view flag) {
  return std::any_of(argv + 1, argv + argc, [flag](const char* arg) { return arg == flag; });
}

double median(std::vector<double> samples) {
  if (samples.empty()) throw std::invalid_argument("median of no samples");
  const auto middle = samples.begin() + static_cast<std::ptrdiff_t>(samples.size() / 2);
  std::nth_element(samples.begin(), middle, samples.end());
  if (samples.size() % 2 == 1) return *middle;
  const double below = *std::max_element(samples.begin(), middle);
  return (below + *middle) / 2;
}

double percentile(std::vector<double> samples, double p) {
  if (samples.empty()) throw std::invalid_argument("percentile of no samples");
  if (!(p >= 0 && p <= 100)) throw std::invalid_argument("percentile outside [0, 100]");
  const auto rank =
      static_cast<std::size_t>(std::ceil(p / 100 * static_cast<double>(samples.size())));
  const auto nth = samples.begin() + static_cast<std::ptrdiff_t>(rank == 0 ? 0 : rank - 1);
  std::nth_element(samples.begin(), nth, samples.end());
  return *nth;
}

std::string spawn_and_capture(const std::vector<std::string>& argv) {
  if (argv.empty()) throw std::invalid_argument("spawn_and_capture: no program");
  std::array<int, 2> pipe_fds{};
  // Close-on-exec, so that no other child started meanwhile holds the pipe open; dup2 clears
  // the flag on the child's stdout.
  if (::pipe2(pipe_fds.data(), O_CLOEXEC) != 0) {
    throw std::runtime_error(system_error("pipe", errno));
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);

  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);

  pid_t pid = 0;
  const int spawn_error = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (spawn_error != 0) {
    ::close(pipe_fds[0]);
    throw std::runtime_error(system_error("cannot run " + argv[0], spawn_error));
  }

  std::string output;
  std::array<char, 64 * 1024> chunk{};
  while (true) {
    const ssize_t n = ::read(pipe_fds[0], chunk.data(), chunk.size());
    if (n > 0) {
      output.append(chunk.data(), static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(pipe_fds[0]);

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    throw std::runtime_error(argv[0] + " killed by signal " + std::to_string(WTERMSIG(status)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(argv[0] + " exited with status " +
                             std::to_string(WEXITSTATUS(status)));
  }
  return output;
}

}  // namespace opencode_cache::bench

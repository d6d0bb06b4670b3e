// Runs the fault-injection suite alone and prints its table (or, with --json, one JSON object
// per fault per line). Each fault runs in a child process of its own, so that a crash is
// reported as crashed: true instead of ending the run.
//
//   fault_runner [--json] [--only NAME[,NAME...]] [--verbose] [--list]
//
// Exits 0 when every fault passed, 1 when one did not, 2 on bad arguments.

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "faults/fault_suite.hpp"

namespace {

using opencode_cache::faults::Fault;
using opencode_cache::faults::FaultReport;
namespace faults = opencode_cache::faults;

constexpr auto child_limit = std::chrono::seconds(120);

void usage(std::ostream& out) {
  out << "usage: fault_runner [--json] [--only NAME[,NAME...]] [--verbose] [--list]\n"
         "  --json     one JSON object per fault per line, instead of the table\n"
         "  --only     run these faults only\n"
         "  --verbose  the client's state-change log lines on stderr\n"
         "  --list     the faults and what each does\n";
}

void write_all(int fd, const std::string& text) {
  std::string_view rest = text;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

[[noreturn]] void run_child(Fault fault, const faults::SuiteOptions& options, int out) {
  FaultReport report;
  try {
    report = faults::run_fault(fault, options);
  } catch (const std::exception& e) {
    report.fault = std::string(faults::name(fault));
    report.problems.push_back(std::string("the suite could not run this fault: ") + e.what());
  }
  write_all(out, faults::to_json(report, true) + "\n");
  std::fflush(nullptr);
  ::_exit(0);
}

// The report, or one that says how the child died.
FaultReport run_isolated(Fault fault, const faults::SuiteOptions& options) {
  FaultReport died;
  died.fault = std::string(faults::name(fault));
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) throw std::runtime_error(std::strerror(errno));
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::strerror(errno));
  if (pid == 0) {
    ::close(pipe_fds[0]);
    run_child(fault, options, pipe_fds[1]);
  }
  ::close(pipe_fds[1]);

  std::string output;
  const auto give_up = std::chrono::steady_clock::now() + child_limit;
  bool timed_out = false;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        give_up - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd entry{pipe_fds[0], POLLIN, 0};
    const int ready = ::poll(&entry, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char chunk[4096];
    const ssize_t n = ::read(pipe_fds[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    died.problems.push_back("the fault did not finish within " +
                            std::to_string(child_limit.count()) + " s");
    return died;
  }
  if (WIFSIGNALED(status)) {
    died.crashed = true;
    died.problems.push_back("the process died of signal " + std::to_string(WTERMSIG(status)) +
                            " (" + strsignal(WTERMSIG(status)) + ")");
    return died;
  }
  try {
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !output.empty()) {
      return faults::from_json(output);
    }
  } catch (const std::exception&) {
  }
  died.crashed = true;
  died.problems.push_back("the process exited with status " +
                          std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                          " without a report");
  return died;
}

std::optional<std::vector<Fault>> parse_only(std::string_view list) {
  std::vector<Fault> chosen;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    const auto fault = faults::fault_named(item);
    if (!fault) {
      std::cerr << "fault_runner: unknown fault '" << item << "'\n";
      return std::nullopt;
    }
    chosen.push_back(*fault);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return chosen;
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  faults::SuiteOptions options;
  std::vector<Fault> chosen = faults::all_faults();
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--json") {
      json = true;
    } else if (arg == "--verbose") {
      options.verbose = true;
    } else if (arg == "--list") {
      for (Fault fault : faults::all_faults()) {
        std::cout << faults::name(fault) << "  " << faults::description(fault) << "\n";
      }
      return 0;
    } else if (arg == "--only" && i + 1 < argc) {
      auto only = parse_only(argv[++i]);
      if (!only || only->empty()) return 2;
      chosen = *only;
    } else if (arg == "-h" || arg == "--help") {
      usage(std::cout);
      return 0;
    } else {
      std::cerr << "fault_runner: unknown argument '" << arg << "'\n";
      usage(std::cerr);
      return 2;
    }
  }

  std::vector<FaultReport> reports;
  if (!json) std::cout << faults::table_header() << std::flush;
  for (Fault fault : chosen) {
    if (!json)
      std::cerr << "== " << faults::name(fault) << ": " << faults::description(fault) << "\n";
    reports.push_back(run_isolated(fault, options));
    if (json) {
      std::cout << faults::to_json(reports.back()) << "\n" << std::flush;
    } else {
      std::cout << faults::table_row(reports.back()) << std::flush;
    }
  }
  bool all_passed = true;
  for (const FaultReport& report : reports) all_passed = all_passed && report.passed();
  if (!json) {
    std::cout << "\n";
    for (const FaultReport& report : reports) std::cout << faults::details(report);
    std::cout << (all_passed ? "all faults passed\n" : "some faults FAILED\n");
  }
  return all_passed ? 0 : 1;
}

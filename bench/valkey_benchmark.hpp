// What the benchmarks share: reading valkey-benchmark's --csv output, and running a task on an
// event loop until it is done.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace opencode_cache::bench {

// One test's figures from `valkey-benchmark --csv` run with one test (one command).
struct ReferenceRow {
  double rps = 0;
  double p50_us = 0;
  double p99_us = 0;
};

// The header and the one row of the output. The test's name is the command, which may hold
// commas (a JSON value), so the figures are taken from the end of the row.
ReferenceRow parse_valkey_benchmark_csv(const std::string& csv);

// Runs `task` on `io` until it finishes, leaving the client's background work pending for the
// next call.
template <class T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> task) {
  std::optional<T> result;
  std::exception_ptr failure;
  boost::asio::co_spawn(io, std::move(task), [&](std::exception_ptr error, T value) {
    failure = error;
    if (!error) result = std::move(value);
    io.stop();
  });
  io.restart();
  io.run();
  if (failure) std::rethrow_exception(failure);
  if (!result) throw std::logic_error("the event loop stopped before the task finished");
  return std::move(*result);
}

}  // namespace opencode_cache::bench

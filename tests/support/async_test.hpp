#pragma once

// Runs coroutine test bodies on a private event loop, bounded in time so that a hung test
// fails instead of hanging the suite.

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "opencode_cache/valkey/client.hpp"

namespace opencode_cache::testing {

using boost::asio::awaitable;
using Executor = boost::asio::any_io_executor;
using Clock = std::chrono::steady_clock;

// Runs body(executor) to completion; fails the test if it throws or overruns `limit`.
inline void run_async(const std::function<awaitable<void>(Executor)>& body,
                      std::chrono::seconds limit = std::chrono::seconds(60)) {
  boost::asio::io_context io;
  bool finished = false;
  std::exception_ptr failure;
  boost::asio::co_spawn(io, body(io.get_executor()), [&](std::exception_ptr e) {
    finished = true;
    failure = e;
    // Coroutines the body spawned may refer to its locals, which are gone now: run nothing
    // more; their frames are destroyed with the io_context.
    io.stop();
  });
  io.run_for(limit);
  ASSERT_TRUE(finished) << "the test body did not finish within " << limit.count() << " s";
  if (failure) std::rethrow_exception(failure);
}

// Waits on the event loop until `condition` holds, checking every millisecond; fails after
// `limit`. A wait for a condition, not a sleep standing in for one.
inline awaitable<void> wait_until(const std::function<bool()>& condition,
                                  std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto give_up = Clock::now() + limit;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  while (!condition()) {
    if (Clock::now() > give_up) throw std::runtime_error("condition not met in time");
    timer.expires_after(std::chrono::milliseconds(1));
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

// g++ 12 rejects std::initializer_list inside coroutine bodies ("array used as
// initializer"); these build the usual argument lists in a plain function instead.
template <class... Args>
std::vector<std::string> strings(const Args&... args) {
  return {std::string(args)...};
}

template <class... Args>
std::vector<std::pair<std::string, std::string>> string_pairs(const Args&... args) {
  static_assert(sizeof...(Args) % 2 == 0, "key, value, key, value...");
  const std::vector<std::string> flat{std::string(args)...};
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t i = 0; i < flat.size(); i += 2) out.emplace_back(flat[i], flat[i + 1]);
  return out;
}

inline std::chrono::milliseconds elapsed_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

}  // namespace opencode_cache::testing

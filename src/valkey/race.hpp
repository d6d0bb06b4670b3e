// Internal: run two coroutines until the first one finishes.
//
// Asio's awaitable operator|| waits for the first *success*: an operand that throws does not
// end the race, so a connect that fails at once would wait for its timeout timer. race()
// ends on the first completion of either kind, cancels the other and waits for it to unwind.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>

namespace opencode_cache::valkey::detail {

// Returns 0 or 1, whichever finished first; rethrows that one's exception.
inline boost::asio::awaitable<std::size_t> race(boost::asio::awaitable<void> first,
                                                boost::asio::awaitable<void> second) {
  namespace asio = boost::asio;
  auto executor = co_await asio::this_coro::executor;
  auto [order, first_error, second_error] =
      co_await asio::experimental::make_parallel_group(
          asio::co_spawn(executor, std::move(first), asio::deferred),
          asio::co_spawn(executor, std::move(second), asio::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  const std::exception_ptr winner_error = order[0] == 0 ? first_error : second_error;
  if (winner_error) std::rethrow_exception(winner_error);
  co_return order[0];
}

// The same with three: returns 0, 1 or 2.
inline boost::asio::awaitable<std::size_t> race(boost::asio::awaitable<void> first,
                                                boost::asio::awaitable<void> second,
                                                boost::asio::awaitable<void> third) {
  namespace asio = boost::asio;
  auto executor = co_await asio::this_coro::executor;
  auto [order, first_error, second_error, third_error] =
      co_await asio::experimental::make_parallel_group(
          asio::co_spawn(executor, std::move(first), asio::deferred),
          asio::co_spawn(executor, std::move(second), asio::deferred),
          asio::co_spawn(executor, std::move(third), asio::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  const std::exception_ptr& winner_error =
      order[0] == 0 ? first_error : (order[0] == 1 ? second_error : third_error);
  if (winner_error) std::rethrow_exception(winner_error);
  co_return order[0];
}

inline boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
  namespace asio = boost::asio;
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(asio::use_awaitable);
}

// True when `operation` finished within `limit`; false when it was cancelled at the limit.
inline boost::asio::awaitable<bool> finishes_within(boost::asio::awaitable<void> operation,
                                                    std::chrono::milliseconds limit) {
  co_return co_await race(std::move(operation), sleep_for(limit)) == 0;
}

}  // namespace opencode_cache::valkey::detail

// Internal: concurrent callers for one key in this process share one fetch. The first
// caller leads and fetches; the others wait for its outcome: a value, an exception, or
// neither when the leader gave up (its caller was cancelled) and one of them must lead.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/value.hpp>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "opencode_cache/valkey/client.hpp"
#include "valkey/cancellation.hpp"

namespace opencode_cache::cache {

class SingleFlight {
 public:
  struct Flight {
    explicit Flight(const boost::asio::any_io_executor& executor)
        : done_signal(executor, boost::asio::steady_timer::time_point::max()) {}
    std::optional<boost::json::value> value;
    std::exception_ptr error;
    bool done = false;
    boost::asio::steady_timer done_signal;  // cancelled when done: wakes every waiter
  };

  // The flight under way for `key`, or nullptr.
  std::shared_ptr<Flight> find(const std::string& key) const {
    auto it = flights_.find(key);
    return it == flights_.end() ? nullptr : it->second;
  }

  std::shared_ptr<Flight> lead(const std::string& key, const boost::asio::any_io_executor& ex) {
    auto flight = std::make_shared<Flight>(ex);
    flights_[key] = flight;
    return flight;
  }

  void finish(const std::string& key, Flight& flight) {
    flight.done = true;
    flights_.erase(key);
    flight.done_signal.cancel();
  }

  // The leader's value; nullopt when it gave up without one. Throws what the leader threw,
  // and Error(cancelled) when this waiter's own caller is cancelled.
  static valkey::Task<std::optional<boost::json::value>> wait(std::shared_ptr<Flight> flight) {
    while (!flight->done) {
      co_await flight->done_signal.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      valkey::detail::throw_if_cancelled(co_await boost::asio::this_coro::cancellation_state);
    }
    if (flight->error) std::rethrow_exception(flight->error);
    co_return flight->value;
  }

  bool empty() const noexcept { return flights_.empty(); }

 private:
  std::map<std::string, std::shared_ptr<Flight>> flights_;
};

}  // namespace opencode_cache::cache

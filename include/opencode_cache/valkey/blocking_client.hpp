// A blocking facade over Client for simple programs, tools and tests: it owns an event
// loop thread, runs each call there and waits for the result. Safe to call from any
// thread; calls from several threads share the one multiplexed connection.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <thread>
#include <type_traits>

#include "opencode_cache/valkey/client.hpp"

namespace opencode_cache::valkey {

class BlockingClient {
 public:
  explicit BlockingClient(ClientConfig config);
  ~BlockingClient();
  BlockingClient(const BlockingClient&) = delete;
  BlockingClient& operator=(const BlockingClient&) = delete;

  // Runs `f(client)`, a function returning Task<T>, on the loop thread; returns its T or
  // rethrows its exception. Every Client method is reachable this way:
  //   auto value = blocking.call([&](Client& c) { return c.hget("k", "f"); });
  template <class F>
  auto call(F&& f) {
    using Result = typename std::invoke_result_t<F&, Client&>::value_type;
    return boost::asio::co_spawn(
               io_, [&]() -> Task<Result> { co_return co_await f(client_); },
               boost::asio::use_future)
        .get();
  }

  resp::Value command(Command command, RequestOptions options = {});
  bool ping();
  std::optional<std::string> get(std::string_view key);
  bool set(std::string_view key, std::string_view value, SetOptions options = {});
  std::int64_t del(std::string_view key);
  void quit();

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  Client client_;
  std::thread thread_;
};

}  // namespace opencode_cache::valkey

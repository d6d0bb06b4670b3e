// Internal: the I/O side of ConnectionSupervisor, shared by Client and Subscriber. It runs
// the supervisor's steps (connect, serve, wait, give up) and the health check while serving;
// what a connection means to its owner (handshake, what to do with waiting commands, logs)
// stays with the owner, a `Node` that provides:
//
//   awaitable<void> establish()          connect, handshake, ready check; throws Error
//   void on_connected()                  the connection serves from now on
//   awaitable<void> serve()              until the connection fails; records why
//   void on_connection_lost(Step next)   after serve(): settle what was in flight
//   void on_connect_failed(const Error&, Step next)   next: wait or give_up
//   bool closed() const
//   bool awaiting_reply() const          something sent has no answer yet
//   void send_health_ping()
//   std::uint64_t bytes_received() const
//   void on_dead_connection()            the health check is about to reset it
//   ConnectionSupervisor& supervisor();  asio::steady_timer& pause_timer();  double jitter();
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <optional>
#include <string>

#include "cancellation.hpp"
#include "connection_supervisor.hpp"
#include "opencode_cache/valkey/client_config.hpp"
#include "opencode_cache/valkey/error.hpp"
#include "race.hpp"

namespace opencode_cache::valkey::detail {

inline SupervisorPolicy supervisor_policy(const ClientConfig& config) {
  SupervisorPolicy policy;
  policy.backoff = config.reconnect;
  policy.health_check_interval = config.health_check_interval;
  return policy;
}

// Failures that another attempt with the same configuration cannot fix: what waits for a
// connection fails at once instead of at its deadline.
inline bool is_configuration_failure(std::error_code code) {
  return code == errc::auth_failed || code == errc::tls_error;
}

template <class Node>
boost::asio::awaitable<std::optional<Error>> try_establish(Node& node) {
  try {
    co_await node.establish();
  } catch (const Error& e) {
    co_return e;
  } catch (const std::exception& e) {
    co_return Error(errc::io_error, e.what());
  }
  co_return std::nullopt;
}

// Runs until closed or given up.
template <class Node>
boost::asio::awaitable<void> run_supervised(Node& node) {
  namespace asio = boost::asio;
  using Action = ConnectionSupervisor::Action;
  ConnectionSupervisor& supervisor = node.supervisor();
  ConnectionSupervisor::Step step = supervisor.start();
  while (true) {
    if (node.closed()) step = supervisor.on_closed();
    switch (step.action) {
      case Action::connect: {
        const std::optional<Error> failure = co_await try_establish(node);
        if (node.closed()) break;
        if (failure) {
          step = supervisor.on_connect_failed(node.jitter());
          node.on_connect_failed(*failure, step);
        } else {
          step = supervisor.on_connected(ConnectionSupervisor::Clock::now());
          node.on_connected();
        }
        break;
      }
      case Action::serve:
        co_await node.serve();
        if (node.closed()) break;
        step = supervisor.on_connection_lost(ConnectionSupervisor::Clock::now(), node.jitter());
        node.on_connection_lost(step);
        break;
      case Action::wait: {
        asio::steady_timer& timer = node.pause_timer();
        timer.expires_after(step.delay);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        step = supervisor.on_wait_over();
        break;
      }
      case Action::give_up:
      case Action::stop: co_return;
    }
  }
}

// Runs beside the reader and the writer while the connection serves; throws Error(io_error)
// when the supervisor finds the connection dead.
template <class Node>
boost::asio::awaitable<void> health_loop(Node& node, boost::asio::steady_timer& timer) {
  namespace asio = boost::asio;
  using Health = ConnectionSupervisor::Health;
  ConnectionSupervisor& supervisor = node.supervisor();
  std::uint64_t bytes_seen = node.bytes_received();
  while (true) {
    timer.expires_at(supervisor.next_health_check(node.awaiting_reply()));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (is_cancelled(co_await asio::this_coro::cancellation_state)) co_return;
    const auto now = ConnectionSupervisor::Clock::now();
    // Bytes of a reply still arriving are progress too, though no reply is whole yet.
    if (node.bytes_received() != bytes_seen) {
      bytes_seen = node.bytes_received();
      supervisor.on_bytes_read(now);
    }
    switch (supervisor.check_health(now, node.awaiting_reply())) {
      case Health::fine: break;
      case Health::ping: node.send_health_ping(); break;
      case Health::dead:
        node.on_dead_connection();
        throw Error(errc::io_error, "nothing read for " +
                                        std::to_string(supervisor.dead_after().count()) +
                                        " ms while a reply was due: the connection looks dead");
    }
  }
}

// Serves one connection: its reader and writer, and the health check when it is on, until
// the first of them ends; rethrows why it ended.
template <class Node>
boost::asio::awaitable<void> run_connection(Node& node, boost::asio::awaitable<void> reader,
                                            boost::asio::awaitable<void> writer,
                                            boost::asio::steady_timer& health_timer) {
  if (node.supervisor().health_checks_enabled()) {
    co_await race(std::move(reader), std::move(writer), health_loop(node, health_timer));
  } else {
    co_await race(std::move(reader), std::move(writer));
  }
}

}  // namespace opencode_cache::valkey::detail

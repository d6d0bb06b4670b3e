#include "server/http/server.hpp"

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <system_error>
#include <thread>

#include "server/api/dispatcher.hpp"
#include "server/api/metrics.hpp"
#include "server/http/connection.hpp"

namespace opencode_cache::server::http {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

tcp::acceptor open_acceptor(asio::io_context& io, const tcp::endpoint& endpoint) {
  tcp::acceptor acceptor(io);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.set_option(reuse_port(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  return acceptor;
}

std::string process_tag() {
  std::random_device random;
  char tag[9];
  std::snprintf(tag, sizeof tag, "%08x", random());
  return tag;
}

}  // namespace

struct Worker {
  Worker(const ServerConfig& config, api::MetricsRegistry& registry, std::size_t index,
         std::string tag)
      : dispatcher(io.get_executor(), config, registry, index),
        acceptor(io),
        context{config, dispatcher, connections, [this] { return next_id(); }},
        metrics(registry.of(index)),
        id_prefix(std::move(tag) + "-" + std::to_string(index) + "-"),
        per_thread_limit(std::max<std::size_t>(1, config.max_connections / config.threads)) {}

  asio::io_context io{1};
  api::Dispatcher dispatcher;
  tcp::acceptor acceptor;
  ConnectionSet connections;
  ConnectionContext context;
  api::ThreadMetrics& metrics;
  std::string id_prefix;
  std::uint64_t requests = 0;
  std::size_t per_thread_limit;
  std::thread thread;

  std::string next_id() { return id_prefix + std::to_string(++requests); }

  Task<void> accept_loop() {
    while (acceptor.is_open()) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
        // Out of file descriptors and the like: give the loop a moment, then go on.
        asio::steady_timer pause(io, std::chrono::milliseconds(10));
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      if (connections.size() >= per_thread_limit) {
        asio::co_spawn(io, refuse_connection(std::move(socket)), asio::detached);
        continue;
      }
      metrics.active_connections.add();
      asio::co_spawn(io, serve_connection(std::move(socket), context), [this](std::exception_ptr) {
        metrics.active_connections.set(metrics.active_connections.get() - 1);
      });
    }
  }

  Task<void> drain(std::chrono::milliseconds deadline) {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    connections.begin_drain();
    dispatcher.begin_drain();
    const auto give_up = std::chrono::steady_clock::now() + deadline;
    asio::steady_timer timer(io);
    while (connections.size() > 0 && std::chrono::steady_clock::now() < give_up) {
      timer.expires_after(std::chrono::milliseconds(10));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    dispatcher.close();
    if (connections.size() > 0) io.stop();  // past the deadline: what still runs is cut off
  }
};

struct Server::Impl {
  explicit Impl(ServerConfig c) : config(std::move(c)), registry(config.threads) {}
  ServerConfig config;
  api::MetricsRegistry registry;
  std::vector<std::unique_ptr<Worker>> workers;
  std::uint16_t port = 0;
  std::atomic<bool> shutting_down{false};
  std::mutex mutex;
  std::condition_variable ended;
  std::size_t running = 0;
};

Server::Server(ServerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Server::~Server() {
  shutdown();
  wait();
  for (auto& worker : impl_->workers) {
    if (worker->thread.joinable()) worker->thread.detach();
  }
}

void Server::start() {
  const ServerConfig& config = impl_->config;
  const std::string tag = process_tag();
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(config.listen_host, ec);
  tcp::endpoint endpoint;
  if (ec) {
    asio::io_context resolver_io;
    tcp::resolver resolver(resolver_io);
    endpoint = *resolver.resolve(config.listen_host, std::to_string(config.listen_port)).begin();
  } else {
    endpoint = tcp::endpoint(address, config.listen_port);
  }
  for (std::size_t i = 0; i < config.threads; ++i) {
    auto worker = std::make_unique<Worker>(config, impl_->registry, i, tag);
    try {
      worker->acceptor = open_acceptor(worker->io, endpoint);
    } catch (const boost::system::system_error& e) {
      throw std::system_error(e.code(), "cannot listen on " + config.listen_host + ":" +
                                            std::to_string(endpoint.port()));
    }
    // Port 0: the first acceptor's port is every thread's.
    endpoint.port(worker->acceptor.local_endpoint().port());
    impl_->workers.push_back(std::move(worker));
  }
  impl_->port = endpoint.port();
  impl_->running = impl_->workers.size();
  for (auto& worker : impl_->workers) {
    asio::co_spawn(worker->io, worker->accept_loop(), asio::detached);
    worker->thread = std::thread([this, w = worker.get()] {
      w->io.run();
      std::lock_guard lock(impl_->mutex);
      --impl_->running;
      impl_->ended.notify_all();
    });
  }
}

std::uint16_t Server::port() const {
  return impl_->port;
}

void Server::shutdown() {
  if (impl_->shutting_down.exchange(true)) return;
  for (auto& worker : impl_->workers) {
    asio::post(worker->io, [w = worker.get(), deadline = impl_->config.drain_timeout] {
      asio::co_spawn(w->io, w->drain(deadline), asio::detached);
    });
  }
}

bool Server::wait() {
  std::unique_lock lock(impl_->mutex);
  const bool all_ended =
      impl_->ended.wait_for(lock, impl_->config.drain_timeout + std::chrono::seconds(5),
                            [&] { return impl_->running == 0; });
  lock.unlock();
  if (all_ended) {
    for (auto& worker : impl_->workers) {
      if (worker->thread.joinable()) worker->thread.join();
    }
  }
  return all_ended;
}

}  // namespace opencode_cache::server::http

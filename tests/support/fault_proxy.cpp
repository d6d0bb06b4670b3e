#include "support/fault_proxy.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <mutex>
#include <optional>

namespace opencode_cache::testing {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);
}

struct FaultProxy::Shared {
  std::mutex mutex;
  std::optional<std::string> corruption;
  std::optional<std::string> prefix;
  // Connections numbered below this forward nothing.
  std::atomic<int> blackholed_below{0};

  // What to send the client instead of `bytes` from the server, if anything else.
  std::optional<std::string> rewrite(std::string_view bytes) {
    std::lock_guard lock(mutex);
    if (corruption) return std::exchange(corruption, std::nullopt);
    if (prefix) return *std::exchange(prefix, std::nullopt) + std::string(bytes);
    return std::nullopt;
  }
};

namespace {

asio::awaitable<void> pipe(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to,
                           std::function<std::optional<std::string>(std::string_view)> rewrite,
                           std::function<bool()> blackholed) {
  std::array<char, 16 * 1024> buffer{};
  while (true) {
    auto [read_ec, n] = co_await from->async_read_some(asio::buffer(buffer), no_throw);
    if (read_ec) break;
    if (blackholed()) continue;
    std::string_view bytes(buffer.data(), n);
    std::optional<std::string> replacement = rewrite ? rewrite(bytes) : std::nullopt;
    if (replacement) bytes = *replacement;
    auto [write_ec, written] = co_await asio::async_write(*to, asio::buffer(bytes), no_throw);
    if (write_ec) break;
  }
  boost::system::error_code ignored;
  from->close(ignored);
  to->close(ignored);
}

}  // namespace

FaultProxy::FaultProxy(std::uint16_t upstream_port)
    : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
      upstream_port_(upstream_port),
      port_(acceptor_.local_endpoint().port()),
      shared_(std::make_shared<Shared>()) {
  accept_loop();
  thread_ = std::thread([this] { io_.run(); });
}

FaultProxy::~FaultProxy() {
  asio::post(io_, [this] { io_.stop(); });
  thread_.join();
}

void FaultProxy::corrupt_next_reply(std::string bytes) {
  std::lock_guard lock(shared_->mutex);
  shared_->corruption = std::move(bytes);
}

void FaultProxy::prepend_to_next_reply(std::string bytes) {
  std::lock_guard lock(shared_->mutex);
  shared_->prefix = std::move(bytes);
}

void FaultProxy::blackhole_open_connections() {
  shared_->blackholed_below = accepted_.load();
}

void FaultProxy::retarget(std::uint16_t port) {
  upstream_port_ = port;
}

void FaultProxy::accept_loop() {
  asio::co_spawn(
      io_,
      [this]() -> asio::awaitable<void> {
        while (true) {
          auto client = std::make_shared<tcp::socket>(io_);
          auto [accept_ec] = co_await acceptor_.async_accept(*client, no_throw);
          if (accept_ec) co_return;
          const int id = accepted_++;
          auto server = std::make_shared<tcp::socket>(io_);
          auto [connect_ec] = co_await server->async_connect(
              tcp::endpoint(asio::ip::make_address("127.0.0.1"), upstream_port_.load()), no_throw);
          if (connect_ec) continue;
          auto shared = shared_;
          auto blackholed = [shared, id] { return id < shared->blackholed_below.load(); };
          asio::co_spawn(io_, pipe(client, server, nullptr, blackholed), asio::detached);
          asio::co_spawn(
              io_,
              pipe(
                  server, client,
                  [shared](std::string_view bytes) { return shared->rewrite(bytes); }, blackholed),
              asio::detached);
        }
      },
      asio::detached);
}

}  // namespace opencode_cache::testing

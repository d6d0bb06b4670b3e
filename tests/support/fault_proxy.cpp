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

  std::optional<std::string> take_corruption() {
    std::lock_guard lock(mutex);
    return std::exchange(corruption, std::nullopt);
  }
};

namespace {

asio::awaitable<void> pipe(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to,
                           std::function<std::optional<std::string>()> corruption) {
  std::array<char, 16 * 1024> buffer{};
  while (true) {
    auto [read_ec, n] = co_await from->async_read_some(asio::buffer(buffer), no_throw);
    if (read_ec) break;
    std::string_view bytes(buffer.data(), n);
    std::optional<std::string> replacement = corruption ? corruption() : std::nullopt;
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

void FaultProxy::accept_loop() {
  asio::co_spawn(
      io_,
      [this]() -> asio::awaitable<void> {
        while (true) {
          auto client = std::make_shared<tcp::socket>(io_);
          auto [accept_ec] = co_await acceptor_.async_accept(*client, no_throw);
          if (accept_ec) co_return;
          ++accepted_;
          auto server = std::make_shared<tcp::socket>(io_);
          auto [connect_ec] = co_await server->async_connect(
              tcp::endpoint(asio::ip::make_address("127.0.0.1"), upstream_port_), no_throw);
          if (connect_ec) continue;
          auto shared = shared_;
          asio::co_spawn(io_, pipe(client, server, nullptr), asio::detached);
          asio::co_spawn(io_, pipe(server, client, [shared] { return shared->take_corruption(); }),
                         asio::detached);
        }
      },
      asio::detached);
}

}  // namespace opencode_cache::testing

#include "server/upstream/upstream_client.hpp"

#include <openssl/ssl.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <map>
#include <vector>

#include "server/gateway/ascii_case.hpp"

namespace opencode_cache::server::upstream {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

struct Connection {
  explicit Connection(asio::any_io_executor executor, asio::ssl::context* tls_context,
                      std::string origin_key)
      : key(std::move(origin_key)) {
    if (tls_context != nullptr) {
      secure.emplace(executor, *tls_context);
    } else {
      plain.emplace(executor);
    }
  }
  std::string key;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  bool reused = false;

  beast::tcp_stream& tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  template <class F>
  auto with_stream(F&& f) {
    return secure ? f(*secure) : f(*plain);
  }
  void close() {
    error_code ignored;
    tcp().socket().close(ignored);
  }
};

bool is_hop_by_hop(std::string_view lower_name) {
  return lower_name == "connection" || lower_name == "keep-alive" ||
         lower_name == "transfer-encoding" || lower_name == "content-length" ||
         lower_name == "upgrade" || lower_name == "proxy-connection" || lower_name == "te" ||
         lower_name == "trailer";
}

Failure failure_of(const error_code& ec) {
  if (ec == beast::error::timeout) return Failure::timeout;
  if (ec == asio::error::operation_aborted) return Failure::aborted;
  return Failure::protocol;
}

}  // namespace

struct Pool::State {
  State(asio::any_io_executor ex, Timeouts t, std::size_t idle)
      : executor(std::move(ex)), timeouts(t), idle_per_upstream(idle) {
    tls.set_default_verify_paths();
    tls.set_verify_mode(asio::ssl::verify_peer);
  }
  asio::any_io_executor executor;
  Timeouts timeouts;
  std::size_t idle_per_upstream;
  asio::ssl::context tls{asio::ssl::context::tls_client};
  std::map<std::string, std::vector<std::unique_ptr<Connection>>, std::less<>> idle;
  std::size_t idle_count = 0;
  std::uint64_t opened = 0;

  std::unique_ptr<Connection> take_idle(std::string_view key) {
    auto it = idle.find(key);
    if (it == idle.end() || it->second.empty()) return nullptr;
    auto connection = std::move(it->second.back());
    it->second.pop_back();
    --idle_count;
    connection->reused = true;
    return connection;
  }

  void give_back(std::unique_ptr<Connection> connection) {
    auto& list = idle[connection->key];
    if (list.size() >= idle_per_upstream) return;
    connection->buffer.clear();
    list.push_back(std::move(connection));
    ++idle_count;
  }

  Task<std::unique_ptr<Connection>> connect(const BaseUrl& base, const std::string& key) {
    auto connection = std::make_unique<Connection>(executor, base.tls ? &tls : nullptr, key);
    asio::ip::tcp::resolver resolver(executor);
    auto [resolve_error, endpoints] =
        co_await resolver.async_resolve(base.host, std::to_string(base.port), tuple_awaitable);
    if (resolve_error) {
      throw UpstreamError(Failure::connect,
                          "cannot resolve " + base.host + ": " + resolve_error.message());
    }
    connection->tcp().expires_after(timeouts.connect);
    auto [connect_error, endpoint] =
        co_await connection->tcp().async_connect(endpoints, tuple_awaitable);
    if (connect_error) {
      throw UpstreamError(
          connect_error == beast::error::timeout ? Failure::timeout : Failure::connect,
          "cannot connect to " + base.origin() + ": " + connect_error.message());
    }
    error_code ignored;
    connection->tcp().socket().set_option(asio::ip::tcp::no_delay(true), ignored);
    if (connection->secure) {
      auto& stream = *connection->secure;
      if (SSL_set_tlsext_host_name(stream.native_handle(), base.host.c_str()) != 1) {
        throw UpstreamError(Failure::connect, "cannot set the TLS server name");
      }
      stream.set_verify_callback(asio::ssl::host_name_verification(base.host));
      auto [handshake_error] =
          co_await stream.async_handshake(asio::ssl::stream_base::client, tuple_awaitable);
      if (handshake_error) {
        throw UpstreamError(
            handshake_error == beast::error::timeout ? Failure::timeout : Failure::connect,
            "TLS handshake with " + base.origin() + " failed: " + handshake_error.message());
      }
    }
    ++opened;
    co_return connection;
  }
};

namespace {

class BeastResponse final : public Response {
 public:
  BeastResponse(std::weak_ptr<Pool::State> pool, std::unique_ptr<Connection> connection,
                std::unique_ptr<bhttp::response_parser<bhttp::buffer_body>> parser,
                std::chrono::milliseconds between_chunks)
      : pool_(std::move(pool)),
        connection_(std::move(connection)),
        parser_(std::move(parser)),
        between_chunks_(between_chunks) {
    status = static_cast<int>(parser_->get().result_int());
    for (const auto& field : parser_->get()) {
      std::string name = gateway::ascii_lower(field.name_string());
      if (!is_hop_by_hop(name)) headers.emplace_back(std::move(name), std::string(field.value()));
    }
  }

  ~BeastResponse() override {
    if (connection_) connection_->close();
  }

  Task<std::optional<std::string>> next() override {
    while (connection_) {
      if (parser_->is_done()) {
        release();
        co_return std::nullopt;
      }
      auto& body = parser_->get().body();
      body.data = chunk_.data();
      body.size = chunk_.size();
      connection_->tcp().expires_after(between_chunks_);
      auto [ec, bytes] = co_await connection_->with_stream([&](auto& stream) {
        return bhttp::async_read_some(stream, connection_->buffer, *parser_, tuple_awaitable);
      });
      if (ec == bhttp::error::need_buffer) ec = {};
      if (aborted_) throw UpstreamError(Failure::aborted, "upstream read aborted");
      if (ec) {
        connection_.reset();
        throw UpstreamError(failure_of(ec), "upstream body: " + ec.message());
      }
      const std::size_t produced = chunk_.size() - parser_->get().body().size;
      if (produced > 0) co_return std::string(chunk_.data(), produced);
    }
    throw UpstreamError(Failure::aborted, "upstream read aborted");
  }

  void abort() override {
    aborted_ = true;
    if (connection_) connection_->close();
  }

 private:
  void release() {
    auto pool = pool_.lock();
    if (pool && parser_->get().keep_alive()) {
      pool->give_back(std::move(connection_));
    } else {
      connection_.reset();
    }
  }

  std::weak_ptr<Pool::State> pool_;
  std::unique_ptr<Connection> connection_;
  std::unique_ptr<bhttp::response_parser<bhttp::buffer_body>> parser_;
  std::chrono::milliseconds between_chunks_;
  std::array<char, 16384> chunk_{};
  bool aborted_ = false;
};

bhttp::request<bhttp::string_body> make_request(const BaseUrl& base, const Request& request) {
  bhttp::request<bhttp::string_body> message;
  const bhttp::verb verb = bhttp::string_to_verb(request.method);
  if (verb == bhttp::verb::unknown) {
    message.method_string(request.method);
  } else {
    message.method(verb);
  }
  message.target(request.target);
  message.version(11);
  const bool default_port = base.port == (base.tls ? 443 : 80);
  message.set(bhttp::field::host,
              default_port ? base.host : base.host + ":" + std::to_string(base.port));
  for (const auto& [name, value] : request.headers) {
    if (!is_hop_by_hop(name) && name != "host") message.insert(name, value);
  }
  message.keep_alive(true);
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
    message.body() = request.body;
    message.prepare_payload();
  }
  return message;
}

}  // namespace

Pool::Pool(asio::any_io_executor executor, Timeouts timeouts, std::size_t idle_per_upstream)
    : state_(std::make_shared<State>(std::move(executor), timeouts, idle_per_upstream)) {}

Pool::~Pool() = default;

Task<std::unique_ptr<Response>> Pool::send(const BaseUrl& base, const Request& request) {
  const std::string key = base.origin();
  auto message = make_request(base, request);
  // A pooled connection the provider has closed meanwhile fails before any answer: then one
  // fresh connection is tried.
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Connection> connection = attempt == 0 ? state_->take_idle(key) : nullptr;
    if (!connection) connection = co_await state_->connect(base, key);
    const bool reused = connection->reused;
    connection->tcp().expires_after(state_->timeouts.first_byte);
    auto [write_error, written] = co_await connection->with_stream(
        [&](auto& stream) { return bhttp::async_write(stream, message, tuple_awaitable); });
    auto parser = std::make_unique<bhttp::response_parser<bhttp::buffer_body>>();
    parser->body_limit(std::numeric_limits<std::uint64_t>::max());
    error_code read_error = write_error;
    if (!write_error) {
      auto [ec, bytes] = co_await connection->with_stream([&](auto& stream) {
        return bhttp::async_read_header(stream, connection->buffer, *parser, tuple_awaitable);
      });
      read_error = ec;
    }
    if (!read_error) {
      co_return std::make_unique<BeastResponse>(state_, std::move(connection), std::move(parser),
                                                state_->timeouts.between_chunks);
    }
    connection->close();
    if (reused && attempt == 0 && read_error != beast::error::timeout) continue;
    throw UpstreamError(
        failure_of(read_error) == Failure::timeout ? Failure::timeout : Failure::protocol,
        "upstream " + key + ": " + read_error.message());
  }
}

void Pool::close_idle() {
  for (auto& [key, list] : state_->idle) {
    for (auto& connection : list) connection->close();
  }
  state_->idle.clear();
  state_->idle_count = 0;
}

std::size_t Pool::idle_connections() const noexcept {
  return state_->idle_count;
}
std::uint64_t Pool::connections_opened() const noexcept {
  return state_->opened;
}

}  // namespace opencode_cache::server::upstream

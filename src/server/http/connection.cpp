#include "server/http/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "server/http/error_response.hpp"
#include "server/http/route.hpp"

namespace opencode_cache::server::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

std::list<ConnectionSet::Entry>::iterator ConnectionSet::add(std::function<void()> close_if_idle) {
  ++size_;
  return entries_.insert(entries_.end(), Entry{std::move(close_if_idle)});
}

void ConnectionSet::remove(std::list<Entry>::iterator entry) {
  --size_;
  entries_.erase(entry);
}

void ConnectionSet::begin_drain() {
  draining_ = true;
  // close_if_idle may remove entries: walk a copy of the callbacks.
  std::vector<std::function<void()>> closers;
  for (const Entry& entry : entries_) closers.push_back(entry.close_if_idle);
  for (auto& close : closers) close();
}

const std::string* find_header(const Headers& headers, std::string_view lower_name) {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

template <class Message>
void apply_headers(Message& message, const Headers& headers) {
  for (const auto& [name, value] : headers) message.insert(name, value);
}

class BeastResponder final : public Responder {
 public:
  BeastResponder(beast::tcp_stream& stream, const ServerConfig& config, bool keep_alive,
                 std::string request_id)
      : stream_(stream), config_(config), keep_alive_(keep_alive), id_(std::move(request_id)) {}

  Task<void> send(int status, Headers headers, std::string body) override {
    bhttp::response<bhttp::string_body> response(static_cast<bhttp::status>(status), 11);
    apply_headers(response, headers);
    response.set("x-request-id", id_);
    response.keep_alive(keep_alive_);
    response.body() = std::move(body);
    response.prepare_payload();
    started_ = true;
    stream_.expires_after(config_.write_timeout);
    co_await bhttp::async_write(stream_, response, asio::use_awaitable);
    finished_ = true;
  }

  Task<void> begin(int status, Headers headers) override {
    bhttp::response<bhttp::empty_body> response(static_cast<bhttp::status>(status), 11);
    apply_headers(response, headers);
    response.set("x-request-id", id_);
    response.keep_alive(keep_alive_);
    response.chunked(true);
    bhttp::response_serializer<bhttp::empty_body> serializer(response);
    started_ = true;
    stream_.expires_after(config_.write_timeout);
    co_await bhttp::async_write_header(stream_, serializer, asio::use_awaitable);
  }

  Task<void> write(std::string_view bytes) override {
    if (bytes.empty()) co_return;
    stream_.expires_after(config_.write_timeout);
    co_await asio::async_write(stream_, bhttp::make_chunk(asio::buffer(bytes.data(), bytes.size())),
                               asio::use_awaitable);
  }

  Task<void> end() override {
    stream_.expires_after(config_.write_timeout);
    co_await asio::async_write(stream_, bhttp::make_chunk_last(), asio::use_awaitable);
    finished_ = true;
  }

  void reset() override {
    error_code ignored;
    stream_.socket().set_option(asio::socket_base::linger(true, 0), ignored);
    stream_.socket().close(ignored);
    reset_ = true;
  }

  bool started() const override { return started_; }
  bool usable() const { return finished_ && !reset_ && stream_.socket().is_open(); }

 private:
  beast::tcp_stream& stream_;
  const ServerConfig& config_;
  bool keep_alive_;
  std::string id_;
  bool started_ = false;
  bool finished_ = false;
  bool reset_ = false;
};

Task<void> send_error(beast::tcp_stream& stream, int status, std::string_view message,
                      ErrorStyle style) {
  bhttp::response<bhttp::string_body> response(static_cast<bhttp::status>(status), 11);
  response.set(bhttp::field::content_type, "application/json");
  response.keep_alive(false);
  response.body() = error_body_for(style, status, message);
  response.prepare_payload();
  stream.expires_after(std::chrono::seconds(5));
  co_await bhttp::async_write(stream, response, tuple_awaitable);
}

Request to_request(bhttp::request<bhttp::string_body>&& message, std::string id, std::string peer) {
  Request request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  for (const auto& field : message) {
    request.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(message.body());
  request.id = std::move(id);
  request.peer = std::move(peer);
  return request;
}

// A read failure: which answer the client gets before the connection closes, if any.
int status_for_read_error(const error_code& ec) {
  if (ec == bhttp::error::header_limit) return 431;
  if (ec == bhttp::error::body_limit) return 413;
  if (ec == beast::error::timeout || ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
      ec == bhttp::error::partial_message) {
    return 0;
  }
  return 400;
}

std::string_view read_error_message(int status) {
  switch (status) {
    case 431: return "request header fields too large";
    case 413: return "request body too large";
    default: return "malformed HTTP request";
  }
}

}  // namespace

Task<void> serve_connection(asio::ip::tcp::socket socket, ConnectionContext& context) {
  const ServerConfig& config = context.config;
  error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  const auto remote = socket.remote_endpoint(ignored);
  const std::string peer = remote.address().to_string();
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  bool idle = true;
  auto entry = context.connections.add([&] {
    if (idle) stream.socket().close(ignored);
  });
  struct Remove {
    ConnectionSet& set;
    std::list<ConnectionSet::Entry>::iterator entry;
    ~Remove() { set.remove(entry); }
  } remove{context.connections, entry};

  while (!context.connections.draining()) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(config.max_header_bytes));
    parser.body_limit(config.max_body_bytes);
    idle = true;
    stream.expires_after(config.idle_timeout);
    auto [head_error, head_bytes] =
        co_await bhttp::async_read_header(stream, buffer, parser, tuple_awaitable);
    idle = false;
    if (!head_error && !parser.is_done()) {
      stream.expires_after(config.read_timeout);
      auto [body_error, body_bytes] =
          co_await bhttp::async_read(stream, buffer, parser, tuple_awaitable);
      head_error = body_error;
    }
    if (head_error) {
      if (const int status = status_for_read_error(head_error); status != 0) {
        // Once the request line is in (even if the head was refused for its Content-Length), the
        // route says whose shape; before it, the target is empty and the shape OpenAI's.
        const ErrorStyle style = error_style(route(config, parser.get().target()).endpoint);
        co_await send_error(stream, status, read_error_message(status), style);
      }
      break;
    }
    const bool keep_alive = parser.get().keep_alive() && !context.connections.draining();
    Request request = to_request(parser.release(), context.next_request_id(), peer);
    BeastResponder responder(stream, config, keep_alive, request.id);
    try {
      co_await context.handler.handle(request, responder);
    } catch (const boost::system::system_error&) {
      // The client went away while we wrote to it: nothing left to tell it.
      responder.reset();
    }
    if (!keep_alive || !responder.usable()) break;
  }
  if (stream.socket().is_open()) {
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  }
}

Task<void> refuse_connection(asio::ip::tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  co_await send_error(stream, 503, "too many connections", ErrorStyle::openai);
  error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

}  // namespace opencode_cache::server::http

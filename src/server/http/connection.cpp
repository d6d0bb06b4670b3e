#include "server/http/connection.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "server/gateway/ascii_case.hpp"
#include "server/http/connection_deadline.hpp"
#include "server/http/error_response.hpp"
#include "server/http/response_head.hpp"
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

using tcp = asio::ip::tcp;
using Parser = bhttp::request_parser<bhttp::string_body>;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
// Room for a whole typical request up front: reads go into the buffer's free capacity, and a
// request read in 512-byte pieces would take a trip through the loop for each.
constexpr std::size_t initial_read_capacity = 8 * 1024;
constexpr std::size_t max_read_size = 64 * 1024;

std::array<asio::const_buffer, 2> gather(std::string_view first, std::string_view second) {
  return {asio::buffer(first.data(), first.size()), asio::buffer(second.data(), second.size())};
}

std::array<asio::const_buffer, 3> chunk(std::string_view size_line, std::string_view bytes) {
  return {asio::buffer(size_line.data(), size_line.size()),
          asio::buffer(bytes.data(), bytes.size()),
          asio::buffer(chunk_end.data(), chunk_end.size())};
}

// Writes each response straight to the socket: the head built in the connection's scratch
// buffer, sent with the body in one gather write.
class SocketResponder final : public Responder {
 public:
  SocketResponder(tcp::socket& socket, ConnectionDeadline& deadline, std::string& head,
                  const ServerConfig& config, bool keep_alive, std::string_view request_id)
      : socket_(socket),
        deadline_(deadline),
        head_(head),
        config_(config),
        keep_alive_(keep_alive),
        id_(request_id) {}

  Task<void> send(int status, Headers headers, std::string body) override {
    ResponseHeadOptions options;
    options.keep_alive = keep_alive_;
    options.content_length = body.size();
    options.request_id = id_;
    head_.clear();
    append_response_head(status, headers, options, head_);
    started_ = true;
    const auto buffers = gather(head_, body);
    co_await write_all(buffers);
    finished_ = true;
  }

  Task<void> begin(int status, Headers headers) override {
    ResponseHeadOptions options;
    options.keep_alive = keep_alive_;
    options.chunked = true;
    options.request_id = id_;
    head_.clear();
    append_response_head(status, headers, options, head_);
    started_ = true;
    const auto buffers = gather(head_, {});
    co_await write_all(buffers);
  }

  Task<void> write(std::string_view bytes) override {
    if (bytes.empty()) co_return;
    char size_line[24];
    const auto buffers = chunk(chunk_size_line(bytes.size(), size_line), bytes);
    co_await write_all(buffers);
  }

  Task<void> end() override {
    const auto buffers = gather(last_chunk, {});
    co_await write_all(buffers);
    finished_ = true;
  }

  void reset() override {
    error_code ignored;
    socket_.set_option(asio::socket_base::linger(true, 0), ignored);
    socket_.close(ignored);
    reset_ = true;
  }

  bool started() const override { return started_; }
  bool usable() const { return finished_ && !reset_ && socket_.is_open(); }

 private:
  // Throws boost::system::system_error when the client is gone or the write timed out.
  template <class Buffers>
  Task<void> write_all(const Buffers& buffers) {
    deadline_.expires_after(config_.write_timeout);
    co_await asio::async_write(socket_, buffers, asio::use_awaitable);
    deadline_.clear();
  }

  tcp::socket& socket_;
  ConnectionDeadline& deadline_;
  std::string& head_;
  const ServerConfig& config_;
  bool keep_alive_;
  std::string_view id_;
  bool started_ = false;
  bool finished_ = false;
  bool reset_ = false;
};

Task<void> send_error(tcp::socket& socket, int status, std::string_view message, ErrorStyle style) {
  Headers headers;
  headers.emplace_back("content-type", "application/json");
  const std::string body = error_body_for(style, status, message);
  ResponseHeadOptions options;
  options.keep_alive = false;
  options.content_length = body.size();
  std::string head;
  append_response_head(status, headers, options, head);
  ConnectionDeadline deadline(socket.get_executor(), [&socket] {
    error_code ignored;
    socket.close(ignored);
  });
  deadline.expires_after(std::chrono::seconds(5));
  const auto buffers = gather(head, body);
  co_await asio::async_write(socket, buffers, tuple_awaitable);
}

Request to_request(bhttp::request<bhttp::string_body>&& message, std::string id, std::string peer) {
  Request request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  for (const auto& field : message) {
    request.headers.emplace_back(gateway::ascii_lower(field.name_string()),
                                 std::string(field.value()));
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
      ec == asio::error::bad_descriptor || ec == bhttp::error::partial_message) {
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

// Feeds the buffered bytes to the parser. need_more (or nothing consumed) means: read more.
error_code parse_buffered(beast::flat_buffer& buffer, Parser& parser) {
  error_code ec;
  while (buffer.size() > 0 && !parser.is_done()) {
    const std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == bhttp::error::need_more) return {};
    if (ec || used == 0) return ec;
  }
  return ec;
}

// What a read that ended early means for the request being read.
error_code read_failure(const error_code& ec, Parser& parser, const ConnectionDeadline& deadline) {
  if (deadline.expired()) return beast::error::timeout;
  if (ec != asio::error::eof) return ec;
  if (!parser.got_some()) return bhttp::error::end_of_stream;
  error_code eof_error;
  parser.put_eof(eof_error);
  return eof_error ? eof_error : bhttp::error::partial_message;
}

// Reads one request: the head under the idle timeout (a connection waiting for its next
// request, or a slowloris dribbling headers), the body under the read timeout. The bytes after
// it stay in `buffer` for the next request.
Task<error_code> read_request(tcp::socket& socket, beast::flat_buffer& buffer, Parser& parser,
                              ConnectionDeadline& deadline, const ServerConfig& config,
                              bool& idle) {
  deadline.expires_after(config.idle_timeout);
  for (;;) {
    if (const error_code ec = parse_buffered(buffer, parser); ec) co_return ec;
    if (parser.is_done()) break;
    if (idle && parser.is_header_done()) {
      idle = false;
      deadline.expires_after(config.read_timeout);
    }
    auto [ec, bytes] = co_await socket.async_read_some(
        buffer.prepare(beast::read_size(buffer, max_read_size)), tuple_awaitable);
    if (ec) co_return read_failure(ec, parser, deadline);
    buffer.commit(bytes);
  }
  idle = false;
  deadline.clear();
  co_return error_code{};
}

}  // namespace

Task<void> serve_connection(asio::ip::tcp::socket socket, ConnectionContext& context) {
  const ServerConfig& config = context.config;
  error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  const auto remote = socket.remote_endpoint(ignored);
  const std::string peer = remote.address().to_string();
  ConnectionDeadline deadline(socket.get_executor(), [&socket] {
    error_code ignored_close;
    socket.close(ignored_close);
  });
  beast::flat_buffer buffer;
  buffer.reserve(initial_read_capacity);
  std::string head;  // each response's head, built here: one allocation per connection
  bool idle = true;
  auto entry = context.connections.add([&] {
    if (idle) socket.close(ignored);
  });
  struct Remove {
    ConnectionSet& set;
    std::list<ConnectionSet::Entry>::iterator entry;
    ~Remove() { set.remove(entry); }
  } remove{context.connections, entry};

  while (!context.connections.draining()) {
    Parser parser;
    parser.header_limit(static_cast<std::uint32_t>(config.max_header_bytes));
    parser.body_limit(config.max_body_bytes);
    idle = true;
    if (const error_code read_error =
            co_await read_request(socket, buffer, parser, deadline, config, idle)) {
      if (const int status = status_for_read_error(read_error); status != 0) {
        // Once the request line is in (even if the head was refused for its Content-Length), the
        // route says whose shape; before it, the target is empty and the shape OpenAI's.
        const ErrorStyle style = error_style(route(config, parser.get().target()).endpoint);
        co_await send_error(socket, status, read_error_message(status), style);
      }
      break;
    }
    const bool keep_alive = parser.get().keep_alive() && !context.connections.draining();
    Request request = to_request(parser.release(), context.next_request_id(), peer);
    SocketResponder responder(socket, deadline, head, config, keep_alive, request.id);
    try {
      co_await context.handler.handle(request, responder);
    } catch (const boost::system::system_error&) {
      // The client went away while we wrote to it: nothing left to tell it.
      responder.reset();
    }
    if (!keep_alive || !responder.usable()) break;
  }
  if (socket.is_open()) socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

Task<void> refuse_connection(asio::ip::tcp::socket socket) {
  co_await send_error(socket, 503, "too many connections", ErrorStyle::openai);
  error_code ignored;
  socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

}  // namespace opencode_cache::server::http

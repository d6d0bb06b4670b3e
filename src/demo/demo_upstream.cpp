// opencode-cache-demo-upstream: the provider scripts/run --demo puts behind the gateway. An
// OpenAI-compatible Chat Completions server on loopback that answers every request with the
// same text (canned_completion.hpp), streams it word by word with a delay between chunks so
// that a recorded replay is visibly faster, and needs no account. Not a test fixture and not
// a provider to build on: one thread, no TLS, no authentication.
//
//   OPENCODE_CACHE_DEMO_LISTEN          host:port, loopback only (default 127.0.0.1:3001)
//   OPENCODE_CACHE_DEMO_CHUNK_DELAY_MS  pause between streamed chunks (default 40; 0 for none)
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>

#include "demo/canned_completion.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace demo = opencode_cache::demo;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

struct DemoConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 3001;
  std::chrono::milliseconds chunk_delay{40};
};

[[noreturn]] void invalid(std::string_view variable, std::string_view why) {
  throw std::invalid_argument(std::string(variable) + ": " + std::string(why));
}

std::uint64_t parse_number(std::string_view variable, std::string_view text, std::uint64_t max) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value > max) {
    invalid(variable,
            "'" + std::string(text) + "' is not an integer from 0 to " + std::to_string(max));
  }
  return value;
}

DemoConfig config_from_env() {
  DemoConfig config;
  if (const char* listen = std::getenv("OPENCODE_CACHE_DEMO_LISTEN"); listen && *listen) {
    const std::string_view text(listen);
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      invalid("OPENCODE_CACHE_DEMO_LISTEN", "expected host:port");
    }
    config.host = std::string(text.substr(0, colon));
    config.port = static_cast<std::uint16_t>(
        parse_number("OPENCODE_CACHE_DEMO_LISTEN", text.substr(colon + 1), 65535));
  }
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(config.host, ec);
  // A demo without authentication must not be reachable from other machines.
  if (ec || !address.is_loopback()) {
    invalid("OPENCODE_CACHE_DEMO_LISTEN", "'" + config.host + "' is not a loopback address");
  }
  if (const char* delay = std::getenv("OPENCODE_CACHE_DEMO_CHUNK_DELAY_MS"); delay && *delay) {
    config.chunk_delay =
        std::chrono::milliseconds(parse_number("OPENCODE_CACHE_DEMO_CHUNK_DELAY_MS", delay, 10000));
  }
  return config;
}

http::response<http::string_body> json_response(unsigned version, unsigned status,
                                                std::string body) {
  http::response<http::string_body> response(static_cast<http::status>(status), version);
  response.set(http::field::content_type, "application/json");
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

awaitable<void> write_json(beast::tcp_stream& stream, unsigned version, unsigned status,
                           std::string body, bool keep_alive) {
  auto response = json_response(version, status, std::move(body));
  response.keep_alive(keep_alive);
  co_await http::async_write(stream, response, use_awaitable);
}

awaitable<void> write_stream(beast::tcp_stream& stream, unsigned version,
                             const demo::CompletionRequest& request,
                             std::chrono::milliseconds delay) {
  http::response<http::empty_body> head(http::status::ok, version);
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-cache");
  head.chunked(true);
  http::response_serializer<http::empty_body> serializer(head);
  co_await http::async_write_header(stream, serializer, use_awaitable);
  asio::steady_timer pause(stream.get_executor());
  bool first = true;
  for (const std::string& event : demo::completion_events(request)) {
    if (!first && delay.count() > 0) {
      pause.expires_after(delay);
      co_await pause.async_wait(use_awaitable);
    }
    first = false;
    co_await asio::async_write(stream, http::make_chunk(asio::buffer(event)), use_awaitable);
  }
  co_await asio::async_write(stream, http::make_chunk_last(), use_awaitable);
}

awaitable<void> answer(beast::tcp_stream& stream, const http::request<http::string_body>& request,
                       std::chrono::milliseconds delay) {
  const bool keep_alive = request.keep_alive();
  const unsigned version = request.version();
  const std::string_view target = request.target();
  if (target == "/v1/models" && request.method() == http::verb::get) {
    co_await write_json(stream, version, 200, demo::models_json(), keep_alive);
    co_return;
  }
  if (target != "/v1/chat/completions") {
    const auto error = demo::demo_error(404, "invalid_request_error",
                                        "the demo upstream serves only POST /v1/chat/completions "
                                        "and GET /v1/models");
    co_await write_json(stream, version, error.status, error.body, keep_alive);
    co_return;
  }
  if (request.method() != http::verb::post) {
    const auto error = demo::demo_error(405, "invalid_request_error", "use POST");
    co_await write_json(stream, version, error.status, error.body, keep_alive);
    co_return;
  }
  demo::CompletionRequest completion;
  std::optional<demo::DemoError> refused;  // co_await is not allowed inside a catch block
  try {
    completion = demo::parse_completion_request(request.body());
  } catch (const demo::DemoError& error) {
    refused = error;
  }
  if (refused) {
    co_await write_json(stream, version, refused->status, refused->body, keep_alive);
    co_return;
  }
  if (completion.stream) {
    co_await write_stream(stream, version, completion, delay);
  } else {
    co_await write_json(stream, version, 200, demo::completion_json(completion), keep_alive);
  }
}

awaitable<void> serve(tcp::socket socket, std::chrono::milliseconds delay) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> request;
    boost::system::error_code ec;
    co_await http::async_read(stream, buffer, request, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;  // the client closed, or sent something that is not HTTP
    co_await answer(stream, request, delay);
    if (!request.keep_alive()) co_return;
  }
}

awaitable<void> accept_loop(tcp::acceptor& acceptor, std::chrono::milliseconds delay) {
  for (;;) {
    tcp::socket socket = co_await acceptor.async_accept(use_awaitable);
    // A client that goes away mid-answer ends only its own connection.
    asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), delay),
                   [](const std::exception_ptr&) {});
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    const bool help = std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0;
    (help ? std::cout : std::cerr)
        << "opencode-cache-demo-upstream: a canned OpenAI-compatible provider for scripts/run "
           "--demo\n  OPENCODE_CACHE_DEMO_LISTEN          host:port, loopback only "
           "(127.0.0.1:3001)\n  OPENCODE_CACHE_DEMO_CHUNK_DELAY_MS  pause between streamed "
           "chunks (40)\n";
    return help ? 0 : 2;
  }
  DemoConfig config;
  try {
    config = config_from_env();
  } catch (const std::exception& e) {
    std::cerr << "opencode-cache-demo-upstream: configuration error: " << e.what() << "\n";
    return 2;
  }
  try {
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address(config.host), config.port));
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code&, int) { io.stop(); });
    asio::co_spawn(io, accept_loop(acceptor, config.chunk_delay), asio::detached);
    std::cerr << "opencode-cache-demo-upstream: listening on http://" << config.host << ":"
              << acceptor.local_endpoint().port() << "/v1\n";
    io.run();
  } catch (const std::exception& e) {
    std::cerr << "opencode-cache-demo-upstream: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

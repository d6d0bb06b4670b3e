#include "server/support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace opencode_cache::testing {
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

struct HttpClient::Impl {
  explicit Impl(std::uint16_t p) : port(p) {}
  std::uint16_t port;
  asio::io_context io;
  tcp::socket socket{io};
  boost::beast::flat_buffer buffer;

  void ensure_connected() {
    if (socket.is_open()) return;
    buffer.clear();
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  HttpResponse read_response() {
    HttpResponse out;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    boost::system::error_code ec;
    bhttp::read_header(socket, buffer, parser, ec);
    if (!ec) bhttp::read(socket, buffer, parser, ec);
    if (parser.is_header_done()) {
      out.status = static_cast<int>(parser.get().result_int());
      for (const auto& field : parser.get()) {
        std::string name(field.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        out.headers[name] = std::string(field.value());
      }
      out.body = parser.get().body();
    }
    if (ec) {
      out.error = ec.message();
      boost::system::error_code ignored;
      socket.close(ignored);
    } else if (!parser.get().keep_alive()) {
      socket.close();
    }
    return out;
  }
};

HttpClient::HttpClient(std::uint16_t port) : impl_(std::make_unique<Impl>(port)) {}
HttpClient::~HttpClient() = default;

HttpResponse HttpClient::request(const std::string& method, const std::string& target,
                                 const std::string& body,
                                 const std::vector<std::pair<std::string, std::string>>& headers) {
  impl_->ensure_connected();
  bhttp::request<bhttp::string_body> message;
  message.method_string(method);
  message.target(target);
  message.version(11);
  message.set(bhttp::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) message.set(name, value);
  if (!body.empty()) {
    if (message[bhttp::field::content_type].empty()) {
      message.set(bhttp::field::content_type, "application/json");
    }
    message.body() = body;
  }
  message.prepare_payload();
  boost::system::error_code ec;
  bhttp::write(impl_->socket, message, ec);
  if (ec) {
    HttpResponse failed;
    failed.error = ec.message();
    impl_->socket.close();
    return failed;
  }
  return impl_->read_response();
}

HttpResponse HttpClient::raw(const std::string& bytes) {
  impl_->ensure_connected();
  asio::write(impl_->socket, asio::buffer(bytes));
  return impl_->read_response();
}

HttpResponse HttpClient::next_response() {
  return impl_->read_response();
}

std::string HttpClient::read_head_and_close(const std::string& target, const std::string& body,
                                            std::size_t bytes) {
  impl_->ensure_connected();
  const std::string request = "POST " + target +
                              " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              "Content-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
  asio::write(impl_->socket, asio::buffer(request));
  std::string received;
  char chunk[4096];
  while (received.find("\r\n\r\n") == std::string::npos ||
         received.size() - received.find("\r\n\r\n") - 4 < bytes) {
    const std::size_t n = impl_->socket.read_some(asio::buffer(chunk));
    received.append(chunk, n);
  }
  boost::system::error_code ignored;
  impl_->socket.set_option(asio::socket_base::linger(true, 0), ignored);
  impl_->socket.close(ignored);
  return received;
}

std::string chat_body(const std::string& prompt, bool stream, const std::string& model,
                      const std::string& extra) {
  std::string body =
      R"({"model":")" + model + R"(","messages":[{"role":"user","content":")" + prompt + "\"}]";
  if (stream) body += R"(,"stream":true,"stream_options":{"include_usage":true})";
  body += extra;
  body += "}";
  return body;
}

std::string responses_body(const std::string& prompt, bool stream, const std::string& model,
                           const std::string& extra) {
  std::string body = R"({"model":")" + model + R"(","input":[{"role":"user","content":")" + prompt +
                     R"("}],"include":["reasoning.encrypted_content"],"store":false)";
  if (stream) body += R"(,"stream":true)";
  body += extra;
  body += "}";
  return body;
}

std::string messages_body(const std::string& prompt, bool stream, const std::string& model,
                          const std::string& extra) {
  std::string body = R"({"model":")" + model +
                     R"(","max_tokens":1024,"messages":[{"role":"user","content":")" + prompt +
                     "\"}]";
  if (stream) body += R"(,"stream":true)";
  body += extra;
  body += "}";
  return body;
}

}  // namespace opencode_cache::testing

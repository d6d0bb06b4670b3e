// The provider side: HTTP/1.1 to a provider's base URL, TLS verified against the system's
// CAs with SNI, idle keep-alive connections kept per upstream, deadlines on connecting, on
// the first byte of the answer and between body chunks. One pool per thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "server/config/server_config.hpp"
#include "server/http/exchange.hpp"

namespace opencode_cache::server::upstream {

template <class T>
using Task = boost::asio::awaitable<T>;

enum class Failure { connect, timeout, protocol, aborted };

// What went wrong talking to the provider; the gateway answers 502, or 504 for a timeout.
class UpstreamError : public std::runtime_error {
 public:
  UpstreamError(Failure failure, const std::string& what)
      : std::runtime_error(what), failure_(failure) {}
  Failure failure() const noexcept { return failure_; }
  int status() const noexcept { return failure_ == Failure::timeout ? 504 : 502; }

 private:
  Failure failure_;
};

struct Request {
  Request() = default;
  std::string method;
  std::string target;
  http::Headers headers;  // Host, Content-Length and Connection are set by the client
  std::string body;
};

// An answer whose head has arrived; its body is read as it comes.
class Response {
 public:
  virtual ~Response() = default;
  int status = 0;
  http::Headers headers;
  // The next body bytes (chunked encoding removed), or nullopt once the body is complete.
  // Throws UpstreamError.
  virtual Task<std::optional<std::string>> next() = 0;
  // Gives up on the body: a pending next() fails with Failure::aborted; the connection is
  // not reused.
  virtual void abort() = 0;
};

struct Timeouts {
  std::chrono::milliseconds connect{10000};
  std::chrono::milliseconds first_byte{300000};
  std::chrono::milliseconds between_chunks{300000};
};

class Pool {
 public:
  Pool(boost::asio::any_io_executor executor, Timeouts timeouts, std::size_t idle_per_upstream);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Sends the request and waits for the answer's head. Throws UpstreamError.
  Task<std::unique_ptr<Response>> send(const BaseUrl& base, const Request& request);
  // Closes idle connections; later sends still work.
  void close_idle();

  std::size_t idle_connections() const noexcept;
  std::uint64_t connections_opened() const noexcept;

 // The pool's connections; responses hold it weakly, to hand their connection back.
  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace opencode_cache::server::upstream

// One HTTP exchange as the handlers see it, without Beast: the request read, and the
// responder that writes the answer (whole, or as a stream of chunks).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace opencode_cache::server::http {

template <class T>
using Task = boost::asio::awaitable<T>;

// Field names lower-cased, in arrival order.
using Headers = std::vector<std::pair<std::string, std::string>>;

const std::string* find_header(const Headers& headers, std::string_view lower_name);

struct Request {
  std::string method;
  std::string target;
  Headers headers;
  std::string body;
  std::string id;  // this request's id in logs and X-Request-Id
  std::string peer;

  const std::string* header(std::string_view lower_name) const {
    return find_header(headers, lower_name);
  }
};

class Responder {
 public:
  virtual ~Responder() = default;
  // A complete response with Content-Length.
  virtual Task<void> send(int status, Headers headers, std::string body) = 0;
  // The head of a chunked response; write() sends body bytes as they come, end() the last
  // chunk. Each throws boost::system::system_error when the client is gone.
  virtual Task<void> begin(int status, Headers headers) = 0;
  virtual Task<void> write(std::string_view bytes) = 0;
  virtual Task<void> end() = 0;
  // Ends the exchange abnormally (TCP reset): the client must not take a truncated body as
  // complete.
  virtual void reset() = 0;
  // Whether a response has started: after begin() a failure can only reset().
  virtual bool started() const = 0;
};

}  // namespace opencode_cache::server::http

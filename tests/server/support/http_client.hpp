#pragma once
// A blocking HTTP/1.1 client for the gateway's tests: one connection, kept alive between
// requests; a response read to its end, or the error that cut it short.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace opencode_cache::testing {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string error;  // non-empty when the response did not end cleanly
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port);
  ~HttpClient();
  HttpResponse request(const std::string& method, const std::string& target,
                       const std::string& body = "",
                       const std::vector<std::pair<std::string, std::string>>& headers = {});
  HttpResponse post(const std::string& target, const std::string& body,
                    const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return request("POST", target, body, headers);
  }
  // Sends raw bytes; the answer is read as a response.
  HttpResponse raw(const std::string& bytes);
  // Reads the next response on the connection (after raw() sent several requests at once).
  HttpResponse next_response();
  // Sends a request and reads only the response head and `bytes` body bytes, then closes.
  std::string read_head_and_close(const std::string& target, const std::string& body,
                                  std::size_t bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string chat_body(const std::string& prompt, bool stream, const std::string& model = "gpt-test",
                      const std::string& extra = "");
// A Responses request: `input` as one user message, encrypted reasoning asked for, store false.
std::string responses_body(const std::string& prompt, bool stream,
                           const std::string& model = "gpt-test", const std::string& extra = "");
// An Anthropic Messages request.
std::string messages_body(const std::string& prompt, bool stream,
                          const std::string& model = "claude-test", const std::string& extra = "");

}  // namespace opencode_cache::testing

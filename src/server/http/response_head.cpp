#include "server/http/response_head.hpp"

#include <boost/beast/http/status.hpp>
#include <charconv>

namespace opencode_cache::server::http {

namespace {

bool has_body(int status) {
  return status >= 200 && status != 204 && status != 304;
}

void append_number(std::size_t value, std::string& out) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, end);
}

void append_header(std::string_view name, std::string_view value, std::string& out) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

}  // namespace

void append_response_head(int status, const Headers& headers, const ResponseHeadOptions& options,
                          std::string& out) {
  out += "HTTP/1.1 ";
  append_number(static_cast<std::size_t>(status), out);
  out += ' ';
  out += boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  out += "\r\n";
  for (const auto& [name, value] : headers) append_header(name, value, out);
  if (!options.request_id.empty()) append_header("x-request-id", options.request_id, out);
  // HTTP/1.1 keeps a connection open unless told otherwise.
  if (!options.keep_alive) append_header("connection", "close", out);
  if (has_body(status)) {
    if (options.chunked) {
      append_header("transfer-encoding", "chunked", out);
    } else {
      out += "content-length: ";
      append_number(options.content_length, out);
      out += "\r\n";
    }
  }
  out += "\r\n";
}

std::string_view chunk_size_line(std::size_t size, char (&buffer)[24]) {
  char* end = std::to_chars(buffer, buffer + sizeof buffer - 2, size, 16).ptr;
  *end++ = '\r';
  *end++ = '\n';
  return {buffer, static_cast<std::size_t>(end - buffer)};
}

}  // namespace opencode_cache::server::http

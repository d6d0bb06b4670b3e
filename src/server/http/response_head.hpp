// The bytes of an HTTP/1.1 response head and of chunked framing, built without I/O: the
// connection writes them beside the body in one gather write.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "server/http/exchange.hpp"

namespace opencode_cache::server::http {

struct ResponseHeadOptions {
  bool keep_alive = true;
  // Content-Length for a whole body, or Transfer-Encoding: chunked for a stream.
  bool chunked = false;
  std::size_t content_length = 0;
  std::string_view request_id;
};

// Appends "HTTP/1.1 <status> <reason>", the headers, X-Request-Id, the framing header and the
// blank line to `out`. Statuses without a body (1xx, 204, 304) get no framing header.
void append_response_head(int status, const Headers& headers, const ResponseHeadOptions& options,
                          std::string& out);

// The size line of one chunk ("1a2b\r\n"); the chunk's bytes and "\r\n" follow it.
std::string_view chunk_size_line(std::size_t size, char (&buffer)[24]);

inline constexpr std::string_view chunk_end = "\r\n";
inline constexpr std::string_view last_chunk = "0\r\n\r\n";

}  // namespace opencode_cache::server::http

#include "server/http/response_head.hpp"

#include <gtest/gtest.h>

namespace opencode_cache::server::http {
namespace {

Headers json_headers() {
  Headers headers;
  headers.emplace_back("content-type", "application/json");
  return headers;
}

TEST(ResponseHead, AWholeBodyHasItsLengthAndTheRequestId) {
  ResponseHeadOptions options;
  options.content_length = 17;
  options.request_id = "req-1";
  std::string head;
  append_response_head(200, json_headers(), options, head);
  EXPECT_EQ(head,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: req-1\r\n"
            "content-length: 17\r\n\r\n");
}

TEST(ResponseHead, AStreamIsChunkedAndAClosingConnectionSaysSo) {
  ResponseHeadOptions options;
  options.chunked = true;
  options.keep_alive = false;
  std::string head;
  append_response_head(429, Headers(), options, head);
  EXPECT_EQ(head,
            "HTTP/1.1 429 Too Many Requests\r\nconnection: close\r\n"
            "transfer-encoding: chunked\r\n\r\n");
}

TEST(ResponseHead, NoContentHasNoFraming) {
  std::string head;
  append_response_head(204, Headers(), ResponseHeadOptions(), head);
  EXPECT_EQ(head, "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(ResponseHead, ChunkSizeLinesAreHex) {
  char buffer[24];
  EXPECT_EQ(chunk_size_line(0x1a2b, buffer), "1a2b\r\n");
  EXPECT_EQ(chunk_size_line(1, buffer), "1\r\n");
}

}  // namespace
}  // namespace opencode_cache::server::http

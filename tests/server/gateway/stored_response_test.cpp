// Stored entries round-trip exactly, and anything else (foreign values, other versions,
// truncated or damaged bytes) is a clear error, never a crash.

#include "server/gateway/stored_response.hpp"

#include <gtest/gtest.h>

#include <random>

namespace opencode_cache::server::gateway {
namespace {

StoredResponse streamed_entry() {
  StoredResponse entry;
  entry.kind = StoredKind::sse;
  entry.status = 200;
  entry.created_at_ms = 1764619200123;
  entry.content_type = "text/event-stream; charset=utf-8";
  entry.headers = {{"x-request-id", "req_123"}, {"openai-model", "gpt-4o-mini"}};
  entry.usage = TokenUsage{.prompt_tokens = 1200,
                           .completion_tokens = 34,
                           .total_tokens = 1234,
                           .cached_tokens = 1024,
                           .reasoning_tokens = 0};
  entry.append_event("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n");
  entry.append_event(": keep-alive\r\n\r\n");
  entry.append_event("data: [DONE]\n\n");
  return entry;
}

StoredResponse json_entry() {
  StoredResponse entry;
  entry.kind = StoredKind::json;
  entry.status = 200;
  entry.created_at_ms = 5;
  entry.content_type = "application/json";
  entry.body = R"({"object":"chat.completion","choices":[]})";
  return entry;
}

void expect_same(const StoredResponse& a, const StoredResponse& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.created_at_ms, b.created_at_ms);
  EXPECT_EQ(a.content_type, b.content_type);
  EXPECT_EQ(a.headers, b.headers);
  EXPECT_EQ(a.usage, b.usage);
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(a.event_sizes, b.event_sizes);
}

TEST(StoredResponse, StreamedEntryRoundTrips) {
  const auto entry = streamed_entry();
  const auto encoded = encode_stored_response(entry);
  const auto decoded = decode_stored_response(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.error;
  expect_same(decoded.entry.to_owned(), entry);
  const auto events = decoded.entry.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1], ": keep-alive\r\n\r\n");
  EXPECT_EQ(events[2], "data: [DONE]\n\n");
}

TEST(StoredResponse, JsonEntryRoundTripsWithoutUsageOrHeaders) {
  const auto entry = json_entry();
  const auto encoded = encode_stored_response(entry);
  const auto decoded = decode_stored_response(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.error;
  expect_same(decoded.entry.to_owned(), entry);
  EXPECT_TRUE(decoded.entry.events().empty());
}

TEST(StoredResponse, KeepsArbitraryBytesAndLargeNumbers) {
  StoredResponse entry = streamed_entry();
  entry.status = 599;
  entry.created_at_ms = UINT64_MAX;
  entry.usage->prompt_tokens = UINT64_MAX;
  entry.append_event(std::string("data: \0\xff\x80\n\n", 11));
  entry.append_event("");
  const auto encoded = encode_stored_response(entry);
  const auto decoded = decode_stored_response(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.error;
  expect_same(decoded.entry.to_owned(), entry);
}

TEST(StoredResponse, TheViewPointsIntoTheEncodedString) {
  const auto encoded = encode_stored_response(streamed_entry());
  const auto decoded = decode_stored_response(encoded);
  ASSERT_TRUE(decoded.ok());
  EXPECT_GE(decoded.entry.body.data(), encoded.data());
  EXPECT_LE(decoded.entry.body.data() + decoded.entry.body.size(), encoded.data() + encoded.size());
}

TEST(StoredResponse, RejectsForeignValues) {
  for (const std::string_view foreign :
       {R"({"prompt":"p","model":"m","response":"r","timestamp":1})", "", "OCG", "ocgw\x01J"}) {
    const auto decoded = decode_stored_response(foreign);
    EXPECT_FALSE(decoded.ok()) << foreign;
    EXPECT_EQ(decoded.error, "not a gateway entry (foreign value)") << foreign;
  }
}

TEST(StoredResponse, RejectsOtherVersions) {
  auto encoded = encode_stored_response(json_entry());
  encoded[4] = 2;
  const auto decoded = decode_stored_response(encoded);
  EXPECT_EQ(decoded.error, "gateway entry version 2 is not supported (this build reads version 1)");
}

TEST(StoredResponse, RejectsEveryTruncation) {
  const auto encoded = encode_stored_response(streamed_entry());
  for (std::size_t size = 0; size < encoded.size(); ++size) {
    const auto decoded = decode_stored_response(std::string_view(encoded).substr(0, size));
    EXPECT_FALSE(decoded.ok()) << "truncated to " << size;
    EXPECT_FALSE(decoded.error.empty());
    EXPECT_TRUE(decoded.entry.body.empty());
  }
}

TEST(StoredResponse, RejectsTrailingBytes) {
  const auto decoded = decode_stored_response(encode_stored_response(json_entry()) + "x");
  EXPECT_EQ(decoded.error, "damaged gateway entry: trailing bytes");
}

TEST(StoredResponse, RejectsDamagedFields) {
  auto encoded = encode_stored_response(json_entry());
  auto kind = encoded;
  kind[5] = 'X';
  EXPECT_EQ(decode_stored_response(kind).error, "damaged gateway entry: unknown kind");
  auto status = encoded;
  status[6] = 1;  // status 1
  EXPECT_EQ(decode_stored_response(status).error, "damaged gateway entry: status 1");
  // Status 200 takes bytes 6 and 7; created_at (5) is byte 8.
  std::string overlong = encoded.substr(0, 8) + std::string(10, '\xff') + "\x01";
  EXPECT_EQ(decode_stored_response(overlong).error,
            "damaged gateway entry: overlong number in created_at");
  std::string padded =
      encoded.substr(0, 8) + std::string("\x85\x00", 2) + encoded.substr(9);  // 5 in 2 bytes
  EXPECT_EQ(decode_stored_response(padded).error,
            "damaged gateway entry: overlong number in created_at");
}

TEST(StoredResponse, RejectsEventSizesThatDoNotAddUp) {
  auto entry = streamed_entry();
  entry.event_sizes.back() += 1;
  EXPECT_EQ(decode_stored_response(encode_stored_response(entry)).error,
            "damaged gateway entry: event sizes do not match the body");
  entry = streamed_entry();
  entry.event_sizes.pop_back();
  EXPECT_EQ(decode_stored_response(encode_stored_response(entry)).error,
            "damaged gateway entry: event sizes do not match the body");
}

TEST(StoredResponse, SurvivesRandomDamage) {
  const auto encoded = encode_stored_response(streamed_entry());
  std::mt19937 random(42);
  for (int round = 0; round < 20000; ++round) {
    auto damaged = encoded;
    const int flips = 1 + static_cast<int>(random() % 4);
    for (int i = 0; i < flips; ++i) {
      damaged[random() % damaged.size()] = static_cast<char>(random());
    }
    const auto decoded = decode_stored_response(damaged);
    if (!decoded.ok()) continue;
    // Whatever is accepted is self-consistent.
    std::size_t total = 0;
    for (const auto size : decoded.entry.event_sizes) total += size;
    if (decoded.entry.kind == StoredKind::sse) {
      EXPECT_EQ(total, decoded.entry.body.size());
    }
    // One encoding per entry: what decodes re-encodes to the same bytes.
    EXPECT_EQ(encode_stored_response(decoded.entry.to_owned()), damaged);
  }
}

TEST(KeptUpstreamHeader, KeepsIdsAndModelOnly) {
  EXPECT_TRUE(kept_upstream_header("x-request-id"));
  EXPECT_TRUE(kept_upstream_header("X-Request-ID"));
  EXPECT_TRUE(kept_upstream_header("request-id"));
  EXPECT_TRUE(kept_upstream_header("OpenAI-Model"));
  EXPECT_TRUE(kept_upstream_header("openai-version"));
  for (const auto name : {"content-length", "transfer-encoding", "date", "set-cookie",
                          "x-ratelimit-remaining-requests", "openai-organization",
                          "openai-processing-ms", "x-request-i"}) {
    EXPECT_FALSE(kept_upstream_header(name)) << name;
  }
}

}  // namespace
}  // namespace opencode_cache::server::gateway

// The Anthropic Messages recorder stores only a stream that reached message_stop, and keeps
// it byte for byte.

#include "server/gateway/messages_stream.hpp"

#include <gtest/gtest.h>

namespace opencode_cache::server::gateway {
namespace {

std::string event(const std::string& type, const std::string& fields) {
  return "event: " + type + "\ndata: {\"type\":\"" + type + "\"" +
         (fields.empty() ? "" : "," + fields) + "}\n\n";
}

const std::string start = event(
    "message_start",
    R"("message":{"id":"m","type":"message","role":"assistant","content":[],"usage":{"input_tokens":6,"cache_creation_input_tokens":2,"cache_read_input_tokens":3,"output_tokens":1}})");
const std::string ping = "event: ping\ndata: {\"type\": \"ping\"}\n\n";
const std::string thinking =
    event("content_block_start",
          R"("index":0,"content_block":{"type":"thinking","thinking":"","signature":""})") +
    event("content_block_delta",
          R"("index":0,"delta":{"type":"thinking_delta","thinking":"hmm"})") +
    event("content_block_delta",
          R"("index":0,"delta":{"type":"signature_delta","signature":"Eq+/=="})") +
    event("content_block_stop", R"("index":0)");
const std::string delta =
    event("message_delta",
          R"("delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9})");
const std::string stop = event("message_stop", "");

MessagesRecorder record(const std::string& stream,
                        std::size_t cap = RecordedEvents::default_max_bytes) {
  SseParser parser;
  std::vector<SseEvent> events;
  EXPECT_TRUE(parser.feed(stream, events));
  parser.finish(events);
  MessagesRecorder recorder(cap);
  for (auto& e : events) recorder.observe(std::move(e));
  return recorder;
}

std::string joined(const std::vector<std::string>& events) {
  std::string out;
  for (const auto& e : events) out += e;
  return out;
}

TEST(MessagesRecorder, AStoppedStreamIsStorableAndKeptVerbatim) {
  const auto stream = start + ping + thinking + delta + stop;
  auto recorder = record(stream);
  EXPECT_TRUE(recorder.storable());
  EXPECT_EQ(recorder.stop_reason(), "end_turn");
  EXPECT_EQ(recorder.events().size(), 8u);
  EXPECT_EQ(joined(recorder.events()), stream);
}

TEST(MessagesRecorder, UsageIsMessageStartsUpdatedByMessageDelta) {
  const auto recorder = record(start + delta + stop);
  ASSERT_TRUE(recorder.usage().has_value());
  // prompt = 6 + 2 + 3; cached = the cache reads; output from message_delta.
  EXPECT_EQ(*recorder.usage(), (TokenUsage{11, 9, 20, 3, 0}));
}

TEST(MessagesRecorder, WithoutMessageStopOrMessageStartNothingIsStored) {
  EXPECT_FALSE(record(start + thinking + delta).storable());
  EXPECT_FALSE(record(thinking + delta + stop).storable());
  EXPECT_FALSE(record(start + thinking + delta).failed());
}

TEST(MessagesRecorder, AnErrorEventFailsTheStream) {
  const auto recorder = record(
      start + event("error", R"("error":{"type":"overloaded_error","message":"Overloaded"})") +
      stop);
  EXPECT_FALSE(recorder.storable());
  EXPECT_EQ(recorder.failure(), "upstream error in stream: Overloaded");
  const auto bare = record(start + "event: error\n\n" + stop);
  EXPECT_FALSE(bare.storable());
  EXPECT_EQ(bare.failure(), "upstream error event in stream");
}

TEST(MessagesRecorder, MalformedPayloadsFail) {
  const auto recorder = record(start + "event: content_block_delta\ndata: not json\n\n" + stop);
  EXPECT_FALSE(recorder.storable());
  EXPECT_EQ(recorder.failure(), "malformed event in stream: not a JSON object");
}

TEST(MessagesRecorder, OverTheCapNothingIsKept) {
  const auto stream = start + delta + stop;
  auto recorder = record(stream, start.size());
  EXPECT_TRUE(recorder.clean());
  EXPECT_FALSE(recorder.storable());
  EXPECT_TRUE(recorder.events().empty());
}

}  // namespace
}  // namespace opencode_cache::server::gateway

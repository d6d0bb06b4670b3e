// The Chat Completions recorder stores only a stream that finished cleanly, and keeps it
// byte for byte.

#include "server/gateway/chat_completions_stream.hpp"

#include <gtest/gtest.h>

namespace opencode_cache::server::gateway {
namespace {

const std::string role_chunk =
    R"(data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})"
    "\n\n";
const std::string content_chunk =
    R"(data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]})"
    "\n\n";
const std::string finish_chunk =
    R"(data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})"
    "\n\n";
const std::string usage_chunk =
    R"(data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":1}}})"
    "\n\n";
const std::string done = "data: [DONE]\n\n";

// Feeds `stream` through the SSE splitter into a recorder.
ChatCompletionsRecorder record(
    const std::string& stream,
    std::size_t cap = ChatCompletionsRecorder::default_max_recorded_bytes) {
  SseParser parser;
  std::vector<SseEvent> events;
  EXPECT_TRUE(parser.feed(stream, events));
  parser.finish(events);
  ChatCompletionsRecorder recorder(cap);
  for (auto& event : events) recorder.observe(std::move(event));
  return recorder;
}

std::string joined(const std::vector<std::string>& events) {
  std::string out;
  for (const auto& event : events) out += event;
  return out;
}

TEST(ChatCompletionsRecorder, ACleanStreamIsStorableAndKeptVerbatim) {
  const auto stream =
      role_chunk + ": keep-alive\n\n" + content_chunk + finish_chunk + usage_chunk + done;
  auto recorder = record(stream);
  EXPECT_TRUE(recorder.clean());
  EXPECT_TRUE(recorder.storable());
  EXPECT_FALSE(recorder.failed());
  EXPECT_EQ(recorder.finish_reason(), "stop");
  ASSERT_EQ(recorder.events().size(), 6u);
  EXPECT_EQ(recorder.events()[1], ": keep-alive\n\n");
  EXPECT_EQ(joined(recorder.events()), stream);
  EXPECT_EQ(recorder.recorded_bytes(), stream.size());
  const auto events = recorder.take_events();
  EXPECT_EQ(joined(events), stream);
}

TEST(ChatCompletionsRecorder, CapturesTheUsage) {
  const auto recorder = record(role_chunk + finish_chunk + usage_chunk + done);
  ASSERT_TRUE(recorder.usage().has_value());
  EXPECT_EQ(*recorder.usage(), (TokenUsage{.prompt_tokens = 12,
                                           .completion_tokens = 3,
                                           .total_tokens = 15,
                                           .cached_tokens = 4,
                                           .reasoning_tokens = 1}));
  EXPECT_FALSE(record(role_chunk + finish_chunk + done).usage().has_value());
}

TEST(ChatCompletionsRecorder, KeepsCrlfEventsVerbatim) {
  const std::string stream =
      "data: "
      "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}"
      "\r\n\r\n"
      "data:[DONE]\r\n\r\n";
  const auto recorder = record(stream);
  EXPECT_TRUE(recorder.storable());
  EXPECT_EQ(joined(recorder.events()), stream);
}

TEST(ChatCompletionsRecorder, NoDoneIsNotStorable) {
  const auto recorder = record(role_chunk + content_chunk + finish_chunk + usage_chunk);
  EXPECT_FALSE(recorder.clean());
  EXPECT_FALSE(recorder.storable());
  EXPECT_FALSE(recorder.failed());
  EXPECT_FALSE(recorder.done_seen());
}

TEST(ChatCompletionsRecorder, DoneWithoutFinishReasonIsNotStorable) {
  const auto recorder = record(role_chunk + content_chunk + done);
  EXPECT_TRUE(recorder.done_seen());
  EXPECT_FALSE(recorder.clean());
  EXPECT_FALSE(recorder.storable());
}

TEST(ChatCompletionsRecorder, ATruncatedLastEventIsNotStorable) {
  // The upstream died inside the [DONE] event: the splitter never completes it.
  const auto recorder = record(role_chunk + finish_chunk + "data: [DONE]\n");
  EXPECT_FALSE(recorder.storable());
}

TEST(ChatCompletionsRecorder, AMidStreamErrorFails) {
  const auto recorder =
      record(role_chunk + content_chunk +
             R"(data: {"error":{"message":"Rate limit reached","type":"rate_limit_error"}})"
             "\n\n" +
             finish_chunk + done);
  EXPECT_TRUE(recorder.failed());
  EXPECT_EQ(recorder.failure(), "upstream error in stream: Rate limit reached");
  EXPECT_FALSE(recorder.clean());
  EXPECT_FALSE(recorder.storable());
}

TEST(ChatCompletionsRecorder, AnErrorEventFails) {
  const auto recorder = record(role_chunk + "event: error\ndata: {\"message\":\"overloaded\"}\n\n" +
                               finish_chunk + done);
  EXPECT_TRUE(recorder.failed());
  EXPECT_FALSE(recorder.storable());
}

TEST(ChatCompletionsRecorder, AMalformedChunkFails) {
  const auto recorder = record(role_chunk + "data: {\"choices\":[\n\n" + finish_chunk + done);
  EXPECT_TRUE(recorder.failed());
  EXPECT_EQ(recorder.failure(), "malformed chunk in stream: not a JSON object");
  EXPECT_FALSE(recorder.storable());
}

TEST(ChatCompletionsRecorder, ANullErrorIsNoError) {
  const auto recorder = record(
      R"(data: {"error":null,"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"length"}]})"
      "\n\n" +
      done);
  EXPECT_TRUE(recorder.storable());
  EXPECT_EQ(recorder.finish_reason(), "length");
}

TEST(ChatCompletionsRecorder, ToolCallFinishIsClean) {
  const auto recorder = record(
      R"(data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}]})"
      "\n\n"
      R"(data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})"
      "\n\n" +
      done);
  EXPECT_TRUE(recorder.storable());
  EXPECT_EQ(recorder.finish_reason(), "tool_calls");
}

TEST(ChatCompletionsRecorder, OverTheCapIsForwardedButNotStorable) {
  const auto stream = role_chunk + content_chunk + finish_chunk + done;
  auto recorder = record(stream, role_chunk.size() + content_chunk.size());
  EXPECT_TRUE(recorder.over_cap());
  EXPECT_TRUE(recorder.clean()) << "the outcome is still tracked";
  EXPECT_FALSE(recorder.storable());
  EXPECT_TRUE(recorder.events().empty());
  EXPECT_TRUE(record(stream, stream.size()).storable()) << "exactly at the cap is fine";
}

TEST(ChatCompletionsRecorder, EventsAfterDoneChangeNothing) {
  const auto recorder =
      record(role_chunk + finish_chunk + done + "data: {\"error\":{\"message\":\"x\"}}\n\n");
  EXPECT_TRUE(recorder.storable());
  EXPECT_EQ(recorder.events().size(), 4u);
}

}  // namespace
}  // namespace opencode_cache::server::gateway

// What differs between the APIs: which answers may be stored, and the heartbeat each client
// tolerates.

#include "server/gateway/llm_api.hpp"

#include <gtest/gtest.h>

#include "server/gateway/recorded_events.hpp"

namespace opencode_cache::server::gateway {
namespace {

TEST(LlmApi, JudgesEachStreamByItsOwnRules) {
  const std::string chat =
      "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
      "data: [DONE]\n\n";
  const std::string responses =
      "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{}}\n\n";
  const std::string messages =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  EXPECT_TRUE(judge_stream(LlmApi::chat_completions, chat).storable);
  EXPECT_TRUE(judge_stream(LlmApi::responses, responses).storable);
  EXPECT_TRUE(judge_stream(LlmApi::messages, messages).storable);
  EXPECT_EQ(judge_stream(LlmApi::messages, messages).events.size(), 2u);
  EXPECT_EQ(judge_stream(LlmApi::responses, chat).why_not,
            "stream ended without response.completed");
  EXPECT_EQ(judge_stream(LlmApi::chat_completions, responses).why_not,
            "stream ended without a finish_reason and [DONE]");
  EXPECT_EQ(judge_stream(LlmApi::messages, responses).why_not,
            "stream ended without message_start and message_stop");
  EXPECT_EQ(judge_stream(LlmApi::other, chat).why_not,
            "event stream of an API without a clean-finish rule");
}

TEST(LlmApi, AStreamCutInsideAnEventIsNeverStored) {
  const std::string messages =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\nevent: pi";
  EXPECT_FALSE(judge_stream(LlmApi::messages, messages).storable);
}

TEST(LlmApi, AStreamLargerThanTheRecordingLimitIsNotStored) {
  std::string stream = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n";
  const std::string ping = ": " + std::string(1 << 16, 'p') + "\n\n";
  while (stream.size() <= RecordedEvents::default_max_bytes) stream += ping;
  stream += "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  const auto verdict = judge_stream(LlmApi::messages, stream);
  EXPECT_FALSE(verdict.storable);
  EXPECT_EQ(verdict.why_not, "stream larger than the recording limit");
  EXPECT_TRUE(verdict.events.empty());
}

TEST(LlmApi, JsonAnswersThatAreNotFinishedAreNotStored) {
  EXPECT_EQ(json_not_storable(LlmApi::responses, R"({"status":"completed"})"), "");
  EXPECT_EQ(json_not_storable(LlmApi::responses, R"({"status":"incomplete"})"),
            "response status incomplete");
  EXPECT_EQ(json_not_storable(LlmApi::responses, "[]"), "answer is not a JSON object");
  EXPECT_EQ(json_not_storable(LlmApi::messages, R"({"type":"message"})"), "");
  EXPECT_EQ(json_not_storable(LlmApi::messages, R"({"type":"error"})"), "answer is not a message");
  EXPECT_EQ(json_not_storable(LlmApi::chat_completions, "anything"), "");
}

TEST(LlmApi, JsonUsageInEachApisTerms) {
  EXPECT_EQ(json_usage(LlmApi::messages, R"({"usage":{"input_tokens":1,"output_tokens":2}})")
                ->total_tokens,
            3u);
  EXPECT_EQ(json_usage(LlmApi::responses, R"({"usage":{"input_tokens":1,"total_tokens":7}})")
                ->total_tokens,
            7u);
  EXPECT_EQ(json_usage(LlmApi::chat_completions, R"({"id":1})"), std::nullopt);
}

TEST(LlmApi, HeartbeatsEachClientTolerates) {
  EXPECT_EQ(heartbeat(LlmApi::chat_completions), ": keep-alive\n\n");
  EXPECT_EQ(heartbeat(LlmApi::responses), ": keep-alive\n\n");
  EXPECT_EQ(heartbeat(LlmApi::messages), "event: ping\ndata: {\"type\": \"ping\"}\n\n");
}

TEST(LlmApi, OnlyStreamingApisConvert) {
  EXPECT_FALSE(assemble(LlmApi::other, "").ok());
  EXPECT_FALSE(synthesise(LlmApi::other, "{}").ok());
  EXPECT_TRUE(streams(LlmApi::messages));
  EXPECT_FALSE(streams(LlmApi::other));
}

}  // namespace
}  // namespace opencode_cache::server::gateway

// Replay usage modes: only the usage changes, and only when the mode says so.

#include "server/gateway/usage_rewrite.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace opencode_cache::server::gateway {
namespace {

const std::string usage_event =
    R"(data: {"id":"c","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":7,"total_tokens":107,"prompt_tokens_details":{"cached_tokens":20,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":3}}})"
    "\r\n\r\n";

boost::json::value data_of(const std::string& event) {
  EXPECT_TRUE(event.starts_with("data: ")) << event;
  EXPECT_TRUE(event.ends_with("\n\n")) << event;
  return boost::json::parse(std::string_view(event).substr(6));
}

TEST(UsageRewrite, OriginalKeepsTheBytes) {
  std::string out;
  EXPECT_FALSE(
      rewrite_event_usage(LlmApi::chat_completions, usage_event, ReplayUsage::original, out));
  EXPECT_FALSE(rewrite_body_usage(LlmApi::chat_completions, R"({"usage":{"prompt_tokens":1}})",
                                  ReplayUsage::original, out));
}

TEST(UsageRewrite, CachedCountsThePromptAsCacheRead) {
  std::string out;
  ASSERT_TRUE(rewrite_event_usage(LlmApi::chat_completions, usage_event, ReplayUsage::cached, out));
  EXPECT_EQ(
      data_of(out),
      boost::json::parse(
          R"({"id":"c","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":7,"total_tokens":107,"prompt_tokens_details":{"cached_tokens":100,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":3}}})"));
}

TEST(UsageRewrite, CachedAddsMissingDetails) {
  std::string out;
  ASSERT_TRUE(rewrite_event_usage(
      LlmApi::chat_completions,
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}\n\n",
      ReplayUsage::cached, out));
  EXPECT_EQ(data_of(out).at("usage").at("prompt_tokens_details").at("cached_tokens"), 5);
}

TEST(UsageRewrite, ZeroClearsEveryCount) {
  std::string out;
  ASSERT_TRUE(rewrite_event_usage(LlmApi::chat_completions, usage_event, ReplayUsage::zero, out));
  EXPECT_EQ(
      data_of(out),
      boost::json::parse(
          R"({"id":"c","choices":[],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}})"));
}

TEST(UsageRewrite, EventsWithoutUsageStayAsTheyAre) {
  std::string out;
  for (const std::string_view event :
       {"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n", "data: [DONE]\n\n",
        ": keep-alive\n\n", "data: {\"usage\":null,\"choices\":[]}\n\n",
        "data: {\"content\":\"the word \\\"usage\\\"\"}\n\n"}) {
    EXPECT_FALSE(rewrite_event_usage(LlmApi::chat_completions, event, ReplayUsage::zero, out))
        << event;
  }
}

TEST(UsageRewrite, RewritesACompletionBody) {
  std::string out;
  ASSERT_TRUE(rewrite_body_usage(
      LlmApi::chat_completions,
      R"({"object":"chat.completion","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}})",
      ReplayUsage::cached, out));
  EXPECT_EQ(boost::json::parse(out).at("usage").at("prompt_tokens_details").at("cached_tokens"), 9);
}

TEST(UsageRewrite, ParsesModes) {
  EXPECT_EQ(parse_replay_usage("original"), ReplayUsage::original);
  EXPECT_EQ(parse_replay_usage("cached"), ReplayUsage::cached);
  EXPECT_EQ(parse_replay_usage("zero"), ReplayUsage::zero);
  EXPECT_EQ(parse_replay_usage("none"), std::nullopt);
}

const std::string responses_completed =
    "event: response.completed\r\n"
    R"(data: {"type":"response.completed","sequence_number":7,"response":{"id":"r","output":[{"type":"reasoning","encrypted_content":"gA+/="}],"usage":{"input_tokens":40,"input_tokens_details":{"cached_tokens":10},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":45}}})"
    "\r\n\r\n";

TEST(UsageRewrite, ResponsesCachedReportsTheWholeInputAsCachedBehindItsEventLine) {
  std::string out;
  ASSERT_TRUE(
      rewrite_event_usage(LlmApi::responses, responses_completed, ReplayUsage::cached, out));
  EXPECT_TRUE(out.starts_with("event: response.completed\ndata: ")) << out;
  const auto payload = boost::json::parse(std::string_view(out).substr(out.find("data: ") + 6));
  EXPECT_EQ(payload.at("response").at("usage").at("input_tokens_details").at("cached_tokens"), 40);
  EXPECT_EQ(payload.at("response").at("usage").at("input_tokens"), 40);
  EXPECT_EQ(payload.at("response").at("output").at(0).at("encrypted_content"), "gA+/=");
  EXPECT_EQ(payload.at("sequence_number"), 7);
}

TEST(UsageRewrite, ResponsesZeroAndEventsWithoutUsage) {
  std::string out;
  ASSERT_TRUE(rewrite_event_usage(LlmApi::responses, responses_completed, ReplayUsage::zero, out));
  const auto payload = boost::json::parse(std::string_view(out).substr(out.find("data: ") + 6));
  EXPECT_EQ(payload.at("response").at("usage").at("total_tokens"), 0);
  EXPECT_EQ(payload.at("response").at("usage").at("output_tokens_details").at("reasoning_tokens"),
            0);
  EXPECT_FALSE(
      rewrite_event_usage(LlmApi::responses,
                          "event: response.created\ndata: "
                          "{\"type\":\"response.created\",\"response\":{\"usage\":null}}\n\n",
                          ReplayUsage::zero, out));
  ASSERT_TRUE(rewrite_body_usage(
      LlmApi::responses, R"({"object":"response","usage":{"input_tokens":8,"output_tokens":1}})",
      ReplayUsage::cached, out));
  EXPECT_EQ(boost::json::parse(out).at("usage").at("input_tokens_details").at("cached_tokens"), 8);
}

TEST(UsageRewrite, MessagesCachedMovesEveryInputTokenToCacheReads) {
  const std::string start =
      "event: message_start\n"
      R"(data: {"type":"message_start","message":{"id":"m","usage":{"input_tokens":6,"cache_creation_input_tokens":2,"cache_read_input_tokens":3,"output_tokens":1}}})"
      "\n\n";
  std::string out;
  ASSERT_TRUE(rewrite_event_usage(LlmApi::messages, start, ReplayUsage::cached, out));
  EXPECT_TRUE(out.starts_with("event: message_start\ndata: "));
  const auto usage = boost::json::parse(std::string_view(out).substr(out.find("data: ") + 6))
                         .at("message")
                         .at("usage");
  EXPECT_EQ(
      usage,
      boost::json::parse(
          R"({"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":11,"output_tokens":1})"));
  // message_delta with output tokens only: nothing to move, replayed as it is.
  const std::string delta =
      "event: message_delta\n"
      R"(data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9}})"
      "\n\n";
  EXPECT_FALSE(rewrite_event_usage(LlmApi::messages, delta, ReplayUsage::cached, out));
  ASSERT_TRUE(rewrite_event_usage(LlmApi::messages, delta, ReplayUsage::zero, out));
  EXPECT_NE(out.find(R"("usage":{"output_tokens":0})"), std::string::npos) << out;
  ASSERT_TRUE(rewrite_body_usage(
      LlmApi::messages, R"({"type":"message","usage":{"input_tokens":4,"output_tokens":2}})",
      ReplayUsage::cached, out));
  EXPECT_EQ(boost::json::parse(out).at("usage").at("cache_read_input_tokens"), 4);
  EXPECT_EQ(boost::json::parse(out).at("usage").at("input_tokens"), 0);
}

}  // namespace
}  // namespace opencode_cache::server::gateway

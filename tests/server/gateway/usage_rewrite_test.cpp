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

}  // namespace
}  // namespace opencode_cache::server::gateway

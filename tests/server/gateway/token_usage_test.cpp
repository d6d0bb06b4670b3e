// Reading the usage object: every count, tolerant of what providers leave out.

#include "server/gateway/token_usage.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace opencode_cache::server::gateway {
namespace {

TEST(TokenUsage, ReadsEveryCount) {
  const auto usage = read_chat_usage(boost::json::parse(
      R"({"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,
          "prompt_tokens_details":{"cached_tokens":8},
          "completion_tokens_details":{"reasoning_tokens":2}})"));
  ASSERT_TRUE(usage.has_value());
  EXPECT_EQ(*usage, (TokenUsage{10, 5, 15, 8, 2}));
}

TEST(TokenUsage, MissingAndOddCountsReadAsZero) {
  const auto usage = read_chat_usage(boost::json::parse(
      R"({"prompt_tokens":-3,"completion_tokens":"5","total_tokens":7.9,
          "prompt_tokens_details":null})"));
  ASSERT_TRUE(usage.has_value());
  EXPECT_EQ(*usage, (TokenUsage{0, 0, 7, 0, 0}));
}

TEST(TokenUsage, NotAnObjectIsNoUsage) {
  EXPECT_FALSE(read_chat_usage(boost::json::parse("null")).has_value());
  EXPECT_FALSE(read_chat_usage(boost::json::parse("[1]")).has_value());
}

TEST(TokenUsage, ReadsResponsesAndAnthropicUsageInTheSameTerms) {
  EXPECT_EQ(
      read_responses_usage(boost::json::parse(
          R"({"input_tokens":12,"input_tokens_details":{"cached_tokens":4},"output_tokens":3,"output_tokens_details":{"reasoning_tokens":1},"total_tokens":15})")),
      (TokenUsage{12, 3, 15, 4, 1}));
  // Anthropic's input_tokens leave out the cached parts: the prompt is all three.
  EXPECT_EQ(
      read_messages_usage(boost::json::parse(
          R"({"input_tokens":6,"cache_creation_input_tokens":2,"cache_read_input_tokens":3,"output_tokens":9})")),
      (TokenUsage{11, 9, 20, 3, 0}));
  EXPECT_EQ(read_messages_usage(boost::json::parse("null")), std::nullopt);
  EXPECT_EQ(read_responses_usage(boost::json::parse("[]")), std::nullopt);
}

}  // namespace
}  // namespace opencode_cache::server::gateway

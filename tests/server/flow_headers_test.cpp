// The headers of a gateway request as the cache and the provider see them: which enter the
// key, which credential scopes the entry, what is forwarded; and the gateway's own errors in
// each API's shape.

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "server/config/server_config.hpp"
#include "server/flow/identity.hpp"
#include "server/flow/key_headers.hpp"
#include "server/http/error_response.hpp"

namespace opencode_cache::server {
namespace {

using gateway::LlmApi;

http::Headers headers_of(std::initializer_list<std::pair<const char*, const char*>> list) {
  http::Headers headers;
  for (const auto& [name, value] : list) headers.emplace_back(name, value);
  return headers;
}

TEST(KeyHeaders, AnthropicBetaAndVersionForMessagesOnly) {
  const auto headers = headers_of({{"anthropic-beta", "b-2, a-1"},
                                   {"anthropic-beta", "c-3,a-1"},
                                   {"anthropic-version", "2023-06-01"},
                                   {"x-session-id", "ses"},
                                   {"user-agent", "opencode/1"}});
  const auto key = flow::key_headers(LlmApi::messages, headers);
  ASSERT_EQ(key.size(), 2u);
  EXPECT_EQ(key[0], (std::pair<std::string, std::string>{"anthropic-beta", "a-1,b-2,c-3"}));
  EXPECT_EQ(key[1], (std::pair<std::string, std::string>{"anthropic-version", "2023-06-01"}));
  EXPECT_TRUE(flow::key_headers(LlmApi::chat_completions, headers).empty());
  EXPECT_TRUE(flow::key_headers(LlmApi::responses, headers).empty());
  EXPECT_TRUE(flow::key_headers(LlmApi::messages, headers_of({{"anthropic-beta", " , "}})).empty());
}

TEST(Identity, EveryCredentialHeaderScopesTheEntry) {
  Provider provider;
  EXPECT_EQ(flow::upstream_credential(provider, headers_of({{"x-api-key", "k"}})), "k");
  EXPECT_EQ(flow::upstream_credential(provider, headers_of({{"authorization", "Bearer t"}})), "t");
  const auto both = flow::upstream_credential(
      provider, headers_of({{"authorization", "Bearer t"}, {"x-api-key", "k"}}));
  EXPECT_NE(both, "t");
  EXPECT_NE(both, flow::upstream_credential(provider, headers_of({{"authorization", "Bearer t"},
                                                                  {"x-api-key", "other"}})));
}

TEST(Identity, AnthropicHeadersAreForwardedAndAnInjectedKeyGoesWhereTheApiReadsIt) {
  ServerConfig config;
  Provider open;
  const auto forwarded = flow::upstream_headers(
      config, open,
      headers_of(
          {{"x-api-key", "k"}, {"anthropic-version", "2023-06-01"}, {"anthropic-beta", "b"}}));
  EXPECT_NE(http::find_header(forwarded, "x-api-key"), nullptr);
  EXPECT_EQ(*http::find_header(forwarded, "anthropic-version"), "2023-06-01");
  EXPECT_EQ(*http::find_header(forwarded, "anthropic-beta"), "b");
  Provider injected;
  injected.api_key = "sk-in";
  const auto anthropic =
      flow::upstream_headers(config, injected, headers_of({{"anthropic-version", "2023-06-01"}}));
  EXPECT_EQ(*http::find_header(anthropic, "x-api-key"), "sk-in");
  EXPECT_EQ(http::find_header(anthropic, "authorization"), nullptr);
  const auto openai =
      flow::upstream_headers(config, injected, headers_of({{"authorization", "Bearer client"}}));
  EXPECT_EQ(*http::find_header(openai, "authorization"), "Bearer sk-in");
  EXPECT_EQ(http::find_header(openai, "x-api-key"), nullptr);
}

TEST(ErrorShape, AnthropicErrorsHaveTheirTypeForEachStatus) {
  for (const auto& [status, type] :
       std::vector<std::pair<int, std::string>>{{400, "invalid_request_error"},
                                                {401, "authentication_error"},
                                                {404, "not_found_error"},
                                                {405, "invalid_request_error"},
                                                {413, "request_too_large"},
                                                {429, "rate_limit_error"},
                                                {500, "api_error"},
                                                {502, "api_error"},
                                                {503, "overloaded_error"},
                                                {504, "timeout_error"}}) {
    const auto body =
        boost::json::parse(http::error_body_for(http::ErrorStyle::anthropic, status, "why"));
    EXPECT_EQ(body, boost::json::parse(R"({"type":"error","error":{"type":")" + type +
                                       R"(","message":"why"}})"))
        << status;
  }
  EXPECT_EQ(
      boost::json::parse(http::error_body_for(http::ErrorStyle::openai, 429, "slow")),
      boost::json::parse(
          R"({"error":{"message":"slow","type":"rate_limit_error","code":"rate_limit_exceeded"}})"));
}

}  // namespace
}  // namespace opencode_cache::server

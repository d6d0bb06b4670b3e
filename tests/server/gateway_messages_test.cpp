// The Anthropic Messages API through the gateway, end to end: recorded and replayed byte for
// byte (thinking signatures and input_json_delta included), stored only after message_stop,
// converted between stream and JSON, keyed with anthropic-beta, errors in Anthropic's shape.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <thread>

#include "server/gateway/messages_convert.hpp"
#include "server/support/gateway_fixture.hpp"

namespace opencode_cache::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Headers = std::vector<std::pair<std::string, std::string>>;

const Headers anthropic_headers = {
    {"x-api-key", "sk-ant-alice"},
    {"anthropic-version", "2023-06-01"},
    {"anthropic-beta", "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"}};

Headers with(Headers headers, const std::string& name, const std::string& value) {
  for (auto& [existing, old_value] : headers) {
    if (existing == name) {
      old_value = value;
      return headers;
    }
  }
  headers.emplace_back(name, value);
  return headers;
}

class MessagesTest : public GatewayTest {
 protected:
  HttpResponse post(const std::string& body, const Headers& headers = anthropic_headers) {
    return client().post("/v1/messages", body, headers);
  }
};

TEST_F(MessagesTest, StreamedMissThenByteIdenticalHit) {
  start();
  const auto first = post(messages_body("hi", true));
  const auto second = post(messages_body("hi", true));
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.header("x-cache"), "MISS");
  EXPECT_EQ(first.body, joined(FakeUpstream::messages_events("claude-test", "answer 1 to hi")));
  EXPECT_EQ(second.header("x-cache"), "HIT");
  EXPECT_EQ(second.header("content-type"), "text/event-stream");
  EXPECT_EQ(second.error, "");
  EXPECT_EQ(second.body, first.body);
  EXPECT_THAT(second.body, HasSubstr(R"("signature":"EqQBCgIYAhIM+sig/nature==")"));
  EXPECT_THAT(second.body, HasSubstr(R"("type":"input_json_delta")"));
  EXPECT_THAT(second.body, HasSubstr("event: ping\n"));
  EXPECT_EQ(upstream.calls(), 1u);
  EXPECT_EQ(metric("opencode_cache_tokens_saved_total"), "20");
}

TEST_F(MessagesTest, JsonMissThenHitOnTheNamedProviderRoute) {
  start({{"OPENCODE_CACHE_PROVIDERS", "anthropic=" + upstream.base_url()}});
  HttpClient http = client();
  const auto first =
      http.post("/anthropic/v1/messages", messages_body("json", false), anthropic_headers);
  const auto second =
      http.post("/anthropic/v1/messages", messages_body("json", false), anthropic_headers);
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.header("x-cache"), "MISS");
  EXPECT_EQ(first.body, FakeUpstream::messages_json("claude-test", "answer 1 to json"));
  EXPECT_EQ(second.header("x-cache"), "HIT");
  EXPECT_EQ(second.body, first.body);
  EXPECT_EQ(upstream.calls(), 1u);
}

TEST_F(MessagesTest, ErrorAndUnfinishedStreamsAreNotStored) {
  start();
  int call = 1;
  for (const std::string model : {"fail-stream", "no-terminal"}) {
    const auto first = post(messages_body("bad", true, model));
    const auto second = post(messages_body("bad", true, model));
    EXPECT_EQ(first.status, 200) << model;
    const std::string text = "answer " + std::to_string(call) + " to bad";
    EXPECT_EQ(first.body, joined(FakeUpstream::messages_events(model, text))) << model;
    EXPECT_EQ(second.header("x-cache"), "MISS") << model;
    call += 2;
  }
  EXPECT_EQ(upstream.calls(), 4u);
}

TEST_F(MessagesTest, TruncatedStreamResetsTheClientAndIsNotStored) {
  start();
  const auto first = post(messages_body("cut", true, "abort"));
  EXPECT_NE(first.error, "") << "a truncated stream must not end cleanly";
  EXPECT_THAT(first.body, Not(HasSubstr("message_stop")));
  EXPECT_EQ(post(messages_body("cut", true, "abort")).header("x-cache"), "MISS");
  EXPECT_EQ(upstream.calls(), 2u);
}

TEST_F(MessagesTest, StreamedEntryAnswersAJsonRequestAssembled) {
  start();
  post(messages_body("conv", true));
  const auto json = post(messages_body("conv", false));
  EXPECT_EQ(json.header("x-cache"), "HIT");
  EXPECT_EQ(json.header("x-cache-converted"), "stream-to-json");
  EXPECT_EQ(json.header("content-type"), "application/json");
  EXPECT_EQ(json.body, FakeUpstream::messages_json("claude-test", "answer 1 to conv"));
  EXPECT_EQ(upstream.calls(), 1u);
}

TEST_F(MessagesTest, JsonEntryAnswersAStreamingRequestWithKnownEventsOnly) {
  start();
  const auto json = post(messages_body("conv2", false));
  const auto streamed = post(messages_body("conv2", true));
  EXPECT_EQ(streamed.header("x-cache"), "HIT");
  EXPECT_EQ(streamed.header("x-cache-converted"), "json-to-stream");
  EXPECT_EQ(streamed.header("content-type"), "text/event-stream");
  EXPECT_TRUE(streamed.body.starts_with("event: message_start\ndata: "));
  EXPECT_TRUE(
      streamed.body.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
  for (std::size_t at = 0; (at = streamed.body.find("event: ", at)) != std::string::npos; ++at) {
    const auto name = streamed.body.substr(at + 7, streamed.body.find('\n', at) - at - 7);
    EXPECT_THAT(name,
                ::testing::AnyOf("message_start", "content_block_start", "content_block_delta",
                                 "content_block_stop", "message_delta", "message_stop"));
  }
  const auto assembled = server::gateway::assemble_message(streamed.body);
  ASSERT_TRUE(assembled.ok()) << assembled.error;
  EXPECT_EQ(boost::json::parse(assembled.body), boost::json::parse(json.body));
  EXPECT_EQ(upstream.calls(), 1u);
}

TEST_F(MessagesTest, StreamingFollowerOfAJsonRequestGetsPingsThenEvents) {
  start({{"OPENCODE_CACHE_KEEPALIVE_MS", "20"}});
  HttpResponse leader;
  HttpResponse follower;
  std::thread first([&] {
    leader = HttpClient(gateway->port())
                 .post("/v1/messages", messages_body("ka", false, "hold"), anthropic_headers);
  });
  ASSERT_TRUE(eventually([&] { return upstream.calls() == 1; }));
  std::thread second([&] {
    follower = HttpClient(gateway->port())
                   .post("/v1/messages", messages_body("ka", true, "hold"), anthropic_headers);
  });
  EXPECT_TRUE(eventually([&] { return count("opencode_cache_keepalives_total") >= 1; }));
  upstream.release();
  first.join();
  second.join();
  EXPECT_EQ(leader.status, 200);
  EXPECT_EQ(follower.header("x-cache-converted"), "json-to-stream");
  EXPECT_TRUE(follower.body.starts_with("event: ping\ndata: {\"type\": \"ping\"}\n\n"));
  EXPECT_THAT(follower.body, Not(HasSubstr(": keep-alive")));
  EXPECT_THAT(follower.body, HasSubstr("event: message_stop\n"));
  EXPECT_EQ(upstream.calls(), 1u);
}

TEST_F(MessagesTest, ConcurrentIdenticalStreamsMakeOneUpstreamCall) {
  start();
  constexpr int clients = 5;
  std::vector<HttpResponse> responses(clients);
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      responses[i] =
          HttpClient(gateway->port())
              .post("/v1/messages", messages_body("together", true, "hold"), anthropic_headers);
    });
  }
  EXPECT_TRUE(eventually([&] {
    return metric("opencode_cache_single_flight_joins_total") == std::to_string(clients - 1);
  }));
  upstream.release();
  for (auto& thread : threads) thread.join();
  const auto expected = joined(FakeUpstream::messages_events("hold", "answer 1 to together"));
  for (const auto& response : responses) EXPECT_EQ(response.body, expected);
  EXPECT_EQ(upstream.calls(), 1u);
}

TEST_F(MessagesTest, AnthropicHeadersAreForwardedAndBetaIsPartOfTheKey) {
  start();
  const auto base = post(messages_body("k", false));
  const auto requests = upstream.request_headers();
  const auto& seen = requests.at(0);
  EXPECT_EQ(seen.at("x-api-key"), "sk-ant-alice");
  EXPECT_EQ(seen.at("anthropic-version"), "2023-06-01");
  EXPECT_EQ(seen.at("anthropic-beta"),
            "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14");
  // The same features listed in another order, and per-call headers and metadata: same key.
  const auto reordered =
      post(messages_body("k", false, "claude-test", R"(,"metadata":{"user_id":"someone"})"),
           with(with(anthropic_headers, "anthropic-beta",
                     "fine-grained-tool-streaming-2025-05-14, interleaved-thinking-2025-05-14"),
                "x-session-id", "ses_2"));
  EXPECT_EQ(reordered.header("x-cache"), "HIT");
  EXPECT_EQ(reordered.header("x-cache-key"), base.header("x-cache-key"));
  const auto fewer_betas = post(messages_body("k", false), with(anthropic_headers, "anthropic-beta",
                                                                "interleaved-thinking-2025-05-14"));
  EXPECT_EQ(fewer_betas.header("x-cache"), "MISS");
  Headers no_beta = anthropic_headers;
  no_beta.pop_back();
  EXPECT_EQ(post(messages_body("k", false), no_beta).header("x-cache"), "MISS");
  EXPECT_EQ(post(messages_body("k", false, "claude-test", R"(,"thinking":{"type":"enabled"})"))
                .header("x-cache"),
            "MISS");
  EXPECT_EQ(upstream.calls(), 4u);
}

TEST_F(MessagesTest, TwoApiKeysNeverShareAnEntry) {
  start();
  const auto alice = post(messages_body("same", false));
  const auto bob = post(messages_body("same", false), with(anthropic_headers, "x-api-key", "sk-b"));
  EXPECT_EQ(alice.header("x-cache"), "MISS");
  EXPECT_EQ(bob.header("x-cache"), "MISS");
  EXPECT_NE(alice.header("x-cache-key"), bob.header("x-cache-key"));
  EXPECT_EQ(post(messages_body("same", false)).header("x-cache"), "HIT");
  EXPECT_EQ(upstream.calls(), 2u);
}

TEST_F(MessagesTest, InjectedProviderKeyGoesInXApiKeyOnly) {
  start({{"OPENCODE_CACHE_PROVIDERS", "anthropic=" + upstream.base_url()},
         {"OPENCODE_CACHE_PROVIDER_ANTHROPIC_API_KEY", "sk-ant-injected"}});
  const auto response = client().post("/anthropic/v1/messages", messages_body("i", false),
                                      {{"anthropic-version", "2023-06-01"}});
  EXPECT_EQ(response.status, 200);
  const auto requests = upstream.request_headers();
  const auto& seen = requests.at(0);
  EXPECT_EQ(seen.at("x-api-key"), "sk-ant-injected");
  EXPECT_FALSE(seen.contains("authorization"));
}

void expect_anthropic_error(const HttpResponse& response, int status, const std::string& type) {
  EXPECT_EQ(response.status, status);
  const auto body = boost::json::parse(response.body);
  EXPECT_EQ(body.at("type"), "error") << response.body;
  EXPECT_EQ(body.at("error").at("type"), type.c_str()) << response.body;
  EXPECT_TRUE(body.at("error").at("message").is_string()) << response.body;
}

TEST_F(MessagesTest, GatewayErrorsHaveTheAnthropicShape) {
  start({{"OPENCODE_CACHE_PROVIDERS", "down=http://127.0.0.1:1/v1"},
         {"RATE_LIMIT_USER_MAX", "1"},
         {"RATE_LIMIT_USER_WINDOW_MS", "60000"}});
  expect_anthropic_error(client().request("GET", "/v1/messages"), 405, "invalid_request_error");
  expect_anthropic_error(post("{\"model\":"), 400, "invalid_request_error");
  expect_anthropic_error(post("[1,2]"), 400, "invalid_request_error");
  expect_anthropic_error(
      client().post("/down/v1/messages", messages_body("d", false), anthropic_headers), 502,
      "api_error");
  // The call to the unreachable provider used the one request the limit allows.
  expect_anthropic_error(post(messages_body("r", false)), 429, "rate_limit_error");
  EXPECT_EQ(upstream.calls(), 0u);
}

TEST_F(MessagesTest, ABodyTooLargeIsAnAnthropicError) {
  start({{"OPENCODE_CACHE_MAX_BODY_BYTES", "1000"}});
  expect_anthropic_error(post(messages_body(std::string(2000, 'x'), false)), 413,
                         "request_too_large");
  const auto chat = client().post("/v1/chat/completions", chat_body(std::string(2000, 'x'), false));
  EXPECT_EQ(chat.status, 413);
  EXPECT_THAT(chat.body, HasSubstr(R"({"error":{"message":)"));
  EXPECT_EQ(upstream.calls(), 0u);
}

TEST_F(MessagesTest, UnknownGatewayKeyIsAnAnthropicAuthenticationError) {
  // sha256("gw-secret")
  start({{"OPENCODE_CACHE_API_KEYS",
          "b53b5edf5d9f8c56815de368f9857e6f3fbf912eb140850af60e82cd4ca364fa=alice"}});
  expect_anthropic_error(post(messages_body("k", false)), 401, "authentication_error");
  EXPECT_EQ(upstream.calls(), 0u);
}

}  // namespace
}  // namespace opencode_cache::testing

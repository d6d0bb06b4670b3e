// The OpenAI Responses API through the gateway, end to end: recorded and replayed byte for
// byte (encrypted reasoning included), stored only after response.completed, converted
// between stream and JSON, keyed without its volatile fields.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <thread>

#include "server/gateway/responses_convert.hpp"
#include "server/support/gateway_fixture.hpp"

namespace opencode_cache::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ResponsesTest : public GatewayTest {};

TEST_F(ResponsesTest, StreamedMissThenByteIdenticalHit) {
  start();
  HttpClient http = client();
  const auto first = http.post("/v1/responses", responses_body("hi", true));
  const auto second = http.post("/v1/responses", responses_body("hi", true));
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.header("x-cache"), "MISS");
  EXPECT_EQ(first.body, joined(FakeUpstream::responses_events("gpt-test", "answer 1 to hi")));
  EXPECT_EQ(second.header("x-cache"), "HIT");
  EXPECT_EQ(second.header("content-type"), "text/event-stream");
  EXPECT_EQ(second.error, "");
  EXPECT_EQ(second.body, first.body);
  EXPECT_THAT(second.body, HasSubstr(R"("encrypted_content":"gAAAAB+enc/rypted==")"));
  EXPECT_THAT(second.body, HasSubstr("event: response.function_call_arguments.delta\n"));
  EXPECT_TRUE(second.body.ends_with("\n\n"));
  EXPECT_EQ(upstream.calls(), 1u);
  EXPECT_EQ(metric("opencode_cache_tokens_saved_total"), "20");
}

TEST_F(ResponsesTest, JsonMissThenHitOnTheNamedProviderRoute) {
  start({{"OPENCODE_CACHE_PROVIDERS", "openai=" + upstream.base_url()}});
  HttpClient http = client();
  const auto first = http.post("/openai/v1/responses", responses_body("json", false));
  const auto second = http.post("/openai/v1/responses", responses_body("json", false));
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.header("x-cache"), "MISS");
  EXPECT_EQ(first.body, FakeUpstream::responses_json("gpt-test", "answer 1 to json"));
  EXPECT_EQ(second.header("x-cache"), "HIT");
  EXPECT_EQ(second.body, first.body);
  EXPECT_EQ(upstream.calls(), 1u);
  EXPECT_THAT(
      http.request("GET", "/metrics").body,
      HasSubstr(
          R"(opencode_cache_requests_total{route="/v1/responses",status="200",cache="HIT"} 1)"));
}

TEST_F(ResponsesTest, FailedIncompleteErrorAndUnfinishedStreamsAreNotStored) {
  start();
  HttpClient http = client();
  int call = 1;
  for (const std::string model : {"failed", "incomplete", "fail-stream", "no-terminal"}) {
    const auto first = http.post("/v1/responses", responses_body("bad", true, model));
    const auto second = http.post("/v1/responses", responses_body("bad", true, model));
    EXPECT_EQ(first.status, 200) << model;
    // Forwarded as the provider sent it, so the client sees the failure itself.
    const std::string text = "answer " + std::to_string(call) + " to bad";
    EXPECT_EQ(first.body, joined(FakeUpstream::responses_events(model, text))) << model;
    call += 2;
    EXPECT_EQ(second.header("x-cache"), "MISS") << model;
  }
  EXPECT_EQ(upstream.calls(), 8u);
}

TEST_F(ResponsesTest, TruncatedStreamResetsTheClientAndIsNotStored) {
  start();
  const auto first = client().post("/v1/responses", responses_body("cut", true, "abort"));
  EXPECT_NE(first.error, "") << "a truncated stream must not end cleanly";
  EXPECT_THAT(first.body, Not(HasSubstr("response.completed")));
  EXPECT_EQ(client().post("/v1/responses", responses_body("cut", true, "abort")).header("x-cache"),
            "MISS");
  EXPECT_EQ(upstream.calls(), 2u);
}

TEST_F(ResponsesTest, JsonAnswersThatAreNotCompletedAreNotStored) {
  start();
  HttpClient http = client();
  for (const std::string model : {"failed", "incomplete"}) {
    const auto first = http.post("/v1/responses", responses_body("j", false, model));
    EXPECT_EQ(first.status, 200);
    EXPECT_THAT(first.body, HasSubstr("\"status\":\"" + model + "\""));
    EXPECT_EQ(http.post("/v1/responses", responses_body("j", false, model)).header("x-cache"),
              "MISS");
  }
  EXPECT_EQ(upstream.calls(), 4u);
}

TEST_F(ResponsesTest, StreamedEntryAnswersAJsonRequestWithTheCompletedResponse) {
  start();
  HttpClient http = client();
  http.post("/v1/responses", responses_body("conv", true));
  const auto json = http.post("/v1/responses", responses_body("conv", false));
  EXPECT_EQ(json.header("x-cache"), "HIT");
  EXPECT_EQ(json.header("x-cache-converted"), "stream-to-json");
  EXPECT_EQ(json.header("content-type"), "application/json");
  EXPECT_EQ(json.body, FakeUpstream::responses_json("gpt-test", "answer 1 to conv"));
  EXPECT_EQ(upstream.calls(), 1u);
}

TEST_F(ResponsesTest, JsonEntryAnswersAStreamingRequestWithSynthesisedEvents) {
  start();
  HttpClient http = client();
  const auto json = http.post("/v1/responses", responses_body("conv2", false));
  const auto streamed = http.post("/v1/responses", responses_body("conv2", true));
  EXPECT_EQ(streamed.header("x-cache"), "HIT");
  EXPECT_EQ(streamed.header("x-cache-converted"), "json-to-stream");
  EXPECT_EQ(streamed.header("content-type"), "text/event-stream");
  EXPECT_TRUE(streamed.body.starts_with("event: response.created\ndata: "));
  EXPECT_THAT(streamed.body, HasSubstr("event: response.output_text.delta\n"));
  EXPECT_THAT(streamed.body, HasSubstr("event: response.reasoning_summary_text.delta\n"));
  EXPECT_THAT(streamed.body, HasSubstr(R"("encrypted_content":"gAAAAB+enc/rypted==")"));
  // Read back as a client would, the stream is the answer that was stored.
  const auto assembled = server::gateway::assemble_response(streamed.body);
  ASSERT_TRUE(assembled.ok()) << assembled.error;
  EXPECT_EQ(boost::json::parse(assembled.body), boost::json::parse(json.body));
  EXPECT_EQ(upstream.calls(), 1u);
}

TEST_F(ResponsesTest, StreamingFollowerOfAJsonRequestGetsCommentsThenEvents) {
  start({{"OPENCODE_CACHE_KEEPALIVE_MS", "20"}});
  HttpResponse leader;
  HttpResponse follower;
  std::thread first([&] {
    leader = HttpClient(gateway->port()).post("/v1/responses", responses_body("ka", false, "hold"));
  });
  ASSERT_TRUE(eventually([&] { return upstream.calls() == 1; }));
  std::thread second([&] {
    follower =
        HttpClient(gateway->port()).post("/v1/responses", responses_body("ka", true, "hold"));
  });
  EXPECT_TRUE(eventually([&] { return count("opencode_cache_keepalives_total") >= 1; }));
  upstream.release();
  first.join();
  second.join();
  EXPECT_EQ(leader.status, 200);
  EXPECT_EQ(follower.header("x-cache-converted"), "json-to-stream");
  EXPECT_TRUE(follower.body.starts_with(": keep-alive\n\n"));
  EXPECT_THAT(follower.body, HasSubstr("event: response.completed\n"));
  EXPECT_EQ(upstream.calls(), 1u);
}

TEST_F(ResponsesTest, VolatileFieldsAndHeadersDoNotChangeTheKeyAndSignificantOnesDo) {
  start();
  HttpClient http = client();
  const auto base = http.post("/v1/responses", responses_body("q", false));
  const auto volatile_only = http.post(
      "/v1/responses",
      responses_body(
          "q", false, "gpt-test",
          R"(,"prompt_cache_key":"ses_1","safety_identifier":"u1","metadata":{"a":1},"user":"x","prompt_cache_retention":"24h")"),
      {{"x-session-id", "ses_1"}, {"user-agent", "opencode/1.18 ai-sdk/openai/3.0.88"}});
  EXPECT_EQ(volatile_only.header("x-cache"), "HIT");
  EXPECT_EQ(volatile_only.header("x-cache-key"), base.header("x-cache-key"));
  for (const auto& body :
       {responses_body("q", false, "gpt-test", R"(,"temperature":0.5)"),
        responses_body("q", false, "other-model"), responses_body("q2", false),
        responses_body("q", false, "gpt-test", R"(,"instructions":"be brief")"),
        responses_body("q", false, "gpt-test", R"(,"reasoning":{"effort":"high"})")}) {
    const auto response = http.post("/v1/responses", body);
    EXPECT_EQ(response.header("x-cache"), "MISS") << body;
  }
  // The same body on another API route is another key.
  EXPECT_NE(http.post("/v1/chat/completions", chat_body("q", false)).header("x-cache-key"),
            base.header("x-cache-key"));
  EXPECT_EQ(upstream.calls(), 7u);
}

TEST_F(ResponsesTest, TwoCredentialsNeverShareAnEntry) {
  start();
  HttpClient http = client();
  const auto alice = http.post("/v1/responses", responses_body("same", false),
                               {{"authorization", "Bearer key-alice"}});
  const auto bob = http.post("/v1/responses", responses_body("same", false),
                             {{"authorization", "Bearer key-bob"}});
  EXPECT_EQ(alice.header("x-cache"), "MISS");
  EXPECT_EQ(bob.header("x-cache"), "MISS");
  EXPECT_EQ(http.post("/v1/responses", responses_body("same", false),
                      {{"authorization", "Bearer key-alice"}})
                .header("x-cache"),
            "HIT");
  EXPECT_EQ(upstream.calls(), 2u);
}

TEST_F(ResponsesTest, GatewayErrorsHaveTheOpenAIShape) {
  start();
  const auto wrong_method = client().request("GET", "/v1/responses");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.header("allow"), "POST");
  EXPECT_THAT(wrong_method.body, HasSubstr(R"({"error":{"message":)"));
  const auto malformed = client().post("/v1/responses", "{\"model\":");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_THAT(malformed.body, HasSubstr(R"("type":"invalid_request_error")"));
  EXPECT_EQ(upstream.calls(), 0u);
}

TEST_F(ResponsesTest, ConcurrentIdenticalStreamsMakeOneUpstreamCall) {
  start();
  constexpr int clients = 5;
  std::vector<HttpResponse> responses(clients);
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      responses[i] = HttpClient(gateway->port())
                         .post("/v1/responses", responses_body("together", true, "hold"));
    });
  }
  EXPECT_TRUE(eventually([&] {
    return metric("opencode_cache_single_flight_joins_total") == std::to_string(clients - 1);
  }));
  upstream.release();
  for (auto& thread : threads) thread.join();
  const auto expected = joined(FakeUpstream::responses_events("hold", "answer 1 to together"));
  for (const auto& response : responses) EXPECT_EQ(response.body, expected);
  EXPECT_EQ(upstream.calls(), 1u);
}

}  // namespace
}  // namespace opencode_cache::testing

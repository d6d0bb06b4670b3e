// opencode-cache-server end to end: a real valkey-server, the fake provider, the gateway on
// its own threads, and a plain HTTP client, as opencode would talk to it.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <chrono>
#include <map>
#include <thread>

#include "server/support/gateway_fixture.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

TEST_F(GatewayTest, MissThenHitServesTheSameAnswer) {
  start();
  HttpClient http = client();
  const auto first = http.post("/v1/chat/completions", chat_body("hello", false));
  const auto second = http.post("/v1/chat/completions", chat_body("hello", false));
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.header("x-cache"), "MISS");
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.header("x-cache"), "HIT");
  EXPECT_EQ(second.body, first.body);
  EXPECT_THAT(first.body, HasSubstr("answer 1 to hello"));
  EXPECT_EQ(second.header("content-type"), "application/json");
  EXPECT_EQ(second.header("age"), "0");
  EXPECT_EQ(second.header("x-cache-key").size(), 64u);
  EXPECT_EQ(second.header("x-cache-key"), first.header("x-cache-key"));
  EXPECT_EQ(upstream.calls(), 1u);
  EXPECT_EQ(metric("opencode_cache_tokens_saved_total"), "20");
}

TEST_F(GatewayTest, StreamedHitIsByteIdenticalToTheOriginalStream) {
  start();
  HttpClient http = client();
  const auto first = http.post("/v1/chat/completions", chat_body("stream me", true));
  const auto second = http.post("/v1/chat/completions", chat_body("stream me", true));
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.header("x-cache"), "MISS");
  EXPECT_EQ(first.body, joined(FakeUpstream::stream_events("gpt-test", "answer 1 to stream me")));
  EXPECT_EQ(second.header("x-cache"), "HIT");
  EXPECT_EQ(second.header("content-type"), "text/event-stream");
  EXPECT_EQ(second.body, first.body);
  EXPECT_THAT(second.body, HasSubstr("reasoning_content"));
  EXPECT_THAT(second.body, HasSubstr("tool_calls"));
  EXPECT_THAT(second.body, HasSubstr("\"usage\""));
  EXPECT_EQ(upstream.calls(), 1u);
}

TEST_F(GatewayTest, TwentyConcurrentIdenticalStreamsMakeOneUpstreamCall) {
  start();
  constexpr int clients = 20;
  std::vector<HttpResponse> responses(clients);
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      responses[i] = HttpClient(gateway->port())
                         .post("/v1/chat/completions", chat_body("together", true, "hold"));
    });
  }
  // Everyone attached to the one flight before the provider goes on.
  EXPECT_TRUE(eventually([&] {
    return metric("opencode_cache_single_flight_joins_total") == std::to_string(clients - 1);
  }));
  upstream.release();
  for (auto& thread : threads) thread.join();
  const std::string expected = joined(FakeUpstream::stream_events("hold", "answer 1 to together"));
  for (const auto& response : responses) {
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.error, "");
    EXPECT_EQ(response.body, expected);
  }
  EXPECT_EQ(upstream.calls(), 1u);
  EXPECT_EQ(
      client().post("/v1/chat/completions", chat_body("together", true, "hold")).header("x-cache"),
      "HIT");
}

TEST_F(GatewayTest, StreamAbortedUpstreamResetsTheClientAndIsNotCached) {
  start();
  const auto first = client().post("/v1/chat/completions", chat_body("cut", true, "abort"));
  EXPECT_EQ(first.status, 200);
  EXPECT_NE(first.error, "") << "a truncated stream must not end cleanly";
  EXPECT_THAT(first.body, Not(HasSubstr("[DONE]")));
  const auto second = client().post("/v1/chat/completions", chat_body("cut", true, "abort"));
  EXPECT_EQ(second.header("x-cache"), "MISS");
  EXPECT_EQ(upstream.calls(), 2u);
}

TEST_F(GatewayTest, ClientDisconnectingMidStreamDoesNotPoisonTheEntry) {
  start();
  const std::string body = chat_body("leave early", true, "hold");
  const std::string seen = client().read_head_and_close("/v1/chat/completions", body, 10);
  EXPECT_THAT(seen, HasSubstr("200 OK"));
  upstream.release();
  // Whatever the gateway made of the abandoned stream, the next answers are whole and equal.
  const auto next = client().post("/v1/chat/completions", body);
  const auto again = client().post("/v1/chat/completions", body);
  EXPECT_EQ(next.error, "");
  EXPECT_THAT(next.body, HasSubstr("data: [DONE]\n\n"));
  EXPECT_THAT(next.body, HasSubstr("finish_reason\":\"tool_calls"));
  EXPECT_EQ(again.body, next.body);
  EXPECT_EQ(again.header("x-cache"), "HIT");
}

TEST_F(GatewayTest, StreamedEntryAnswersANonStreamingRequestAssembled) {
  start();
  HttpClient http = client();
  const auto streamed = http.post("/v1/chat/completions", chat_body("conv", true));
  const auto json = http.post("/v1/chat/completions", chat_body("conv", false));
  EXPECT_EQ(streamed.header("x-cache"), "MISS");
  EXPECT_EQ(json.header("x-cache"), "HIT");
  EXPECT_EQ(json.header("x-cache-converted"), "stream-to-json");
  EXPECT_EQ(json.header("content-type"), "application/json");
  const auto completion = boost::json::parse(json.body).as_object();
  EXPECT_EQ(completion.at("object"), "chat.completion");
  const auto& message = completion.at("choices").as_array().at(0).at("message").as_object();
  EXPECT_EQ(message.at("content"), "answer 1 to conv");
  EXPECT_EQ(message.at("reasoning_content"), "thinking about it");
  EXPECT_EQ(message.at("tool_calls").as_array().at(0).at("function").at("arguments"),
            "{\"path\":\"a\"}");
  EXPECT_EQ(upstream.calls(), 1u);
}

TEST_F(GatewayTest, JsonEntryAnswersAStreamingRequestWithSynthesisedChunks) {
  start();
  HttpClient http = client();
  http.post("/v1/chat/completions", chat_body("conv2", false));
  const auto streamed = http.post("/v1/chat/completions", chat_body("conv2", true));
  EXPECT_EQ(streamed.header("x-cache"), "HIT");
  EXPECT_EQ(streamed.header("x-cache-converted"), "json-to-stream");
  EXPECT_EQ(streamed.header("content-type"), "text/event-stream");
  EXPECT_THAT(streamed.body, HasSubstr("answer 1 to conv2"));
  EXPECT_THAT(streamed.body, HasSubstr("\"choices\":[]"));
  EXPECT_TRUE(streamed.body.ends_with("data: [DONE]\n\n"));
  EXPECT_EQ(upstream.calls(), 1u);
}

TEST_F(GatewayTest, StreamingFollowerOfAJsonRequestGetsKeepAlivesThenChunks) {
  start({{"OPENCODE_CACHE_KEEPALIVE_MS", "20"}});
  HttpResponse leader;
  HttpResponse follower;
  std::thread first([&] {
    leader =
        HttpClient(gateway->port()).post("/v1/chat/completions", chat_body("ka", false, "hold"));
  });
  ASSERT_TRUE(eventually([&] { return upstream.calls() == 1; }));
  std::thread second([&] {
    follower =
        HttpClient(gateway->port()).post("/v1/chat/completions", chat_body("ka", true, "hold"));
  });
  EXPECT_TRUE(eventually([&] { return count("opencode_cache_keepalives_total") >= 1; }));
  upstream.release();
  first.join();
  second.join();
  EXPECT_EQ(leader.status, 200);
  EXPECT_EQ(follower.status, 200);
  EXPECT_EQ(follower.header("x-cache-converted"), "json-to-stream");
  EXPECT_TRUE(follower.body.starts_with(": keep-alive\n\n"));
  EXPECT_THAT(follower.body, HasSubstr("answer 1 to ka"));
  EXPECT_TRUE(follower.body.ends_with("data: [DONE]\n\n"));
  EXPECT_EQ(upstream.calls(), 1u);
}

TEST_F(GatewayTest, VolatileFieldsDoNotChangeTheKeyAndSignificantOnesDo) {
  start();
  HttpClient http = client();
  const auto base = http.post("/v1/chat/completions", chat_body("q", false));
  const auto volatile_only = http.post(
      "/v1/chat/completions",
      chat_body("q", false, "gpt-test",
                R"(,"user":"someone","metadata":{"a":1},"prompt_cache_key":"s1","store":false)"));
  EXPECT_EQ(volatile_only.header("x-cache"), "HIT");
  EXPECT_EQ(volatile_only.header("x-cache-key"), base.header("x-cache-key"));
  for (const auto& body :
       {chat_body("q", false, "gpt-test", R"(,"temperature":0.5)"),
        chat_body("q", false, "other-model"), chat_body("q2", false),
        chat_body("q", false, "gpt-test", R"(,"tools":[{"type":"function"}])")}) {
    const auto response = http.post("/v1/chat/completions", body);
    EXPECT_EQ(response.header("x-cache"), "MISS") << body;
    EXPECT_NE(response.header("x-cache-key"), base.header("x-cache-key"));
  }
  EXPECT_EQ(upstream.calls(), 5u);
}

TEST_F(GatewayTest, TwoCredentialsNeverShareAnEntry) {
  start();
  HttpClient http = client();
  const auto alice = http.post("/v1/chat/completions", chat_body("same", false),
                               {{"authorization", "Bearer key-alice"}});
  const auto bob = http.post("/v1/chat/completions", chat_body("same", false),
                             {{"authorization", "Bearer key-bob"}});
  const auto alice_again = http.post("/v1/chat/completions", chat_body("same", false),
                                     {{"authorization", "Bearer key-alice"}});
  EXPECT_EQ(alice.header("x-cache"), "MISS");
  EXPECT_EQ(bob.header("x-cache"), "MISS");
  EXPECT_EQ(alice_again.header("x-cache"), "HIT");
  EXPECT_NE(alice.body, bob.body);
  EXPECT_THAT(upstream.authorizations(),
              ::testing::ElementsAre("Bearer key-alice", "Bearer key-bob"));
}

TEST_F(GatewayTest, InjectedProviderKeyReplacesTheClientsAndNamedProvidersRoute) {
  start({{"OPENCODE_CACHE_PROVIDERS", "local=" + upstream.base_url()},
         {"OPENCODE_CACHE_PROVIDER_LOCAL_API_KEY", "sk-injected"}});
  const auto response = client().post("/local/v1/chat/completions", chat_body("p", false),
                                      {{"authorization", "Bearer client-key"}});
  EXPECT_EQ(response.status, 200);
  EXPECT_THAT(upstream.authorizations(), ::testing::ElementsAre("Bearer sk-injected"));
  EXPECT_EQ(client().request("GET", "/nope/v1/models").status, 404);
}

TEST_F(GatewayTest, RateLimitRejectsWith429AndHeaders) {
  start({{"RATE_LIMIT_USER_MAX", "2"}, {"RATE_LIMIT_USER_WINDOW_MS", "60000"}});
  HttpClient http = client();
  const auto first = http.post("/v1/chat/completions", chat_body("a", false));
  EXPECT_EQ(first.header("x-ratelimit-limit"), "2");
  EXPECT_EQ(first.header("x-ratelimit-remaining"), "1");
  EXPECT_THAT(first.header("ratelimit-policy"), HasSubstr("\"user\";q=2;w=60"));
  http.post("/v1/chat/completions", chat_body("a", false));
  const auto third = http.post("/v1/chat/completions", chat_body("a", false));
  EXPECT_EQ(third.status, 429);
  EXPECT_NE(third.header("retry-after"), "");
  EXPECT_NE(third.header("retry-after"), "0");
  EXPECT_EQ(third.header("x-ratelimit-remaining"), "0");
  EXPECT_THAT(third.header("ratelimit"), HasSubstr("\"user\";r=0"));
  EXPECT_THAT(third.body, HasSubstr(R"("type":"rate_limit_error")"));
  EXPECT_EQ(upstream.calls(), 1u);
  EXPECT_THAT(client().request("GET", "/metrics").body,
              HasSubstr("opencode_cache_rate_limited_total{type=\"user\"} 1"));
}

TEST_F(GatewayTest, ValkeyGoneRequestsStillReachTheProviderAsBypass) {
  start();
  HttpClient http = client();
  EXPECT_EQ(http.post("/v1/chat/completions", chat_body("before", false)).status, 200);
  server().kill();
  for (int i = 0; i < 5; ++i) {
    const auto response = http.post("/v1/chat/completions", chat_body("during", i % 2 == 0));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.header("x-cache"), "BYPASS");
    EXPECT_EQ(response.error, "");
  }
  EXPECT_EQ(upstream.calls(), 6u);
  EXPECT_EQ(http.request("GET", "/readyz").status, 503);
  EXPECT_EQ(http.request("GET", "/healthz").status, 200);
  server().start();
  EXPECT_TRUE(eventually([&] { return http.request("GET", "/readyz").status == 200; }));
}

TEST_F(GatewayTest, ValkeyKilledUnderLoadEveryRequestIsStillAnswered) {
  start();
  constexpr int clients = 4;
  constexpr int per_client = 25;
  std::atomic<int> answered{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      HttpClient http(gateway->port());
      for (int i = 0; i < per_client; ++i) {
        const auto response =
            http.post("/v1/chat/completions",
                      chat_body("load " + std::to_string(c) + "-" + std::to_string(i), i % 2 == 0));
        ++(response.status == 200 && response.error.empty() ? answered : failed);
      }
    });
  }
  EXPECT_TRUE(eventually([&] { return answered >= clients * per_client / 4; }));
  server().kill();
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(answered, clients * per_client);
  EXPECT_GT(count("opencode_cache_valkey_bypass_total"), 0u);
}

TEST_F(GatewayTest, StalledStreamIsResetAfterTheChunkTimeoutAndNotCached) {
  start({{"OPENCODE_CACHE_UPSTREAM_CHUNK_TIMEOUT_MS", "200"}});
  const auto stalled = client().post("/v1/chat/completions", chat_body("s", true, "hold"));
  EXPECT_EQ(stalled.status, 200);
  EXPECT_NE(stalled.error, "");
  EXPECT_THAT(stalled.body, Not(HasSubstr("[DONE]")));
  upstream.release();
  EXPECT_EQ(client().post("/v1/chat/completions", chat_body("s", true, "hold")).header("x-cache"),
            "MISS");
}

TEST_F(GatewayTest, ConnectionsBeyondTheLimitAre503) {
  start({{"OPENCODE_CACHE_MAX_CONNECTIONS", "1"}});
  HttpClient first = client();
  EXPECT_EQ(first.request("GET", "/healthz").status, 200);  // stays open (keep-alive)
  const auto refused = client().request("GET", "/healthz");
  EXPECT_EQ(refused.status, 503);
  EXPECT_THAT(refused.body, HasSubstr("too many connections"));
}

TEST_F(GatewayTest, CacheControlsRefreshAndNoStore) {
  start();
  HttpClient http = client();
  const auto stored = http.post("/v1/chat/completions", chat_body("c", false));
  const auto no_store =
      http.post("/v1/chat/completions", chat_body("c", false), {{"cache-control", "no-store"}});
  EXPECT_EQ(no_store.header("x-cache"), "BYPASS");
  EXPECT_THAT(no_store.body, HasSubstr("answer 2"));
  EXPECT_THAT(http.post("/v1/chat/completions", chat_body("c", false)).body, HasSubstr("answer 1"));
  const auto refreshed = http.post("/v1/chat/completions", chat_body("c", false),
                                   {{"cache-control", "no-cache"}, {"x-cache-ttl", "77"}});
  EXPECT_EQ(refreshed.header("x-cache"), "REFRESH");
  const auto after = http.post("/v1/chat/completions", chat_body("c", false));
  EXPECT_EQ(after.header("x-cache"), "HIT");
  EXPECT_THAT(after.body, HasSubstr("answer 3"));
  const int ttl =
      std::stoi(server().cli({"TTL", "opencode:response:" + after.header("x-cache-key")}));
  EXPECT_GT(ttl, 70);
  EXPECT_LE(ttl, 77);
  EXPECT_EQ(upstream.calls(), 3u);
}

TEST_F(GatewayTest, EmbeddingsAndModelsAreCached) {
  start();
  HttpClient http = client();
  const std::string body = R"({"model":"emb","input":"text"})";
  EXPECT_EQ(http.post("/v1/embeddings", body).header("x-cache"), "MISS");
  EXPECT_EQ(http.post("/v1/embeddings", body).header("x-cache"), "HIT");
  const auto models = http.request("GET", "/v1/models");
  EXPECT_EQ(models.header("x-cache"), "MISS");
  EXPECT_EQ(http.request("GET", "/v1/models").body, models.body);
  const int ttl =
      std::stoi(server().cli({"TTL", "opencode:metadata:" + models.header("x-cache-key")}));
  EXPECT_GT(ttl, 290);
  EXPECT_LE(ttl, 300);
  EXPECT_EQ(upstream.calls(), 2u);
}

TEST_F(GatewayTest, UpstreamErrorsPassThroughAndAreNeverStored) {
  start();
  HttpClient http = client();
  for (const std::string model : {"fail-500", "fail-429"}) {
    const auto first = http.post("/v1/chat/completions", chat_body("e", true, model));
    const auto second = http.post("/v1/chat/completions", chat_body("e", true, model));
    EXPECT_EQ(first.status, model == "fail-500" ? 500 : 429);
    EXPECT_THAT(first.body, HasSubstr("fake failure"));
    EXPECT_EQ(second.header("x-cache"), "MISS");
  }
  EXPECT_EQ(upstream.calls(), 4u);
}

TEST_F(GatewayTest, UpstreamUnreachableIs502AndSilentIs504) {
  start({{"OPENCODE_CACHE_PROVIDERS", "down=http://127.0.0.1:1/v1"},
         {"OPENCODE_CACHE_UPSTREAM_FIRST_BYTE_TIMEOUT_MS", "300"}});
  HttpClient http = client();
  const auto down = http.post("/down/v1/chat/completions", chat_body("x", false));
  EXPECT_EQ(down.status, 502);
  EXPECT_THAT(down.body, HasSubstr(R"("code":"bad_gateway")"));
  const auto silent = http.post("/v1/chat/completions", chat_body("x", true, "stall"));
  EXPECT_EQ(silent.status, 504);
  EXPECT_THAT(silent.body, HasSubstr(R"("code":"gateway_timeout")"));
}

TEST_F(GatewayTest, GatewayErrorsHaveTheOpenAIShape) {
  start({{"OPENCODE_CACHE_MAX_BODY_BYTES", "1000"}, {"OPENCODE_CACHE_MAX_HEADER_BYTES", "1024"}});
  const auto not_found = client().request("GET", "/v2/whatever");
  EXPECT_EQ(not_found.status, 404);
  EXPECT_THAT(not_found.body, HasSubstr(R"({"error":{"message":)"));
  const auto wrong_method = client().request("GET", "/v1/chat/completions");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.header("allow"), "POST");
  const auto malformed = client().post("/v1/chat/completions", "{\"model\":");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_THAT(malformed.body, HasSubstr(R"("type":"invalid_request_error")"));
  const auto too_big =
      client().post("/v1/chat/completions", chat_body(std::string(2000, 'x'), false));
  EXPECT_EQ(too_big.status, 413);
  const auto huge_header =
      client().request("GET", "/healthz", "", {{"x-big", std::string(2000, 'h')}});
  EXPECT_EQ(huge_header.status, 431);
  const auto garbage = client().raw("NOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(garbage.status, 400);
  EXPECT_EQ(upstream.calls(), 0u);
}

TEST_F(GatewayTest, GatewayKeysIdentifyUsersAndRefuseOthers) {
  // sha256("gw-secret")
  start({{"OPENCODE_CACHE_API_KEYS",
          "b53b5edf5d9f8c56815de368f9857e6f3fbf912eb140850af60e82cd4ca364fa=alice"}});
  const auto missing = client().post("/v1/chat/completions", chat_body("k", false));
  EXPECT_EQ(missing.status, 401);
  EXPECT_THAT(missing.body, HasSubstr(R"("type":"authentication_error")"));
  const auto wrong = client().post("/v1/chat/completions", chat_body("k", false),
                                   {{"x-opencode-cache-key", "not-a-key"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(upstream.calls(), 0u);
  const auto right = client().post(
      "/v1/chat/completions", chat_body("k", false),
      {{"x-opencode-cache-key", "gw-secret"}, {"authorization", "Bearer provider-key"}});
  EXPECT_EQ(right.status, 200);
  EXPECT_THAT(upstream.authorizations(), ::testing::ElementsAre("Bearer provider-key"));
  EXPECT_EQ(server().cli({"EXISTS", "opencode:ratelimit:user:alice"}), "1");
}

TEST_F(GatewayTest, IdleAndSlowClientsAreCutOff) {
  start({{"OPENCODE_CACHE_IDLE_TIMEOUT_MS", "200"}});
  const auto start_time = std::chrono::steady_clock::now();
  // Half a request head, never finished: the gateway closes the connection.
  const auto slow = client().raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n");
  EXPECT_NE(slow.error, "");
  EXPECT_LT(std::chrono::steady_clock::now() - start_time, 5s);
}

TEST_F(GatewayTest, ASlowBodyIsCutOffByTheReadTimeout) {
  start({{"OPENCODE_CACHE_READ_TIMEOUT_MS", "200"}});
  const auto start_time = std::chrono::steady_clock::now();
  // The head is complete, the body promised is never sent in full.
  const auto slow = client().raw(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 100\r\n\r\n{\"model\":");
  EXPECT_NE(slow.error, "");
  EXPECT_LT(std::chrono::steady_clock::now() - start_time, 5s);
  EXPECT_EQ(upstream.calls(), 0u);
}

TEST_F(GatewayTest, PipelinedRequestsAreAnsweredInOrderOnOneConnection) {
  start();
  const std::string body = chat_body("pipelined", false);
  const std::string post =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  HttpClient http = client();
  // Three requests in one write: a miss, the same again (a hit), then a health check.
  const auto first = http.raw(post + post + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto second = http.next_response();
  const auto third = http.next_response();
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.header("x-cache"), "MISS");
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.header("x-cache"), "HIT");
  EXPECT_EQ(second.body, first.body);
  EXPECT_EQ(third.status, 200);
  EXPECT_EQ(third.body, R"({"status":"ok"})");
  EXPECT_EQ(upstream.calls(), 1u);
}

TEST_F(GatewayTest, AClientAskingToCloseGetsConnectionCloseAndAnEnd) {
  start();
  HttpClient http = client();
  const auto answer = http.raw("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.header("connection"), "close");
  EXPECT_EQ(answer.header("content-length"), "15");
  // The gateway closed its side: the next read on the connection ends.
  EXPECT_NE(http.next_response().error, "");
}

TEST_F(GatewayTest, MetricsCountRequestsByRouteStatusAndCacheResult) {
  start();
  HttpClient http = client();
  http.post("/v1/chat/completions", chat_body("m", false));
  http.post("/v1/chat/completions", chat_body("m", false));
  const std::string text = http.request("GET", "/metrics").body;
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(opencode_cache_requests_total{route="/v1/chat/completions",status="200",cache="MISS"} 1)"));
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(opencode_cache_requests_total{route="/v1/chat/completions",status="200",cache="HIT"} 1)"));
  EXPECT_THAT(text, HasSubstr("opencode_cache_hit_ratio 0.5"));
  EXPECT_THAT(text, HasSubstr("opencode_cache_upstream_ttfb_seconds_count 1"));
  EXPECT_THAT(text, HasSubstr("# TYPE opencode_cache_upstream_duration_seconds histogram"));
}

}  // namespace
}  // namespace opencode_cache::testing

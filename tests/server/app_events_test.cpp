// GET /api/events end to end: real valkey-server, gateways on their own threads (two of them
// on one Valkey where it matters), and a plain SSE client as a browser's EventSource.

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <chrono>
#include <map>
#include <thread>

#include "opencode_cache/cache/cache_keys.hpp"
#include "server/config/server_config.hpp"
#include "server/http/server.hpp"
#include "server/support/fake_upstream.hpp"
#include "server/support/http_client.hpp"
#include "server/support/sse_client.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using Env = std::map<std::string, std::string>;
using Json = boost::json::value;
using HeaderList = std::vector<std::pair<std::string, std::string>>;

constexpr const char* admin_token = "test-admin-token-0123456789";

HeaderList admin() {
  return {{"authorization", std::string("Bearer ") + admin_token}};
}

Json data_of(const SseEvent& event) {
  return boost::json::parse(event.data);
}

std::string code_of(const std::string& body) {
  boost::system::error_code ec;
  const Json value = boost::json::parse(body, ec);
  if (ec || !value.is_object() || !value.as_object().contains("error")) return "";
  return std::string(value.at("error").at("code").as_string());
}

class AppEventsTest : public ValkeyTest {
 protected:
  std::unique_ptr<server::http::Server> start(Env overrides = {}) {
    Env env = {{"OPENCODE_CACHE_LISTEN", "127.0.0.1:0"},
               {"OPENCODE_CACHE_THREADS", "1"},
               {"OPENCODE_CACHE_UPSTREAM", upstream.base_url()},
               {"OPENCODE_CACHE_ADMIN_TOKEN", admin_token},
               {"VALKEY_HOST", server().host()},
               {"VALKEY_PORT", std::to_string(server().port())}};
    for (auto& [name, value] : overrides) env[name] = value;
    auto config = server::ServerConfig::from_env([&](const char* name) -> const char* {
      const auto it = env.find(name);
      return it == env.end() ? nullptr : it->second.c_str();
    });
    config.valkey.reconnect.base_delay = 20ms;
    config.valkey.reconnect.max_delay = 100ms;
    config.drain_timeout = 2s;
    auto gateway = std::make_unique<server::http::Server>(std::move(config));
    gateway->start();
    return gateway;
  }

  // A stream on `gateway`, live once it returns (its `ready` event has arrived).
  std::unique_ptr<SseClient> listen(const server::http::Server& gateway, HeaderList headers = {}) {
    auto stream = std::make_unique<SseClient>(gateway.port(), "/api/events", headers);
    EXPECT_EQ(stream->status(), 200) << stream->body();
    if (stream->status() == 200) {
      const auto ready = stream->next_of("ready");
      EXPECT_TRUE(ready);
    }
    return stream;
  }

  void invalidate(const server::http::Server& gateway, const std::string& body) {
    const HttpResponse answer =
        HttpClient(gateway.port()).post("/api/cache/invalidate", body, admin());
    EXPECT_EQ(answer.status, 200) << answer.body;
  }

  void TearDown() override { upstream.release(); }

  FakeUpstream upstream;
};

TEST_F(AppEventsTest, AnInvalidationThroughOneGatewayReachesAStreamOnAnother) {
  auto a = start();
  auto b = start();
  HttpClient(a->port()).request("PUT", "/api/context/conv-1", R"({"messages":[]})");
  auto stream = listen(*b);
  EXPECT_EQ(stream->header("content-type"), "text/event-stream");
  invalidate(*a, R"({"namespace":"context","id":"conv-1"})");
  invalidate(*a, R"({"pattern":"metadata:*"})");

  const auto first = stream->next_of("invalidate");
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->id.empty());
  const Json one = data_of(*first);
  EXPECT_EQ(one.at("type").as_string(), "invalidate");
  EXPECT_EQ(one.at("namespace").as_string(), "context");
  EXPECT_EQ(one.at("id").as_string(), "conv-1");
  EXPECT_EQ(one.at("deleted").to_number<int>(), 1);
  EXPECT_TRUE(one.at("at_ms").is_int64());
  const auto second = stream->next_of("invalidate");
  ASSERT_TRUE(second);
  EXPECT_EQ(data_of(*second).at("pattern").as_string(), "metadata:*");
  EXPECT_EQ(data_of(*second).at("deleted").to_number<int>(), 0);
  EXPECT_FALSE(data_of(*second).as_object().contains("namespace"));
}

TEST_F(AppEventsTest, EveryStreamOfEveryThreadGetsEachEventOnce) {
  auto gateway = start({{"OPENCODE_CACHE_THREADS", "2"}});
  std::vector<std::unique_ptr<SseClient>> streams;
  for (int i = 0; i < 6; ++i) streams.push_back(listen(*gateway));
  invalidate(*gateway, R"({"namespace":"metadata","id":"m"})");
  invalidate(*gateway, R"({"namespace":"metadata","id":"n"})");
  for (auto& stream : streams) {
    const auto first = stream->next_of("invalidate");
    const auto second = stream->next_of("invalidate");
    ASSERT_TRUE(first && second);
    EXPECT_EQ(data_of(*first).at("id").as_string(), "m");
    EXPECT_EQ(data_of(*second).at("id").as_string(), "n");
    EXPECT_FALSE(stream->next(100ms));  // nothing twice
  }
}

TEST_F(AppEventsTest, SessionChangesAreEventsInTheOrderMade) {
  auto gateway = start();
  auto stream = listen(*gateway);
  HttpClient http(gateway->port());
  EXPECT_EQ(http.request("PUT", "/api/sessions/s1", R"({"a":1})").status, 204);
  EXPECT_EQ(http.request("PATCH", "/api/sessions/s1", R"({"b":2})").status, 204);
  EXPECT_EQ(http.request("PATCH", "/api/sessions/missing", R"({"b":2})").status, 404);
  EXPECT_EQ(http.request("DELETE", "/api/sessions/s1").status, 204);
  for (const char* action : {"put", "patch", "delete"}) {
    const auto event = stream->next_of("session");
    ASSERT_TRUE(event) << action;
    EXPECT_EQ(data_of(*event).at("action").as_string(), action);
    EXPECT_EQ(data_of(*event).at("id").as_string(), "s1");
  }
  // The failed PATCH announced nothing.
  EXPECT_FALSE(stream->next(200ms));
}

TEST_F(AppEventsTest, LastEventIdResumesWithExactlyTheMissedEventsInOrder) {
  auto gateway = start();
  auto stream = listen(*gateway);
  invalidate(*gateway, R"({"namespace":"context","id":"seen"})");
  const auto seen = stream->next_of("invalidate");
  ASSERT_TRUE(seen);
  stream.reset();  // the tab loses its connection

  for (const char* id : {"m1", "m2", "m3"}) {
    invalidate(*gateway, std::string(R"({"namespace":"context","id":")") + id + "\"}");
  }
  SseClient resumed(gateway->port(), "/api/events", {{"last-event-id", seen->id}});
  ASSERT_EQ(resumed.status(), 200);
  std::string last_id;
  for (const char* id : {"m1", "m2", "m3"}) {
    const auto event = resumed.next();
    ASSERT_TRUE(event) << id;
    EXPECT_EQ(event->type, "invalidate");
    EXPECT_EQ(data_of(*event).at("id").as_string(), id);
    EXPECT_GT(event->id, seen->id);
    last_id = event->id;
  }
  const auto ready = resumed.next();
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->type, "ready");
  EXPECT_TRUE(data_of(*ready).at("resumed").as_bool());
  EXPECT_EQ(data_of(*ready).at("last_event_id").as_string(), last_id);
  // Then live, nothing repeated.
  invalidate(*gateway, R"({"namespace":"context","id":"live"})");
  const auto live = resumed.next();
  ASSERT_TRUE(live);
  EXPECT_EQ(data_of(*live).at("id").as_string(), "live");
}

TEST_F(AppEventsTest, AnIdOlderThanTheHistoryGetsReset) {
  // Small stream nodes, so that MAXLEN ~ trims after a few entries.
  server().cli({"CONFIG", "SET", "stream-node-max-entries", "2"});
  auto gateway = start({{"OPENCODE_CACHE_EVENTS_HISTORY", "2"}});
  auto stream = listen(*gateway);
  invalidate(*gateway, R"({"namespace":"context","id":"first"})");
  const auto first = stream->next_of("invalidate");
  ASSERT_TRUE(first);
  stream.reset();
  for (int i = 0; i < 10; ++i) invalidate(*gateway, R"({"namespace":"context","id":"more"})");
  const std::string head = server().cli({"XRANGE", "opencode:events", "-", "+", "COUNT", "1"});
  ASSERT_EQ(head.find(first->id), std::string::npos) << "the first event was not trimmed";

  SseClient resumed(gateway->port(), "/api/events", {{"last-event-id", first->id}});
  ASSERT_EQ(resumed.status(), 200);
  const auto reset = resumed.next();
  ASSERT_TRUE(reset);
  EXPECT_EQ(reset->type, "reset");
  const std::string newest = server().cli({"XREVRANGE", "opencode:events", "+", "-", "COUNT", "1"});
  EXPECT_FALSE(reset->id.empty());
  EXPECT_NE(newest.find(reset->id), std::string::npos);  // the client goes on from the newest
  const auto ready = resumed.next();
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->type, "ready");
  EXPECT_FALSE(data_of(*ready).at("resumed").as_bool());
}

TEST_F(AppEventsTest, AnIdOfADeletedHistoryGetsReset) {
  auto gateway = start();
  auto stream = listen(*gateway);
  invalidate(*gateway, R"({"namespace":"context","id":"x"})");
  const auto seen = stream->next_of("invalidate");
  ASSERT_TRUE(seen);
  stream.reset();
  server().cli({"DEL", "opencode:events"});
  SseClient resumed(gateway->port(), "/api/events", {{"last-event-id", seen->id}});
  const auto reset = resumed.next();
  ASSERT_TRUE(reset);
  EXPECT_EQ(reset->type, "reset");
  EXPECT_TRUE(reset->id.empty());  // nothing to go on from
}

TEST_F(AppEventsTest, AMalformedLastEventIdIsA400) {
  auto gateway = start();
  SseClient stream(gateway->port(), "/api/events", {{"last-event-id", "yesterday"}});
  EXPECT_EQ(stream.status(), 400);
  EXPECT_EQ(code_of(stream.body()), "invalid_request");
}

TEST_F(AppEventsTest, OnlyGetReadsEvents) {
  auto gateway = start();
  const HttpResponse post = HttpClient(gateway->port()).post("/api/events", "{}");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("allow"), "GET, OPTIONS");
}

TEST_F(AppEventsTest, StreamsNeedAGatewayKeyAndCarryCorsHeaders) {
  auto gateway = start({{"OPENCODE_CACHE_API_KEYS", cache::sha256_hex("secret-key") + "=ada"}});
  SseClient none(gateway->port(), "/api/events", {{"origin", "http://localhost:5173"}});
  EXPECT_EQ(none.status(), 401);
  EXPECT_EQ(code_of(none.body()), "invalid_api_key");
  EXPECT_EQ(none.header("access-control-allow-origin"), "http://localhost:5173");
  SseClient wrong(gateway->port(), "/api/events", {{"authorization", "Bearer nope"}});
  EXPECT_EQ(wrong.status(), 401);
  auto good = listen(*gateway,
                     {{"authorization", "Bearer secret-key"}, {"origin", "http://localhost:5173"}});
  EXPECT_EQ(good->header("access-control-allow-origin"), "http://localhost:5173");
  auto by_header = listen(*gateway, {{"x-opencode-cache-key", "secret-key"}});
  EXPECT_EQ(by_header->status(), 200);
}

TEST_F(AppEventsTest, StreamsBeyondTheLimitGet503) {
  auto gateway = start({{"OPENCODE_CACHE_EVENTS_MAX_CLIENTS", "1"}});
  auto first = listen(*gateway);
  SseClient second(gateway->port(), "/api/events");
  EXPECT_EQ(second.status(), 503);
  EXPECT_EQ(code_of(second.body()), "too_many_event_streams");
}

TEST_F(AppEventsTest, AClientThatLeavesFreesItsPlaceAtTheNextHeartbeat) {
  auto gateway = start(
      {{"OPENCODE_CACHE_EVENTS_MAX_CLIENTS", "1"}, {"OPENCODE_CACHE_EVENTS_HEARTBEAT_MS", "50"}});
  {
    auto stream = listen(*gateway);
    // Idle streams get comments.
    ASSERT_TRUE(stream->wait_for_comments(2));
    stream->close();
  }
  // The place is free once the server has noticed; until then a new stream gets 503.
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  int status = 0;
  while (std::chrono::steady_clock::now() < give_up) {
    SseClient again(gateway->port(), "/api/events");
    status = again.status();
    if (status == 200) break;
    EXPECT_EQ(status, 503);
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(status, 200);
  EXPECT_EQ(HttpClient(gateway->port()).request("GET", "/healthz").status, 200);
}

TEST_F(AppEventsTest, ADrainEndsStreamsCleanly) {
  auto gateway = start();
  auto stream = listen(*gateway);
  const auto began = std::chrono::steady_clock::now();
  gateway->shutdown();
  EXPECT_FALSE(stream->next(5s));
  EXPECT_TRUE(stream->ended_cleanly());
  EXPECT_TRUE(gateway->wait());
  EXPECT_LT(std::chrono::steady_clock::now() - began, 2s);  // not the drain deadline
}

TEST_F(AppEventsTest, AStreamThatLostValkeyResyncsFromTheHistory) {
  auto gateway = start();
  auto stream = listen(*gateway);
  invalidate(*gateway, R"({"namespace":"context","id":"before"})");
  ASSERT_TRUE(stream->next_of("invalidate"));
  server().restart();  // the history goes with it (no persistence)
  // Restored subscription: the stream rereads the history, which no longer holds its id.
  const auto reset = stream->next_of("reset", 10s);
  ASSERT_TRUE(reset);
  invalidate(*gateway, R"({"namespace":"context","id":"after"})");
  const auto after = stream->next_of("invalidate");
  ASSERT_TRUE(after);
  EXPECT_EQ(data_of(*after).at("id").as_string(), "after");
}

TEST_F(AppEventsTest, BreakerTransitionsAreEventsEvenWhileValkeyIsDown) {
  auto gateway = start();
  auto stream = listen(*gateway);
  server().pause();  // answers nothing, keeps the history
  HttpClient http(gateway->port());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(http.request("GET", "/api/context/x").status, 503);
  // Valkey cannot take it: this thread's own streams get it, without an id.
  const auto opened = stream->next_of("breaker");
  ASSERT_TRUE(opened);
  EXPECT_TRUE(opened->id.empty());
  EXPECT_EQ(data_of(*opened).at("from").as_string(), "closed");
  EXPECT_EQ(data_of(*opened).at("to").as_string(), "open");

  server().resume();
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  std::optional<SseEvent> closed;
  while (!closed && std::chrono::steady_clock::now() < give_up) {
    http.request("GET", "/api/context/x");  // after the cool-down: the probe
    auto event = stream->next_of("breaker", 200ms);
    if (event && data_of(*event).at("to").as_string() == "closed") closed = event;
  }
  ASSERT_TRUE(closed);
  EXPECT_FALSE(closed->id.empty());  // through Valkey again, into the history
  EXPECT_FALSE(stream->ended());     // the outage did not end the stream
}

TEST_F(AppEventsTest, ValkeyDownBeforeTheStreamIs503) {
  auto gateway = start();
  server().stop();
  SseClient stream(gateway->port(), "/api/events");
  EXPECT_EQ(stream.status(), 503);
  EXPECT_EQ(code_of(stream.body()), "cache_unavailable");
}

}  // namespace
}  // namespace opencode_cache::testing

// The app's HTTP API (/api/...) end to end: a real valkey-server, the gateway on its own
// thread, and plain HTTP clients, as the web UI (and the C++ library beside it) would use it.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <map>
#include <thread>

#include "opencode_cache/cache/cache_service.hpp"
#include "server/config/server_config.hpp"
#include "server/http/server.hpp"
#include "server/support/fake_upstream.hpp"
#include "server/support/http_client.hpp"
#include "support/async_test.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Env = std::map<std::string, std::string>;
using Json = boost::json::value;
using HeaderList = std::vector<std::pair<std::string, std::string>>;

constexpr const char* admin_token = "test-admin-token-0123456789";
constexpr const char* web_ui = "http://localhost:5173";

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 10s) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

Json json_of(const HttpResponse& response) {
  boost::system::error_code ec;
  Json value = boost::json::parse(response.body, ec);
  return ec ? Json() : value;
}

// The "code" of a JSON error answer.
std::string code_of(const HttpResponse& response) {
  const Json body = json_of(response);
  const auto* error = body.is_object() ? body.as_object().if_contains("error") : nullptr;
  if (error == nullptr || !error->is_object()) return "";
  const auto* code = error->as_object().if_contains("code");
  return code != nullptr && code->is_string() ? std::string(code->as_string()) : "";
}

HeaderList admin() {
  return {{"authorization", std::string("Bearer ") + admin_token}};
}

class AppApiTest : public ValkeyTest {
 protected:
  void start(Env overrides = {}) {
    Env env = {{"OPENCODE_CACHE_LISTEN", "127.0.0.1:0"},
               {"OPENCODE_CACHE_THREADS", "1"},
               {"OPENCODE_CACHE_UPSTREAM", upstream.base_url()},
               {"OPENCODE_CACHE_ADMIN_TOKEN", admin_token},
               {"VALKEY_HOST", server().host()},
               {"VALKEY_PORT", std::to_string(server().port())}};
    for (auto& [name, value] : overrides) env[name] = value;
    for (auto it = env.begin(); it != env.end();) {
      it = it->second.empty() ? env.erase(it) : std::next(it);
    }
    auto config = server::ServerConfig::from_env([&](const char* name) -> const char* {
      const auto it = env.find(name);
      return it == env.end() ? nullptr : it->second.c_str();
    });
    config.valkey.reconnect.base_delay = 20ms;
    config.valkey.reconnect.max_delay = 100ms;
    config.drain_timeout = 2s;
    gateway = std::make_unique<server::http::Server>(std::move(config));
    gateway->start();
  }

  void TearDown() override {
    upstream.release();
    gateway.reset();
  }

  HttpResponse call(const std::string& method, const std::string& target,
                    const std::string& body = "", const HeaderList& headers = {}) {
    return HttpClient(gateway->port()).request(method, target, body, headers);
  }

  Json stats() { return json_of(call("GET", "/api/cache/stats", "", admin())); }

  std::uint64_t fetch_figure(const std::string& name) {
    const Json figures = stats();
    const auto* fetch = figures.at("namespaces").as_object().if_contains("fetch");
    return fetch == nullptr ? 0 : fetch->at(name).to_number<std::uint64_t>();
  }

  std::int64_t ttl_of(const std::string& key) { return std::stoll(server().cli({"TTL", key})); }

  // How often Valkey has run `command` (INFO commandstats).
  std::uint64_t command_calls(const std::string& command) {
    const std::string info = server().cli({"INFO", "commandstats"});
    const std::string field = "cmdstat_" + command + ":calls=";
    const std::size_t at = info.find(field);
    return at == std::string::npos ? 0 : std::stoull(info.substr(at + field.size()));
  }

  FakeUpstream upstream;
  std::unique_ptr<server::http::Server> gateway;
};

// --- sessions -----------------------------------------------------------------------

TEST_F(AppApiTest, SessionsArePutReadPatchedAndDeleted) {
  start();
  EXPECT_EQ(call("PUT", "/api/sessions/s1", R"({"user":"ada","theme":"dark"})").status, 204);
  const auto read = call("GET", "/api/sessions/s1");
  EXPECT_EQ(read.status, 200);
  EXPECT_EQ(read.header("content-type"), "application/json");
  EXPECT_EQ(json_of(read), boost::json::parse(R"({"user":"ada","theme":"dark"})"));

  EXPECT_EQ(call("PATCH", "/api/sessions/s1", R"({"theme":"light","tabs":[1,2]})").status, 204);
  EXPECT_EQ(json_of(call("GET", "/api/sessions/s1")),
            boost::json::parse(R"({"user":"ada","theme":"light","tabs":[1,2]})"));

  // PUT replaces the whole object.
  EXPECT_EQ(call("PUT", "/api/sessions/s1", R"({"user":"bob"})").status, 204);
  EXPECT_EQ(json_of(call("GET", "/api/sessions/s1")), boost::json::parse(R"({"user":"bob"})"));
  // The library's format, where the library and the seed read it.
  EXPECT_EQ(server().cli({"GET", "opencode:session:s1"}), R"({"user":"bob"})");

  EXPECT_EQ(call("DELETE", "/api/sessions/s1").status, 204);
  const auto gone = call("GET", "/api/sessions/s1");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(code_of(gone), "not_found");
  EXPECT_THAT(gone.body, HasSubstr("no session 's1'"));
}

// --- sealed (CACHE_ENCRYPT) ---------------------------------------------------------

const Env sealed_sessions = {
    {"CACHE_ENCRYPT", "session,context"},
    {"CACHE_ENCRYPTION_KEYS", "k1:QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="}};

TEST_F(AppApiTest, SealedSessionsAndContextReadAsBeforeAndValkeyHoldsNoPlaintext) {
  start(sealed_sessions);
  EXPECT_EQ(call("PUT", "/api/sessions/s1", R"({"user":"ada"})").status, 204);
  EXPECT_EQ(call("PATCH", "/api/sessions/s1", R"({"theme":"light"})").status, 204);
  EXPECT_EQ(json_of(call("GET", "/api/sessions/s1")),
            boost::json::parse(R"({"user":"ada","theme":"light"})"));
  EXPECT_EQ(call("PUT", "/api/context/c1", R"({"code":"secret code"})").status, 204);
  EXPECT_EQ(json_of(call("GET", "/api/context/c1")),
            boost::json::parse(R"({"code":"secret code"})"));
  const std::string session = server().cli({"GET", "opencode:session:s1"});
  const std::string context = server().cli({"GET", "opencode:context:c1"});
  EXPECT_TRUE(session.starts_with("\x89OCE"));
  EXPECT_TRUE(context.starts_with("\x89OCE"));
  EXPECT_THAT(session, ::testing::Not(HasSubstr("ada")));
  EXPECT_THAT(context, ::testing::Not(HasSubstr("secret")));
}

TEST_F(AppApiTest, SealedValuesThatDoNotOpenAreAnErrorForSessionsAndAMissForContext) {
  start(sealed_sessions);
  EXPECT_EQ(call("PUT", "/api/sessions/s1", R"({"user":"ada"})").status, 204);
  EXPECT_EQ(call("PUT", "/api/context/c1", R"({"a":1})").status, 204);
  server().cli({"APPEND", "opencode:session:s1", "x"});
  server().cli({"APPEND", "opencode:context:c1", "x"});
  const auto session = call("GET", "/api/sessions/s1");
  EXPECT_EQ(session.status, 500);
  EXPECT_EQ(code_of(session), "internal_error");
  EXPECT_THAT(session.body, HasSubstr("session 's1' does not authenticate"));
  EXPECT_EQ(call("PATCH", "/api/sessions/s1", R"({"a":1})").status, 500);
  EXPECT_EQ(call("GET", "/api/context/c1").status, 404);
  const Json figures = stats();
  const auto& namespaces = figures.at("namespaces").as_object();
  EXPECT_EQ(namespaces.at("session").at("decrypt_failures").to_number<std::uint64_t>(), 2u);
  EXPECT_EQ(namespaces.at("context").at("decrypt_failures").to_number<std::uint64_t>(), 1u);
}

TEST_F(AppApiTest, MissingSessionsAreNotFoundForEveryMethod) {
  start();
  EXPECT_EQ(call("GET", "/api/sessions/none").status, 404);
  EXPECT_EQ(call("PATCH", "/api/sessions/none", R"({"a":1})").status, 404);
  EXPECT_EQ(call("DELETE", "/api/sessions/none").status, 404);
  // A PATCH never creates a session.
  EXPECT_EQ(server().cli({"EXISTS", "opencode:session:none"}), "0");
}

TEST_F(AppApiTest, ReadingOrPatchingASessionRestartsItsTtl) {
  start();
  call("PUT", "/api/sessions/s", R"({"a":1})");
  EXPECT_GT(ttl_of("opencode:session:s"), 86000);
  server().cli({"EXPIRE", "opencode:session:s", "100"});
  EXPECT_EQ(call("GET", "/api/sessions/s").status, 200);
  EXPECT_GT(ttl_of("opencode:session:s"), 86000);
  server().cli({"EXPIRE", "opencode:session:s", "100"});
  EXPECT_EQ(call("PATCH", "/api/sessions/s", R"({"b":2})").status, 204);
  EXPECT_GT(ttl_of("opencode:session:s"), 86000);
}

TEST_F(AppApiTest, StoredDataThatIsNotOursIsAnErrorForSessionsAndAMissForTheCache) {
  start();
  server().cli({"SET", "opencode:session:broken", "[1,2]"});
  const auto session = call("GET", "/api/sessions/broken");
  EXPECT_EQ(session.status, 500);
  EXPECT_EQ(code_of(session), "internal_error");
  EXPECT_THAT(session.body, HasSubstr("is not a JSON object"));
  server().cli({"SET", "opencode:context:broken", "not json"});
  EXPECT_EQ(call("GET", "/api/context/broken").status, 404);
  server().cli({"SET", "opencode:fetch:broken", "\"no envelope\""});
  EXPECT_EQ(call("GET", "/api/cache/broken").status, 404);
}

TEST_F(AppApiTest, ConcurrentPatchesOfDifferentFieldsAllSurvive) {
  start();
  call("PUT", "/api/sessions/shared", "{}");
  constexpr int writers = 4;
  constexpr int fields_each = 10;
  std::vector<std::thread> threads;
  std::atomic<int> accepted = 0;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      HttpClient http(gateway->port());
      for (int f = 0; f < fields_each; ++f) {
        const std::string field = "w" + std::to_string(w) + "f" + std::to_string(f);
        if (http.request("PATCH", "/api/sessions/shared",
                         "{\"" + field + "\":" + std::to_string(f) + "}")
                .status == 204) {
          ++accepted;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(accepted, writers * fields_each);
  const Json session = json_of(call("GET", "/api/sessions/shared"));
  EXPECT_EQ(session.as_object().size(), static_cast<std::size_t>(writers * fields_each));
}

TEST_F(AppApiTest, SessionBodiesMustBeJsonObjectsWithinTheLimit) {
  start({{"OPENCODE_CACHE_API_MAX_VALUE_BYTES", "64"}});
  const auto array = call("PUT", "/api/sessions/s", "[1,2]");
  EXPECT_EQ(array.status, 400);
  EXPECT_EQ(code_of(array), "invalid_session");
  const auto broken = call("PATCH", "/api/sessions/s", R"({"a":)");
  EXPECT_EQ(broken.status, 400);
  EXPECT_EQ(code_of(broken), "invalid_json");
  EXPECT_THAT(broken.body, HasSubstr("malformed JSON"));
  const auto empty = call("PUT", "/api/sessions/s", "");
  EXPECT_EQ(empty.status, 400);
  EXPECT_EQ(code_of(empty), "invalid_json");
  const auto large = call("PUT", "/api/sessions/s", R"({"a":")" + std::string(100, 'x') + "\"}");
  EXPECT_EQ(large.status, 413);
  EXPECT_EQ(code_of(large), "value_too_large");
  EXPECT_THAT(large.body, HasSubstr("at most 64"));
  EXPECT_EQ(server().cli({"EXISTS", "opencode:session:s"}), "0");
}

// --- context and metadata ------------------------------------------------------------

TEST_F(AppApiTest, ContextAndMetadataKeepAnyJsonWithTheirTtls) {
  start();
  EXPECT_EQ(call("PUT", "/api/context/c1", R"([{"role":"user","content":"hi"}])").status, 204);
  EXPECT_EQ(json_of(call("GET", "/api/context/c1")),
            boost::json::parse(R"([{"role":"user","content":"hi"}])"));
  EXPECT_GT(ttl_of("opencode:context:c1"), 1700);
  EXPECT_LE(ttl_of("opencode:context:c1"), 1800);

  EXPECT_EQ(call("PUT", "/api/metadata/m1", "42").status, 204);
  EXPECT_EQ(json_of(call("GET", "/api/metadata/m1")), Json(42));
  EXPECT_LE(ttl_of("opencode:metadata:m1"), 300);

  EXPECT_EQ(call("PUT", "/api/metadata/m2?ttl=7", R"({"k":"v"})").status, 204);
  EXPECT_LE(ttl_of("opencode:metadata:m2"), 7);
  EXPECT_GT(ttl_of("opencode:metadata:m2"), 0);

  EXPECT_EQ(call("DELETE", "/api/context/c1").status, 204);
  EXPECT_EQ(call("GET", "/api/context/c1").status, 404);
  EXPECT_EQ(call("DELETE", "/api/context/c1").status, 404);
  EXPECT_EQ(call("GET", "/api/metadata/never").status, 404);
}

TEST_F(AppApiTest, ABadTtlIsRefused) {
  start();
  for (const std::string ttl : {"0", "-5", "abc", "1.5", "99999999999"}) {
    const auto response = call("PUT", "/api/context/c?ttl=" + ttl, "1");
    EXPECT_EQ(response.status, 400) << ttl;
    EXPECT_EQ(code_of(response), "invalid_ttl") << ttl;
  }
  EXPECT_EQ(call("PUT", "/api/cache/k?ttl=0", "1").status, 400);
  EXPECT_EQ(server().cli({"EXISTS", "opencode:context:c"}), "0");
}

// --- get-or-fetch over HTTP -----------------------------------------------------------

TEST_F(AppApiTest, AValueIsLeasedFetchedStoredAndServed) {
  start();
  const auto miss = call("GET", "/api/cache/models");
  EXPECT_EQ(miss.status, 404);
  EXPECT_EQ(code_of(miss), "not_found");

  const Json lease = json_of(call("POST", "/api/cache/models/lease"));
  EXPECT_EQ(lease.at("granted"), Json(true));
  EXPECT_EQ(lease.at("ttl_ms"), Json(10000));
  const std::string token(lease.at("lease").as_string());
  EXPECT_EQ(json_of(call("POST", "/api/cache/models/lease")).at("granted"), Json(false));

  EXPECT_EQ(
      call("PUT", "/api/cache/models?ttl=60", R"(["gpt-4","claude"])", {{"x-cache-lease", token}})
          .status,
      204);
  const auto hit = call("GET", "/api/cache/models");
  EXPECT_EQ(hit.status, 200);
  EXPECT_EQ(json_of(hit), boost::json::parse(R"(["gpt-4","claude"])"));
  EXPECT_EQ(server().cli({"EXISTS", "opencode:lease:fetch:models"}), "0");
  EXPECT_LE(ttl_of("opencode:fetch:models"), 60);
  EXPECT_GT(ttl_of("opencode:fetch:models"), 50);
}

TEST_F(AppApiTest, TheCallerWithoutTheLeaseLongPollsForTheOthersValue) {
  start();
  const Json granted = json_of(call("POST", "/api/cache/report/lease"));
  ASSERT_EQ(granted.at("granted"), Json(true));
  const std::string token(granted.at("lease").as_string());
  EXPECT_EQ(json_of(call("POST", "/api/cache/report/lease")).at("granted"), Json(false));

  HttpResponse waited;
  std::chrono::steady_clock::duration took{};
  std::thread second([&] {
    const auto begin = std::chrono::steady_clock::now();
    waited = HttpClient(gateway->port()).request("GET", "/api/cache/report?wait=10000");
    took = std::chrono::steady_clock::now() - begin;
  });
  // The waiting caller's first read missed: it is polling now.
  EXPECT_TRUE(eventually([&] { return fetch_figure("misses") == 1; }));
  EXPECT_EQ(call("PUT", "/api/cache/report?lease=" + token, R"({"rows":3})").status, 204);
  second.join();
  EXPECT_EQ(waited.status, 200);
  EXPECT_EQ(json_of(waited), boost::json::parse(R"({"rows":3})"));
  EXPECT_LT(took, 10s);
  EXPECT_EQ(fetch_figure("coalesced"), 1u);
}

TEST_F(AppApiTest, AWaitEndsAtOnceWhenNobodyFetchesAndAtTheServersBound) {
  start({{"OPENCODE_CACHE_API_MAX_WAIT_MS", "300"}});
  auto begin = std::chrono::steady_clock::now();
  EXPECT_EQ(call("GET", "/api/cache/idle?wait=10000").status, 404);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);

  ASSERT_EQ(json_of(call("POST", "/api/cache/held/lease")).at("granted"), Json(true));
  begin = std::chrono::steady_clock::now();
  EXPECT_EQ(call("GET", "/api/cache/held?wait=60000").status, 404);
  const auto took = std::chrono::steady_clock::now() - begin;
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 5s);

  const auto bad = call("GET", "/api/cache/held?wait=soon");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(code_of(bad), "invalid_wait");
}

TEST_F(AppApiTest, ALeaseIsGivenUpOnlyWithItsToken) {
  start();
  const std::string token(json_of(call("POST", "/api/cache/k/lease")).at("lease").as_string());
  const auto missing = call("DELETE", "/api/cache/k/lease");
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(code_of(missing), "missing_lease");
  EXPECT_EQ(json_of(call("DELETE", "/api/cache/k/lease?lease=not-mine")).at("released"),
            Json(false));
  EXPECT_EQ(server().cli({"EXISTS", "opencode:lease:fetch:k"}), "1");
  EXPECT_EQ(
      json_of(call("DELETE", "/api/cache/k/lease", "", {{"x-cache-lease", token}})).at("released"),
      Json(true));
  EXPECT_EQ(json_of(call("POST", "/api/cache/k/lease")).at("granted"), Json(true));
}

TEST_F(AppApiTest, CacheValuesMustBeJsonWithinTheLimit) {
  start({{"OPENCODE_CACHE_API_MAX_VALUE_BYTES", "32"}});
  const auto broken = call("PUT", "/api/cache/k", "{nope");
  EXPECT_EQ(broken.status, 400);
  EXPECT_EQ(code_of(broken), "invalid_json");
  const auto large = call("PUT", "/api/cache/k", "\"" + std::string(40, 'x') + "\"");
  EXPECT_EQ(large.status, 413);
  EXPECT_EQ(code_of(large), "value_too_large");
  EXPECT_EQ(server().cli({"EXISTS", "opencode:fetch:k"}), "0");
}

// HTTP callers and C++ get_or_fetch callers share one fetch, whichever holds the lease.
class LibraryCaller {
 public:
  LibraryCaller(const ValkeyServer& valkey, std::string key, Json answer)
      : thread_([this, port = valkey.port(), key = std::move(key), answer = std::move(answer)] {
          run_async([&](Executor ex) -> awaitable<void> {
            valkey::ClientConfig config;
            config.host = "127.0.0.1";
            config.port = port;
            valkey::Client client(ex, config);
            cache::CacheService cache(client);
            const cache::Fetcher fetcher = [this, answer]() -> cache::Task<Json> {
              ++calls;
              co_await wait_until([this] { return open.load(); }, 20s);
              co_return answer;
            };
            result = co_await cache.get_or_fetch(key, fetcher);
          });
        }) {}
  ~LibraryCaller() {
    open = true;
    if (thread_.joinable()) thread_.join();
  }
  void join() { thread_.join(); }

  std::atomic<int> calls = 0;
  std::atomic<bool> open = false;
  Json result;

 private:
  std::thread thread_;
};

TEST_F(AppApiTest, ALibraryCallerWaitsForTheValueAnHttpCallerFetches) {
  start();
  const std::string token(json_of(call("POST", "/api/cache/shared/lease")).at("lease").as_string());
  LibraryCaller library(server(), "shared", Json("the library's own"));
  // get_or_fetch found the lease taken and polls for the value (EXISTS is its poll's).
  EXPECT_TRUE(eventually([&] { return command_calls("exists") > 0; }));
  EXPECT_EQ(library.calls, 0);
  EXPECT_EQ(
      call("PUT", "/api/cache/shared", R"("fetched over HTTP")", {{"x-cache-lease", token}}).status,
      204);
  library.join();
  EXPECT_EQ(library.result, Json("fetched over HTTP"));
  EXPECT_EQ(library.calls, 0);
}

TEST_F(AppApiTest, AnHttpCallerWaitsForTheValueALibraryCallerFetches) {
  start();
  LibraryCaller library(server(), "models", Json("from the library"));
  EXPECT_TRUE(eventually([&] { return library.calls == 1; }));  // it holds the lease
  EXPECT_EQ(json_of(call("POST", "/api/cache/models/lease")).at("granted"), Json(false));
  HttpResponse waited;
  std::thread http(
      [&] { waited = HttpClient(gateway->port()).request("GET", "/api/cache/models?wait=10000"); });
  EXPECT_TRUE(eventually([&] { return fetch_figure("misses") == 1; }));
  library.open = true;
  http.join();
  library.join();
  EXPECT_EQ(waited.status, 200);
  EXPECT_EQ(json_of(waited), Json("from the library"));
  EXPECT_EQ(library.calls, 1);
}

// --- invalidation and stats ------------------------------------------------------------

TEST_F(AppApiTest, InvalidationTakesAnIdANamespaceOrAPattern) {
  start();
  for (const char* id : {"a", "b", "c"}) call("PUT", std::string("/api/context/") + id, "1");
  for (const char* id : {"x", "y"}) call("PUT", std::string("/api/metadata/") + id, "1");
  call("PUT", "/api/sessions/keep", "{}");

  auto deleted = [&](const std::string& body) {
    const auto response = call("POST", "/api/cache/invalidate", body, admin());
    EXPECT_EQ(response.status, 200) << body << ": " << response.body;
    return json_of(response).at("deleted");
  };
  EXPECT_EQ(deleted(R"({"namespace":"context","id":"a"})"), Json(1));
  EXPECT_EQ(deleted(R"({"namespace":"context","id":"a"})"), Json(0));
  EXPECT_EQ(deleted(R"({"namespace":"context"})"), Json(2));
  EXPECT_EQ(deleted(R"({"pattern":"metadata:*"})"), Json(2));
  EXPECT_EQ(call("GET", "/api/context/b").status, 404);
  EXPECT_EQ(call("GET", "/api/metadata/x").status, 404);
  EXPECT_EQ(call("GET", "/api/sessions/keep").status, 200);
}

TEST_F(AppApiTest, InvalidationRefusesWhatItCannotUse) {
  start();
  const std::map<std::string, std::string> bad = {
      {R"({"namespace":"nope"})", "unknown_namespace"},
      {R"({"namespace":"nope","id":"a"})", "unknown_namespace"},
      {R"({})", "invalid_request"},
      {R"({"id":"a"})", "invalid_request"},
      {R"({"pattern":"*","namespace":"context"})", "invalid_request"},
      {R"({"pattern":""})", "invalid_request"},
      {R"({"pattern":7})", "invalid_request"},
      {R"({"namespace":"context","extra":1})", "invalid_request"},
      {R"(["context"])", "invalid_request"},
      {R"({"namespace":)", "invalid_json"},
      {R"({"pattern":")" + std::string(600, '*') + "\"}", "invalid_request"},
  };
  for (const auto& [body, code] : bad) {
    const auto response = call("POST", "/api/cache/invalidate", body, admin());
    EXPECT_EQ(response.status, 400) << body;
    EXPECT_EQ(code_of(response), code) << body << ": " << response.body;
  }
  EXPECT_THAT(call("POST", "/api/cache/invalidate", R"({"namespace":"nope"})", admin()).body,
              HasSubstr("known: response, session, context"));
}

TEST_F(AppApiTest, StatsShowTheLibrarysFiguresKeysAndValkey) {
  start();
  call("PUT", "/api/sessions/s1", "{}");
  call("PUT", "/api/sessions/s2", "{}");
  call("GET", "/api/sessions/s1");
  call("GET", "/api/sessions/missing");
  call("PUT", "/api/context/c", "1");
  const auto response = call("GET", "/api/cache/stats", "", admin());
  ASSERT_EQ(response.status, 200) << response.body;
  const Json figures = json_of(response);
  const auto& session = figures.at("namespaces").at("session");
  EXPECT_EQ(session.at("hits"), Json(1));
  EXPECT_EQ(session.at("misses"), Json(1));
  EXPECT_EQ(session.at("hit_ratio"), Json(0.5));
  EXPECT_EQ(session.at("writes"), Json(2));
  EXPECT_EQ(session.at("errors"), Json(0));
  EXPECT_EQ(session.at("keys"), Json(2));
  EXPECT_GE(session.at("latency").at("count").to_number<int>(), 4);
  EXPECT_GT(session.at("latency").at("p99_us").to_number<int>(), 0);
  EXPECT_EQ(figures.at("keys").at("context"), Json(1));
  // The session writes were announced: the events' history is a key too.
  EXPECT_EQ(figures.at("keys").at("events"), Json(1));
  EXPECT_EQ(figures.at("total").at("keys"), Json(4));
  const auto& valkey = figures.at("valkey");
  EXPECT_GT(valkey.at("used_memory").to_number<std::uint64_t>(), 0u);
  EXPECT_TRUE(valkey.as_object().contains("maxmemory"));
  EXPECT_TRUE(valkey.as_object().contains("evicted_keys"));
  EXPECT_GE(valkey.at("connected_clients").to_number<int>(), 1);
}

TEST_F(AppApiTest, StatsSumTheFiguresOfEveryThread) {
  start({{"OPENCODE_CACHE_THREADS", "2"}});
  constexpr int reads = 20;
  call("PUT", "/api/sessions/s", "{}");
  // A connection each: the kernel spreads them over both threads' acceptors.
  for (int i = 0; i < reads; ++i) EXPECT_EQ(call("GET", "/api/sessions/s").status, 200);
  // The other thread publishes its figures once a second.
  EXPECT_TRUE(eventually(
      [&] { return stats().at("namespaces").at("session").at("hits") == Json(reads); }, 5s));
}

// --- rate limits -------------------------------------------------------------------------

TEST_F(AppApiTest, ARateLimitPeekConsumesNothing) {
  start();
  const Json first = json_of(call("GET", "/api/ratelimit/user/local"));
  const Json second = json_of(call("GET", "/api/ratelimit/user/local"));
  EXPECT_EQ(first.at("limit"), Json(60));
  EXPECT_EQ(first.at("remaining"), Json(60));
  EXPECT_EQ(second.at("remaining"), Json(60));
  EXPECT_EQ(first.at("allowed"), Json(true));
  EXPECT_EQ(first.at("window_ms"), Json(60000));
  // A proxied request is counted against the gateway user "local".
  EXPECT_EQ(call("POST", "/v1/chat/completions", chat_body("hi", false)).status, 200);
  EXPECT_EQ(json_of(call("GET", "/api/ratelimit/user/local")).at("remaining"), Json(59));

  const auto unknown = call("GET", "/api/ratelimit/planet/earth");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(code_of(unknown), "unknown_type");
  EXPECT_THAT(unknown.body, HasSubstr("known: global, provider, user"));
  const auto colon = call("GET", "/api/ratelimit/user:x/local");
  EXPECT_EQ(colon.status, 400);
  EXPECT_THAT(colon.body, HasSubstr("holds ':'"));
}

// --- authentication ------------------------------------------------------------------------

TEST_F(AppApiTest, AdminRoutesNeedTheAdminToken) {
  start();
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/api/cache/stats"}, {"POST", "/api/cache/invalidate"}}) {
    const std::string body = method == "POST" ? R"({"namespace":"context"})" : "";
    const auto none = call(method, target, body);
    EXPECT_EQ(none.status, 401) << target;
    EXPECT_EQ(code_of(none), "missing_admin_token");
    const auto wrong = call(method, target, body, {{"authorization", "Bearer wrong-token-000000"}});
    EXPECT_EQ(wrong.status, 403) << target;
    EXPECT_EQ(code_of(wrong), "invalid_admin_token");
    EXPECT_EQ(call(method, target, body, admin()).status, 200) << target;
  }
}

TEST_F(AppApiTest, AdminRoutesAreOffWithoutAConfiguredToken) {
  start({{"OPENCODE_CACHE_ADMIN_TOKEN", ""}});
  const auto response = call("GET", "/api/cache/stats", "", admin());
  EXPECT_EQ(response.status, 403);
  EXPECT_EQ(code_of(response), "admin_disabled");
  EXPECT_THAT(response.body, HasSubstr("OPENCODE_CACHE_ADMIN_TOKEN"));
}

TEST_F(AppApiTest, AppRoutesTakeTheGatewayKeysLikeTheProxy) {
  start({{"OPENCODE_CACHE_API_KEYS", cache::sha256_hex("secret-key") + "=ada"}});
  const auto none = call("GET", "/api/sessions/s");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(code_of(none), "invalid_api_key");
  EXPECT_EQ(call("GET", "/api/sessions/s", "", {{"x-opencode-cache-key", "wrong"}}).status, 401);
  EXPECT_EQ(call("PUT", "/api/sessions/s", "{}", {{"x-opencode-cache-key", "secret-key"}}).status,
            204);
  EXPECT_EQ(call("GET", "/api/sessions/s", "", {{"authorization", "Bearer secret-key"}}).status,
            200);
  EXPECT_EQ(call("GET", "/api/ratelimit/user/ada").status, 401);
  // The admin token is its own credential.
  EXPECT_EQ(call("GET", "/api/cache/stats", "", admin()).status, 200);
}

// --- CORS ------------------------------------------------------------------------------------

TEST_F(AppApiTest, APreflightFromTheWebUiIsAnsweredWithoutCredentials) {
  start({{"OPENCODE_CACHE_API_KEYS", cache::sha256_hex("secret-key") + "=ada"}});
  const auto preflight =
      call("OPTIONS", "/api/sessions/s", "",
           {{"origin", web_ui},
            {"access-control-request-method", "PATCH"},
            {"access-control-request-headers", "content-type, x-opencode-cache-key"}});
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(preflight.header("access-control-allow-origin"), web_ui);
  EXPECT_THAT(preflight.header("access-control-allow-methods"), HasSubstr("PATCH"));
  EXPECT_THAT(preflight.header("access-control-allow-headers"), HasSubstr("x-opencode-cache-key"));
  EXPECT_THAT(preflight.header("access-control-allow-headers"), HasSubstr("authorization"));
  EXPECT_THAT(preflight.header("access-control-allow-headers"), HasSubstr("x-cache-lease"));
  EXPECT_EQ(preflight.header("access-control-max-age"), "600");
  EXPECT_EQ(preflight.header("vary"), "Origin");

  const auto foreign =
      call("OPTIONS", "/api/sessions/s", "",
           {{"origin", "https://evil.example"}, {"access-control-request-method", "GET"}});
  EXPECT_EQ(foreign.status, 403);
  EXPECT_EQ(code_of(foreign), "origin_not_allowed");
  EXPECT_EQ(foreign.header("access-control-allow-origin"), "");

  // Without Origin it is a plain OPTIONS: what the route takes.
  const auto plain = call("OPTIONS", "/api/cache/k/lease");
  EXPECT_EQ(plain.status, 204);
  EXPECT_EQ(plain.header("allow"), "POST, DELETE, OPTIONS");
  EXPECT_EQ(call("OPTIONS", "/api/nowhere", "", {{"origin", web_ui}}).status, 404);
}

TEST_F(AppApiTest, AnswersToTheWebUiCarryCorsHeadersErrorsIncluded) {
  start();
  const auto ok = call("PUT", "/api/sessions/s", "{}", {{"origin", web_ui}});
  EXPECT_EQ(ok.status, 204);
  EXPECT_EQ(ok.header("access-control-allow-origin"), web_ui);
  EXPECT_THAT(ok.header("access-control-expose-headers"), HasSubstr("x-request-id"));
  const auto missing = call("GET", "/api/sessions/none", "", {{"origin", web_ui}});
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.header("access-control-allow-origin"), web_ui);
  const auto denied = call("GET", "/api/cache/stats", "", {{"origin", web_ui}});
  EXPECT_EQ(denied.status, 401);
  EXPECT_EQ(denied.header("access-control-allow-origin"), web_ui);
  const auto foreign = call("GET", "/api/sessions/s", "", {{"origin", "https://evil.example"}});
  EXPECT_EQ(foreign.header("access-control-allow-origin"), "");
  EXPECT_EQ(foreign.header("vary"), "Origin");
  // The proxy's routes are no business of the web UI.
  EXPECT_EQ(call("GET", "/healthz", "", {{"origin", web_ui}}).header("access-control-allow-origin"),
            "");
}

TEST_F(AppApiTest, TheAllowedOriginsAreConfigurable) {
  start({{"OPENCODE_CACHE_CORS_ORIGINS", "https://ui.example, http://127.0.0.1:8080"}});
  auto origin_allowed = [&](const std::string& origin) {
    return call("GET", "/api/sessions/none", "", {{"origin", origin}})
        .header("access-control-allow-origin");
  };
  EXPECT_EQ(origin_allowed("https://ui.example"), "https://ui.example");
  EXPECT_EQ(origin_allowed("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
  EXPECT_EQ(origin_allowed(web_ui), "");
  gateway.reset();
  start({{"OPENCODE_CACHE_CORS_ORIGINS", "*"}});
  EXPECT_EQ(origin_allowed("https://anything.example"), "*");
}

// --- routes and errors ------------------------------------------------------------------------

TEST_F(AppApiTest, UnknownRoutesMethodsAndIdsAreClearErrors) {
  start();
  const auto unknown = call("GET", "/api/nothing/here");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(code_of(unknown), "not_found");
  EXPECT_THAT(unknown.body, HasSubstr("no such route: GET /api/nothing/here"));
  const auto method = call("POST", "/api/sessions/s", "{}");
  EXPECT_EQ(method.status, 405);
  EXPECT_EQ(code_of(method), "method_not_allowed");
  EXPECT_EQ(method.header("allow"), "GET, PUT, PATCH, DELETE, OPTIONS");
  EXPECT_EQ(call("DELETE", "/api/cache/stats", "", admin()).status, 405);
  EXPECT_EQ(call("GET", "/api/cache/invalidate", "", admin()).status, 405);
  const auto control = call("GET", "/api/sessions/a%01b");
  EXPECT_EQ(control.status, 400);
  EXPECT_EQ(code_of(control), "invalid_request");
  EXPECT_THAT(control.body, HasSubstr("control character"));
  const auto too_long = call("GET", "/api/context/" + std::string(600, 'x'));
  EXPECT_EQ(too_long.status, 400);
  EXPECT_THAT(too_long.body, HasSubstr("longer than 512"));
  EXPECT_EQ(call("GET", "/api/sessions/").status, 400);
  EXPECT_EQ(call("GET", "/api/sessions/%zz").status, 400);
  // Percent-encoded ids are decoded: "a/b" is one id.
  EXPECT_EQ(call("PUT", "/api/sessions/a%2Fb", "{}").status, 204);
  EXPECT_EQ(server().cli({"EXISTS", "opencode:session:a/b"}), "1");
  // Counted under one route name, whatever the id.
  EXPECT_THAT(call("GET", "/metrics").body,
              HasSubstr("route=\"/api\",status=\"405\",cache=\"none\"} 3"));
}

TEST_F(AppApiTest, WithValkeyDownTheApiSaysSoInsteadOfMissing) {
  start();
  EXPECT_EQ(call("PUT", "/api/sessions/s", "{}").status, 204);
  server().kill();
  for (const std::string target :
       {"/api/sessions/s", "/api/context/c", "/api/cache/k", "/api/metadata/m"}) {
    const auto response = call("GET", target);
    EXPECT_EQ(response.status, 503) << target;
    EXPECT_EQ(code_of(response), "cache_unavailable") << target << ": " << response.body;
  }
  EXPECT_EQ(call("PUT", "/api/context/c", "1").status, 503);
  EXPECT_EQ(call("POST", "/api/cache/k/lease").status, 503);
  EXPECT_EQ(call("POST", "/api/cache/invalidate", R"({"namespace":"context"})", admin()).status,
            503);
}

}  // namespace
}  // namespace opencode_cache::testing

// The gateway with VALKEY_STATE_URL: rate limits (and the app's sessions) in the state store,
// answers in the cache, as the deployment runs them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "server/support/gateway_fixture.hpp"

namespace opencode_cache::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class GatewayStateStoreTest : public GatewayTest {
 protected:
  ValkeyServer& start_with_state_store() {
    server();  // the cache's, first: start_server() alone would make the state store the first
    ValkeyServer& state = start_server({});
    start({{"VALKEY_STATE_URL", "redis://" + state.host() + ":" + std::to_string(state.port())}});
    return state;
  }

  static std::string keys_of(ValkeyServer& valkey) { return valkey.cli({"KEYS", "*"}); }
};

TEST_F(GatewayStateStoreTest, LimitsGoToTheStateStoreAndAnswersToTheCache) {
  ValkeyServer& state = start_with_state_store();
  HttpClient http = client();
  const auto miss = http.post("/v1/chat/completions", chat_body("where does it go", false));
  const auto hit = http.post("/v1/chat/completions", chat_body("where does it go", false));
  EXPECT_EQ(miss.header("x-cache"), "MISS");
  EXPECT_EQ(hit.header("x-cache"), "HIT");
  EXPECT_EQ(hit.body, miss.body);
  EXPECT_EQ(upstream.calls(), 1u);

  const std::string in_cache = keys_of(server());
  const std::string in_state = keys_of(state);
  EXPECT_THAT(in_cache, HasSubstr("opencode:response:"));
  EXPECT_THAT(in_cache, Not(HasSubstr("ratelimit")));
  EXPECT_THAT(in_state, HasSubstr("ratelimit"));
  EXPECT_THAT(in_state, Not(HasSubstr("opencode:response:")));
  // Both requests counted against the user; only the miss against the provider.
  EXPECT_EQ(state.cli({"ZCARD", "opencode:ratelimit:user:local"}), "2");
  EXPECT_EQ(state.cli({"ZCARD", "opencode:ratelimit:provider:default"}), "1");
}

TEST_F(GatewayStateStoreTest, ReadinessNamesAStateStoreThatIsDown) {
  ValkeyServer& state = start_with_state_store();
  HttpClient http = client();
  EXPECT_EQ(http.request("GET", "/readyz").status, 200);
  state.stop();
  const auto not_ready = http.request("GET", "/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_THAT(not_ready.body, HasSubstr("state valkey"));
}

}  // namespace
}  // namespace opencode_cache::testing

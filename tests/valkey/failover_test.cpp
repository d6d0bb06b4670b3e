// Failover seen from a client that stays connected: its primary is demoted (REPLICAOF) while
// the address moves to the new primary. Writes refused with READONLY did not run: the client
// resets the connection, reconnects to the new primary and sends them there, once.

#include <gtest/gtest.h>

#include "opencode_cache/valkey/client.hpp"
#include "support/async_test.hpp"
#include "support/fault_proxy.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using valkey::Client;
using valkey::ClientConfig;

class Failover : public ValkeyTest {};

TEST_F(Failover, WritesRefusedByADemotedPrimaryGoToTheNewOneOnce) {
  auto& old_primary = server();
  auto& new_primary = start_server({});
  FaultProxy address(old_primary.port());  // what DNS says the primary is
  run_async([&](Executor ex) -> awaitable<void> {
    ClientConfig config;
    config.host = "127.0.0.1";
    config.port = address.port();
    config.reconnect.base_delay = 10ms;
    Client client(ex, config);
    EXPECT_EQ(co_await client.incr("counter"), 1);

    // The failover: the old primary follows the new one, and the address moves.
    old_primary.cli({"REPLICAOF", "127.0.0.1", std::to_string(new_primary.port())});
    address.retarget(new_primary.port());

    // On the old connection both are refused with READONLY; neither ran there.
    EXPECT_TRUE(co_await client.set("k", "after failover"));
    EXPECT_EQ(co_await client.incr("counter"), 1) << "the new primary never had the counter";
    EXPECT_EQ(client.stats().disconnects, 1u);
    EXPECT_EQ(client.stats().connects, 2u);
  });
  EXPECT_EQ(new_primary.cli({"GET", "k"}), "after failover");
  EXPECT_EQ(new_primary.cli({"GET", "counter"}), "1") << "the INCR ran exactly once";
}

TEST_F(Failover, AServerThatStaysReadOnlyGetsTheRefusalOnceRetriesAreSpent) {
  auto& primary = server();
  auto& replica = start_server({});
  replica.cli({"REPLICAOF", "127.0.0.1", std::to_string(primary.port())});
  run_async([&](Executor ex) -> awaitable<void> {
    ClientConfig config;
    config.host = replica.host();
    config.port = replica.port();
    config.reconnect.base_delay = 10ms;
    config.max_retries_per_request = 2;
    Client client(ex, config);
    try {
      co_await client.set("k", "v");
      ADD_FAILURE() << "a replica accepted a write";
    } catch (const valkey::ServerError& e) {
      EXPECT_EQ(e.prefix(), "READONLY");
    }
    // One reset per refusal: two retries, then the third refusal is the answer.
    co_await wait_until([&] { return client.stats().disconnects >= 3; });
    EXPECT_EQ(client.stats().disconnects, 3u);
    // Reads still work on it.
    EXPECT_EQ(co_await client.get("k"), std::nullopt);
  });
}

}  // namespace
}  // namespace opencode_cache::testing

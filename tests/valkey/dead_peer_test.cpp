// Peers that vanish without a word: a black-holed connection (no FIN, no RST, nothing read)
// is found by the health check, for the Client and the Subscriber, and reconnected; a reply
// that declares a huge length and never comes costs no memory.

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>

#include "opencode_cache/valkey/client.hpp"
#include "opencode_cache/valkey/subscriber.hpp"
#include "support/async_test.hpp"
#include "support/fault_proxy.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using valkey::Client;
using valkey::ClientConfig;
using valkey::Subscriber;

constexpr auto health_interval = 200ms;

ClientConfig config_through(const FaultProxy& proxy) {
  ClientConfig config;
  config.host = "127.0.0.1";
  config.port = proxy.port();
  config.health_check_interval = health_interval;
  config.command_timeout = 5s;
  config.reconnect.base_delay = 10ms;
  return config;
}

ClientConfig direct_config(const ValkeyServer& server) {
  ClientConfig config;
  config.host = server.host();
  config.port = server.port();
  return config;
}

class DeadPeer : public ValkeyTest {};

TEST_F(DeadPeer, ClientFindsABlackHoledConnectionWhileACommandWaits) {
  FaultProxy proxy(server().port());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config_through(proxy));
    co_await client.set("k", "v");
    proxy.blackhole_open_connections();
    const auto start = Clock::now();
    // Read-only, so it is sent again on the new connection and answered.
    EXPECT_EQ(co_await client.get("k"), "v");
    const auto took = elapsed_since(start);
    EXPECT_GE(took, 2 * health_interval) << "declared dead before two silent intervals";
    EXPECT_LT(took, 2 * health_interval + 1s)
        << "found within twice the interval, plus a reconnect";
    EXPECT_EQ(client.stats().health_check_resets, 1u);
    EXPECT_EQ(client.stats().connects, 2u);
    EXPECT_EQ(client.stats().timeouts, 0u);
  });
}

TEST_F(DeadPeer, ClientPingsAnIdleConnectionAndFindsItDead) {
  FaultProxy proxy(server().port());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config_through(proxy));
    co_await client.set("k", "v");
    proxy.blackhole_open_connections();
    // No command from the caller: the health check's own PING goes unanswered.
    co_await wait_until([&] { return client.stats().health_check_resets == 1; });
    co_await wait_until([&] { return client.stats().connects == 2; });
    EXPECT_EQ(co_await client.get("k"), "v");
  });
}

TEST_F(DeadPeer, ClientWithHealthChecksOffKeepsItsIdleConnection) {
  FaultProxy proxy(server().port());
  run_async([&](Executor ex) -> awaitable<void> {
    ClientConfig config = config_through(proxy);
    config.health_check_interval = 0ms;
    Client client(ex, config);
    co_await client.set("k", "v");
    // Several intervals of idleness pass; a ping would show up as writes.
    const auto writes = client.stats().writes;
    boost::asio::steady_timer idle(ex, 5 * health_interval);
    co_await idle.async_wait(boost::asio::use_awaitable);
    EXPECT_EQ(client.stats().writes, writes);
    EXPECT_EQ(client.stats().health_check_resets, 0u);
  });
}

TEST_F(DeadPeer, SubscriberFindsABlackHoleResubscribesAndSaysSo) {
  FaultProxy proxy(server().port());
  auto& valkey = server();
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config_through(proxy));
    int resubscribed = 0;
    subscriber.on_resubscribed([&] { ++resubscribed; });
    std::vector<std::string> received;
    co_await subscriber.subscribe("events",
                                  [&](const valkey::Message& m) { received.push_back(m.payload); });
    proxy.blackhole_open_connections();
    co_await wait_until([&] { return resubscribed == 1; });
    EXPECT_EQ(subscriber.stats().health_check_resets, 1u);
    EXPECT_EQ(subscriber.stats().connects, 2u);
    Client publisher(ex, direct_config(valkey));
    EXPECT_EQ(co_await publisher.publish("events", "after the gap"), 1);
    co_await wait_until([&] { return !received.empty(); });
    EXPECT_EQ(received.front(), "after the gap");
  });
}

std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

TEST_F(DeadPeer, ADeclaredHugeReplyWithoutTheBytesCostsNoMemory) {
  FaultProxy proxy(server().port());
  run_async([&](Executor ex) -> awaitable<void> {
    ClientConfig config = config_through(proxy);
    config.command_timeout = 300ms;
    Client client(ex, config);
    co_await client.set("k", "v");
    const std::size_t before = resident_bytes();
    proxy.corrupt_next_reply("$536870912\r\n");  // 512 MiB announced, none sent
    try {
      co_await client.get("k");
      ADD_FAILURE() << "the reply never came";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), valkey::errc::timeout);
    }
    EXPECT_LT(resident_bytes() - before, std::size_t{64} << 20);
    // The connection stuck in the middle of a reply is found dead and replaced.
    co_await wait_until([&] { return client.stats().health_check_resets == 1; });
    EXPECT_EQ(co_await client.get("k"), "v");
  });
}

}  // namespace
}  // namespace opencode_cache::testing

// What a shared, multiplexed connection cannot take: commands that change or block it are
// refused with advice, and a push handler that throws is contained.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "opencode_cache/valkey/client.hpp"
#include "opencode_cache/valkey/command.hpp"
#include "opencode_cache/valkey/pipeline.hpp"
#include "support/async_test.hpp"
#include "support/fault_proxy.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using valkey::Client;
using valkey::ClientConfig;
using valkey::Command;
using valkey::errc;

ClientConfig config_for(std::uint16_t port) {
  ClientConfig config;
  config.host = "127.0.0.1";
  config.port = port;
  return config;
}

// Each command with the advice its refusal must carry.
std::vector<std::pair<Command, std::string>> refused_commands() {
  std::vector<std::pair<Command, std::string>> out;
  out.emplace_back(Command("SELECT", 1), "ClientConfig::database");
  out.emplace_back(Command("select", 1), "ClientConfig::database");
  out.emplace_back(Command("HELLO", 2), "ClientConfig::protocol");
  out.emplace_back(Command("AUTH", "user", "pw"), "ClientConfig::username");
  out.emplace_back(Command("RESET"), "new one");
  out.emplace_back(Command("QUIT"), "Client::quit()");
  out.emplace_back(Command("CLIENT", "REPLY", "OFF"), "out of step");
  out.emplace_back(Command("CLIENT", "TRACKING", "ON"), "reconnect");
  out.emplace_back(Command("client", "setname", "x"), "client_name");
  out.emplace_back(Command("SUBSCRIBE", "ch"), "valkey::Subscriber");
  out.emplace_back(Command("PSUBSCRIBE", "ch*"), "valkey::Subscriber");
  out.emplace_back(Command("SSUBSCRIBE", "ch"), "valkey::Subscriber");
  out.emplace_back(Command("UNSUBSCRIBE"), "valkey::Subscriber");
  out.emplace_back(Command("MONITOR"), "monitor");
  out.emplace_back(Command("MULTI"), "Client::transaction()");
  out.emplace_back(Command("EXEC"), "Client::transaction()");
  out.emplace_back(Command("DISCARD"), "Client::transaction()");
  out.emplace_back(Command("BLPOP", "q", 1), "dedicated");
  out.emplace_back(Command("BRPOP", "q", 1), "dedicated");
  out.emplace_back(Command("BLMOVE", "a", "b", "LEFT", "RIGHT", 1), "dedicated");
  out.emplace_back(Command("BZPOPMIN", "z", 1), "dedicated");
  out.emplace_back(Command("XREAD", "BLOCK", 100, "STREAMS", "s", "$"), "dedicated");
  out.emplace_back(Command("XREADGROUP", "GROUP", "g", "c", "block", 1, "STREAMS", "s", ">"),
                   "dedicated");
  out.emplace_back(Command("WAIT", 1, 100), "dedicated");
  return out;
}

class ClientMisuse : public ValkeyTest {};

TEST_F(ClientMisuse, CommandsThatChangeOrBlockTheConnectionAreRefusedWithAdvice) {
  auto& valkey = server();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config_for(valkey.port()));
    co_await client.set("k", "db0");
    for (auto& [command, advice] : refused_commands()) {
      const std::string name(command.name());
      try {
        co_await client.command(std::move(command));
        ADD_FAILURE() << name << " went through";
      } catch (const valkey::Error& e) {
        EXPECT_EQ(e.code(), errc::unsupported_command) << name;
        EXPECT_THAT(e.what(), HasSubstr(advice)) << name;
      }
    }
    // Nothing reached the server: still database 0, still the same connection, still RESP3.
    EXPECT_EQ(co_await client.get("k"), "db0");
    EXPECT_EQ(client.stats().connects, 1u);
    EXPECT_EQ(client.stats().disconnects, 0u);
  });
  EXPECT_EQ(valkey.cli({"CLIENT", "LIST"}).find("flags=P"), std::string::npos)
      << "no connection was left subscribed";
}

TEST_F(ClientMisuse, NonBlockingFormsAndOtherClientSubcommandsStillGoThrough) {
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config_for(server().port()));
    EXPECT_EQ((co_await client.command(Command("CLIENT", "GETNAME"))).string, "opencode-cache");
    const auto read = co_await client.command(Command("XREAD", "COUNT", 1, "STREAMS", "s", "0"));
    EXPECT_TRUE(read.is_null());
  });
}

TEST_F(ClientMisuse, ADedicatedClientMayBlock) {
  run_async([&](Executor ex) -> awaitable<void> {
    ClientConfig config = config_for(server().port());
    config.dedicated = true;
    Client worker(ex, config);
    Client producer(ex, config_for(server().port()));
    co_await producer.command(Command("RPUSH", "jobs", "job-1"));
    const auto popped = co_await worker.command(Command("BLPOP", "jobs", 1));
    EXPECT_EQ(popped.elements.size(), 2u);
    if (popped.elements.size() == 2) {
      EXPECT_EQ(popped.elements[1].string, "job-1");
    }
  });
}

TEST_F(ClientMisuse, APipelineOrTransactionHoldingARefusedCommandIsRefusedWhole) {
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config_for(server().port()));
    valkey::Pipeline pipeline;
    pipeline.add(Command("SET", "a", "1")).add(Command("SELECT", 2));
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        if (attempt == 0) {
          co_await client.execute(pipeline);
        } else {
          co_await client.transaction(pipeline);
        }
        ADD_FAILURE() << "a pipeline with SELECT went through";
      } catch (const valkey::Error& e) {
        EXPECT_EQ(e.code(), errc::unsupported_command);
      }
    }
    EXPECT_EQ(co_await client.get("a"), std::nullopt) << "not even its first command was sent";
    valkey::Pipeline unclosed;
    unclosed.add(Command("MULTI")).add(Command("SET", "a", "1"));
    try {
      co_await client.execute(unclosed);
      ADD_FAILURE() << "a pipeline ending inside MULTI went through";
    } catch (const valkey::Error& e) {
      EXPECT_EQ(e.code(), errc::unsupported_command);
    }
    EXPECT_EQ(co_await client.get("a"), std::nullopt);
  });
}

// A RESP3 push as the server would send it, slipped in ahead of the next reply.
const std::string invalidate_push = ">2\r\n$10\r\ninvalidate\r\n*1\r\n$7\r\ntracked\r\n";

TEST_F(ClientMisuse, PushMessagesReachTheHandler) {
  FaultProxy proxy(server().port());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config_for(proxy.port()));
    std::vector<valkey::resp::Value> pushes;
    client.on_push([&](valkey::resp::Value&& push) { pushes.push_back(std::move(push)); });
    co_await client.set("k", "v");
    proxy.prepend_to_next_reply(invalidate_push);
    EXPECT_EQ(co_await client.get("k"), "v");
    EXPECT_EQ(pushes.size(), 1u);
    if (pushes.size() != 1) co_return;
    EXPECT_EQ(pushes[0].type, valkey::resp::Type::push);
    EXPECT_EQ(pushes[0].elements.at(0).string, "invalidate");
    EXPECT_EQ(pushes[0].elements.at(1).elements.at(0).string, "tracked");
  });
}

TEST_F(ClientMisuse, APushHandlerThatThrowsIsCountedAndContained) {
  FaultProxy proxy(server().port());
  std::vector<std::string> lines;
  run_async([&](Executor ex) -> awaitable<void> {
    ClientConfig config = config_for(proxy.port());
    config.log = [&](std::string_view line) { lines.emplace_back(line); };
    Client client(ex, config);
    client.on_push([](valkey::resp::Value&&) { throw std::runtime_error("handler bug"); });
    co_await client.set("k", "v");
    proxy.prepend_to_next_reply(invalidate_push);
    // The INCR's reply comes right behind the push: it must arrive, once.
    EXPECT_EQ(co_await client.incr("n"), 1);
    EXPECT_EQ(client.stats().push_handler_errors, 1u);
    EXPECT_EQ(client.stats().disconnects, 0u);
    EXPECT_EQ(co_await client.get("n"), "1");
  });
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("event=push_handler_failed")));
}

}  // namespace
}  // namespace opencode_cache::testing

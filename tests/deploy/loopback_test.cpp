// Nothing the default configuration starts listens beyond loopback: the seed's
// `bind 0.0.0.0` put an unauthenticated cache on every interface.

#include <gtest/gtest.h>

#include "deploy/listening_sockets.hpp"
#include "deploy/project_valkey.hpp"

namespace opencode_cache::testing {
namespace {

class LoopbackTest : public ValkeyTest {};

TEST_F(LoopbackTest, DefaultConfigurationListensOnLoopbackOnly) {
  for (const char* role : {"cache", "state"}) {
    SCOPED_TRACE(role);
    auto& valkey = start_server(project_valkey(role));
    EXPECT_EQ(valkey.cli({"CONFIG", "GET", "bind"}), "bind\n127.0.0.1 -::1");
    EXPECT_EQ(valkey.cli({"CONFIG", "GET", "protected-mode"}), "protected-mode\nyes");
    const auto sockets = listening_sockets(valkey.pid());
    ASSERT_FALSE(sockets.empty()) << "found no listening socket of pid " << valkey.pid();
    for (const auto& socket : sockets) {
      EXPECT_TRUE(socket.loopback) << socket.address << ":" << socket.port;
      EXPECT_EQ(socket.port, valkey.port());
    }
  }
}

}  // namespace
}  // namespace opencode_cache::testing

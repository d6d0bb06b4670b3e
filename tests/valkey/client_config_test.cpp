// ClientConfig from URLs and from the environment: what each form sets, and the errors a
// user gets for a URL or variable that cannot be used.

#include "opencode_cache/valkey/client_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "opencode_cache/valkey/error.hpp"

namespace opencode_cache::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using valkey::ClientConfig;
using valkey::errc;

// The Error from_url throws for `url`; fails the test when it does not throw one.
valkey::Error url_error(const std::string& url) {
  try {
    ClientConfig::from_url(url);
  } catch (const valkey::Error& e) {
    return e;
  }
  ADD_FAILURE() << "from_url(\"" << url << "\") must throw";
  return valkey::Error(errc::server_error, "did not throw");
}

TEST(ClientConfig, ValkeyUrlWithHostPortAndDatabase) {
  const auto config = ClientConfig::from_url("valkey://cache.example:6390/4");
  EXPECT_EQ(config.host, "cache.example");
  EXPECT_EQ(config.port, 6390);
  EXPECT_EQ(config.database, 4);
  EXPECT_FALSE(config.tls.enabled);
  EXPECT_TRUE(config.username.empty());
  EXPECT_TRUE(config.password.empty());
  EXPECT_TRUE(config.unix_path.empty());
  EXPECT_EQ(config.endpoint(), "cache.example:6390");
}

TEST(ClientConfig, RedisSchemeIsAccepted) {
  const auto config = ClientConfig::from_url("redis://10.0.0.5:7000");
  EXPECT_EQ(config.host, "10.0.0.5");
  EXPECT_EQ(config.port, 7000);
  EXPECT_EQ(config.database, 0);
  EXPECT_FALSE(config.tls.enabled);
}

TEST(ClientConfig, TlsSchemesTurnOnTls) {
  const auto rediss = ClientConfig::from_url("rediss://secure.example:6380");
  EXPECT_TRUE(rediss.tls.enabled);
  EXPECT_EQ(rediss.host, "secure.example");
  EXPECT_EQ(rediss.port, 6380);

  const auto valkeys = ClientConfig::from_url("valkeys://secure.example");
  EXPECT_TRUE(valkeys.tls.enabled);
  EXPECT_EQ(valkeys.host, "secure.example");
  EXPECT_EQ(valkeys.port, 6379);
}

TEST(ClientConfig, DefaultPortIs6379) {
  const auto config = ClientConfig::from_url("valkey://localhost");
  EXPECT_EQ(config.host, "localhost");
  EXPECT_EQ(config.port, 6379);
  EXPECT_EQ(config.database, 0);
}

TEST(ClientConfig, UserAndPassword) {
  const auto config = ClientConfig::from_url("valkey://app:s3cret@db.example:6379");
  EXPECT_EQ(config.username, "app");
  EXPECT_EQ(config.password, "s3cret");
  EXPECT_EQ(config.host, "db.example");
}

TEST(ClientConfig, PasswordOnlyLeavesTheUserEmpty) {
  const auto config = ClientConfig::from_url("redis://:only-password@db.example");
  EXPECT_EQ(config.username, "");
  EXPECT_EQ(config.password, "only-password");
}

TEST(ClientConfig, UserWithoutPassword) {
  const auto config = ClientConfig::from_url("valkey://app@db.example");
  EXPECT_EQ(config.username, "app");
  EXPECT_EQ(config.password, "");
}

TEST(ClientConfig, PercentEncodedCredentialsAreDecoded) {
  const auto config = ClientConfig::from_url("valkey://us%40er:p%40ss%3Aw%2Frd%25@db.example/1");
  EXPECT_EQ(config.username, "us@er");
  EXPECT_EQ(config.password, "p@ss:w/rd%");
  EXPECT_EQ(config.host, "db.example");
  EXPECT_EQ(config.database, 1);
}

TEST(ClientConfig, Ipv6Host) {
  const auto config = ClientConfig::from_url("valkey://[::1]:6390");
  EXPECT_EQ(config.host, "::1");
  EXPECT_EQ(config.port, 6390);
  EXPECT_EQ(config.endpoint(), "[::1]:6390");
}

TEST(ClientConfig, DatabaseFromThePath) {
  EXPECT_EQ(ClientConfig::from_url("valkey://h/0").database, 0);
  EXPECT_EQ(ClientConfig::from_url("valkey://h/15").database, 15);
  EXPECT_EQ(ClientConfig::from_url("valkey://h/").database, 0);
}

TEST(ClientConfig, UnixSocket) {
  const auto config = ClientConfig::from_url("unix:///tmp/x.sock");
  EXPECT_EQ(config.unix_path, "/tmp/x.sock");
  EXPECT_EQ(config.database, 0);
  EXPECT_EQ(config.endpoint(), "/tmp/x.sock");
}

TEST(ClientConfig, UnixSocketWithDatabase) {
  const auto config = ClientConfig::from_url("unix:///tmp/x.sock?db=3");
  EXPECT_EQ(config.unix_path, "/tmp/x.sock");
  EXPECT_EQ(config.database, 3);
}

TEST(ClientConfig, UnsupportedSchemeIsNamed) {
  const auto e = url_error("http://localhost:6379");
  EXPECT_EQ(e.code(), errc::invalid_config);
  EXPECT_THAT(e.what(), HasSubstr("scheme"));
  EXPECT_THAT(e.what(), HasSubstr("http"));
}

TEST(ClientConfig, NotAUrlAtAll) {
  const auto e = url_error("localhost:6379 with spaces");
  EXPECT_EQ(e.code(), errc::invalid_config);
}

TEST(ClientConfig, PortZeroIsRejected) {
  const auto e = url_error("valkey://localhost:0");
  EXPECT_EQ(e.code(), errc::invalid_config);
  EXPECT_THAT(e.what(), HasSubstr("port"));
  EXPECT_THAT(e.what(), HasSubstr("'0'"));
}

TEST(ClientConfig, PortAbove65535IsRejected) {
  const auto e = url_error("valkey://localhost:70000");
  EXPECT_EQ(e.code(), errc::invalid_config);
  EXPECT_THAT(e.what(), HasSubstr("port"));
  EXPECT_THAT(e.what(), HasSubstr("70000"));
}

TEST(ClientConfig, NonNumericPortIsRejected) {
  for (const char* url : {"valkey://localhost:abc", "valkey://localhost:12ab/0",
                          "valkey://user:pw@localhost:abc", "valkey://[::1]:abc"}) {
    SCOPED_TRACE(url);
    const auto e = url_error(url);
    EXPECT_EQ(e.code(), errc::invalid_config);
    EXPECT_THAT(e.what(), HasSubstr("port"));
  }
}

TEST(ClientConfig, BadDatabaseIsRejected) {
  for (const char* url : {"valkey://localhost/abc", "valkey://localhost/-1",
                          "valkey://localhost/1x", "unix:///tmp/x.sock?db=two"}) {
    SCOPED_TRACE(url);
    const auto e = url_error(url);
    EXPECT_EQ(e.code(), errc::invalid_config);
    EXPECT_THAT(e.what(), HasSubstr("database"));
  }
}

TEST(ClientConfig, ErrorsNeverShowThePassword) {
  for (const char* url : {"valkey://app:hunter2@localhost:0", "valkey://app:hunter2@localhost/x",
                          "ftp://app:hunter2@localhost", "valkey://app:hunter2@localhost:abc",
                          "valkey://app:hunter2/x@localhost"}) {
    SCOPED_TRACE(url);
    const auto e = url_error(url);
    EXPECT_THAT(e.what(), Not(HasSubstr("hunter2")));
  }
}

TEST(ClientConfig, EndpointNeverContainsThePassword) {
  const auto config = ClientConfig::from_url("valkey://app:hunter2@db.example:6390/2");
  EXPECT_EQ(config.endpoint(), "db.example:6390");
  EXPECT_THAT(config.endpoint(), Not(HasSubstr("hunter2")));
}

// A fake environment for from_env.
class FakeEnv {
 public:
  FakeEnv& set(const std::string& name, const std::string& value) {
    vars_[name] = value;
    return *this;
  }
  ClientConfig config() const {
    return ClientConfig::from_env([this](const char* name) -> const char* {
      const auto it = vars_.find(name);
      return it == vars_.end() ? nullptr : it->second.c_str();
    });
  }
  std::optional<ClientConfig> state() const {
    return ClientConfig::state_from_env([this](const char* name) -> const char* {
      const auto it = vars_.find(name);
      return it == vars_.end() ? nullptr : it->second.c_str();
    });
  }
  valkey::Error error() const {
    try {
      config();
    } catch (const valkey::Error& e) {
      return e;
    }
    ADD_FAILURE() << "from_env must throw";
    return valkey::Error(errc::server_error, "did not throw");
  }

 private:
  std::map<std::string, std::string> vars_;
};

TEST(ClientConfig, EnvDefaultsMatchTheSeed) {
  const auto config = FakeEnv().config();
  EXPECT_EQ(config.host, "localhost");
  EXPECT_EQ(config.port, 6380);
  EXPECT_EQ(config.database, 0);
  EXPECT_TRUE(config.username.empty());
  EXPECT_TRUE(config.password.empty());
  EXPECT_FALSE(config.tls.enabled);
}

TEST(ClientConfig, EnvHostAndPort) {
  const auto config =
      FakeEnv().set("VALKEY_HOST", "cache.internal").set("VALKEY_PORT", "7001").config();
  EXPECT_EQ(config.host, "cache.internal");
  EXPECT_EQ(config.port, 7001);
}

TEST(ClientConfig, EnvEmptyVariablesCountAsUnset) {
  const auto config = FakeEnv().set("VALKEY_HOST", "").set("VALKEY_PORT", "").config();
  EXPECT_EQ(config.host, "localhost");
  EXPECT_EQ(config.port, 6380);
}

TEST(ClientConfig, EnvUrlWinsOverHostAndPort) {
  const auto config = FakeEnv()
                          .set("VALKEY_URL", "rediss://from-url:7002/5")
                          .set("VALKEY_HOST", "from-host")
                          .set("VALKEY_PORT", "7003")
                          .config();
  EXPECT_EQ(config.host, "from-url");
  EXPECT_EQ(config.port, 7002);
  EXPECT_EQ(config.database, 5);
  EXPECT_TRUE(config.tls.enabled);
}

TEST(ClientConfig, EnvCredentialsAndDatabaseOverrideTheUrl) {
  const auto config = FakeEnv()
                          .set("VALKEY_URL", "valkey://urluser:urlpass@h:7002/5")
                          .set("VALKEY_USERNAME", "envuser")
                          .set("VALKEY_PASSWORD", "envpass")
                          .set("VALKEY_DB", "9")
                          .config();
  EXPECT_EQ(config.host, "h");
  EXPECT_EQ(config.username, "envuser");
  EXPECT_EQ(config.password, "envpass");
  EXPECT_EQ(config.database, 9);
}

TEST(ClientConfig, EnvCredentialsWithHostAndPort) {
  const auto config =
      FakeEnv().set("VALKEY_HOST", "h").set("VALKEY_PASSWORD", "pw").set("VALKEY_DB", "2").config();
  EXPECT_EQ(config.host, "h");
  EXPECT_EQ(config.port, 6380);
  EXPECT_EQ(config.username, "");
  EXPECT_EQ(config.password, "pw");
  EXPECT_EQ(config.database, 2);
}

TEST(ClientConfig, EnvInvalidPortNamesTheVariable) {
  for (const char* port : {"abc", "0", "70000", "-1", "80x"}) {
    SCOPED_TRACE(port);
    const auto e = FakeEnv().set("VALKEY_PORT", port).error();
    EXPECT_EQ(e.code(), errc::invalid_config);
    EXPECT_THAT(e.what(), HasSubstr("VALKEY_PORT"));
  }
}

TEST(ClientConfig, EnvInvalidDatabaseNamesTheVariable) {
  for (const char* db : {"abc", "-1", "1.5"}) {
    SCOPED_TRACE(db);
    const auto e = FakeEnv().set("VALKEY_DB", db).error();
    EXPECT_EQ(e.code(), errc::invalid_config);
    EXPECT_THAT(e.what(), HasSubstr("VALKEY_DB"));
  }
}

TEST(ClientConfig, EnvInvalidUrlNamesTheVariable) {
  const auto e = FakeEnv().set("VALKEY_URL", "http://localhost").error();
  EXPECT_EQ(e.code(), errc::invalid_config);
  EXPECT_THAT(e.what(), HasSubstr("VALKEY_URL"));
  EXPECT_THAT(e.what(), HasSubstr("scheme"));

  const auto port = FakeEnv().set("VALKEY_URL", "valkey://localhost:99999").error();
  EXPECT_EQ(port.code(), errc::invalid_config);
  EXPECT_THAT(port.what(), HasSubstr("VALKEY_URL"));
  EXPECT_THAT(port.what(), HasSubstr("port"));
  // One explanation, not the inner error's what() nested in the outer one.
  EXPECT_EQ(port.detail(), "VALKEY_URL: URL: port must be 1-65535, got '99999'");
}

TEST(ClientConfig, EnvReadFromReplicasIsOffUnlessSetOnACluster) {
  EXPECT_FALSE(FakeEnv().set("VALKEY_CLUSTER", "1").config().read_from_replicas);
  for (const std::string on : {"1", "true", "yes"}) {
    SCOPED_TRACE(on);
    EXPECT_TRUE(FakeEnv()
                    .set("VALKEY_CLUSTER", "1")
                    .set("VALKEY_READ_FROM_REPLICAS", on)
                    .config()
                    .read_from_replicas);
  }
  const auto url = FakeEnv()
                       .set("VALKEY_URL", "valkey+cluster://h1:7000,h2:7001")
                       .set("VALKEY_READ_FROM_REPLICAS", "1")
                       .config();
  EXPECT_TRUE(url.cluster);
  EXPECT_TRUE(url.read_from_replicas);
  // Off is fine anywhere: one environment can serve a single node and a cluster.
  EXPECT_FALSE(FakeEnv().set("VALKEY_READ_FROM_REPLICAS", "0").config().read_from_replicas);
}

TEST(ClientConfig, EnvReadFromReplicasBadValueNamesTheVariable) {
  const auto bad =
      FakeEnv().set("VALKEY_CLUSTER", "1").set("VALKEY_READ_FROM_REPLICAS", "replicas").error();
  EXPECT_EQ(bad.code(), errc::invalid_config);
  EXPECT_EQ(bad.detail(),
            "VALKEY_READ_FROM_REPLICAS must be 1 or 0 (true, false, yes, no), got 'replicas'");
  // A single node has no replicas to read from: a mistake, said at startup.
  const auto single = FakeEnv().set("VALKEY_READ_FROM_REPLICAS", "1").error();
  EXPECT_EQ(single.code(), errc::invalid_config);
  EXPECT_THAT(single.what(), HasSubstr("VALKEY_READ_FROM_REPLICAS"));
  EXPECT_THAT(single.what(), HasSubstr("VALKEY_CLUSTER"));
}

TEST(ClientConfig, EnvPasswordNeverReachesTheEndpoint) {
  const auto config = FakeEnv().set("VALKEY_PASSWORD", "hunter2").config();
  EXPECT_EQ(config.endpoint(), "localhost:6380");
}

TEST(ClientConfig, StateStoreIsTheCacheUnlessItsUrlIsSet) {
  EXPECT_FALSE(FakeEnv().set("VALKEY_URL", "valkey://cache:6380").state().has_value());
  EXPECT_FALSE(FakeEnv().set("VALKEY_STATE_URL", "").state().has_value());
}

TEST(ClientConfig, StateStoreFromItsUrl) {
  const auto state = FakeEnv()
                         .set("VALKEY_URL", "valkey://cache:6380/3")
                         .set("VALKEY_DB", "3")
                         .set("VALKEY_STATE_URL", "valkey://state.internal:6381")
                         .state();
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->host, "state.internal");
  EXPECT_EQ(state->port, 6381);
  EXPECT_EQ(state->database, 0);  // VALKEY_DB is the cache's
  EXPECT_EQ(state->client_name, "opencode-cache-state");
}

TEST(ClientConfig, StateStoreSharesTheApplicationUserUnlessGivenItsOwn) {
  FakeEnv env;
  env.set("VALKEY_STATE_URL", "valkey://h:6381")
      .set("VALKEY_USERNAME", "app")
      .set("VALKEY_PASSWORD", "app-pw");
  EXPECT_EQ(env.state()->username, "app");
  EXPECT_EQ(env.state()->password, "app-pw");

  env.set("VALKEY_STATE_URL", "valkey://urluser:urlpass@h:6381");
  EXPECT_EQ(env.state()->username, "urluser");
  EXPECT_EQ(env.state()->password, "urlpass");

  env.set("VALKEY_STATE_USERNAME", "state-user").set("VALKEY_STATE_PASSWORD", "state-pw");
  EXPECT_EQ(env.state()->username, "state-user");
  EXPECT_EQ(env.state()->password, "state-pw");
}

TEST(ClientConfig, StateStoreInvalidUrlNamesTheVariable) {
  FakeEnv env;
  env.set("VALKEY_STATE_URL", "http://localhost");
  try {
    env.state();
    ADD_FAILURE() << "state_from_env must throw";
  } catch (const valkey::Error& e) {
    EXPECT_EQ(e.code(), errc::invalid_config);
    EXPECT_THAT(e.what(), HasSubstr("VALKEY_STATE_URL"));
  }
}

}  // namespace
}  // namespace opencode_cache::testing

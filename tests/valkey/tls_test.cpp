// TLS against a real valkey-server listening on a TLS port, with certificates made for each
// test: trust by CA file and directory, host name checks, client certificates, and the clear
// errors a user gets when any of it does not match.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "opencode_cache/valkey/client.hpp"
#include "support/async_test.hpp"
#include "support/free_port.hpp"
#include "support/test_certificates.hpp"
#include "support/valkey_server.hpp"
#include "valkey/connection.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::AllOf;
using ::testing::HasSubstr;
using valkey::Client;
using valkey::ClientConfig;
using valkey::Command;
using valkey::errc;

constexpr int kTlsPortAttempts = 5;

CertificateSubject localhost_subject() {
  return {.common_name = "localhost", .dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"}};
}

struct TlsServer {
  ValkeyServer& server;
  std::uint16_t tls_port;
};

class TlsTest : public ValkeyTest {
 protected:
  TestCertificateAuthority ca_{"opencode-cache test CA"};
  CertificateFiles server_certificate_ =
      ca_.issue("server", localhost_subject(), CertificateUse::server);

  // A server that speaks TLS on tls_port, next to the plain port the harness probes it on.
  // `auth_clients` is valkey's tls-auth-clients: no, optional or yes.
  TlsServer start_tls_server(const CertificateFiles& certificate, const std::string& auth_clients) {
    for (int attempt = 1;; ++attempt) {
      const std::uint16_t tls_port = free_loopback_port();
      ValkeyServerOptions options{.config = {{"tls-port", std::to_string(tls_port)},
                                             {"tls-cert-file", certificate.certificate.string()},
                                             {"tls-key-file", certificate.private_key.string()},
                                             {"tls-ca-cert-file", ca_.certificate().string()},
                                             {"tls-auth-clients", auth_clients}}};
      try {
        return {start_server(std::move(options)), tls_port};
      } catch (const std::runtime_error& e) {
        const bool port_taken =
            std::string(e.what()).find("Address already in use") != std::string::npos;
        if (!port_taken || attempt == kTlsPortAttempts) throw;
      }
    }
  }

  TlsServer start_tls_server() { return start_tls_server(server_certificate_, "no"); }

  // Trusts our CA; one connection attempt per command, so that a failure shows at once.
  ClientConfig tls_config(const TlsServer& server) const {
    ClientConfig config;
    config.host = "127.0.0.1";
    config.port = server.tls_port;
    config.tls.enabled = true;
    config.tls.ca_file = ca_.certificate().string();
    config.max_retries_per_request = 0;
    return config;
  }
};

// SET and GET through a Client, the round trip every TLS success test ends with.
void expect_commands_work(const ClientConfig& config) {
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    EXPECT_TRUE(co_await client.set("tls:key", "over TLS"));
    EXPECT_EQ(co_await client.get("tls:key"), "over TLS");
  });
}

// The Error a PING over a fresh Connection ends with: from the handshake, or from the first
// read when the server refuses us after it (TLS 1.3 client certificate checks).
valkey::Error ping_failure(const ClientConfig& config) {
  std::optional<valkey::Error> failure;
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Connection connection(ex, config.parser_limits);
    try {
      co_await connection.connect(config);
      co_await connection.write(Command("PING").encoded());
      co_await connection.read_reply();
    } catch (const valkey::Error& e) {
      failure = e;
    }
  });
  if (!failure) {
    ADD_FAILURE() << "PING to " << config.endpoint() << " succeeded";
    return valkey::Error(errc::server_error, "no failure");
  }
  return *failure;
}

TEST_F(TlsTest, CommandsWorkWithTheRightCaFile) {
  const auto server = start_tls_server();
  // 127.0.0.1 is checked against the certificate's IP address SAN.
  expect_commands_work(tls_config(server));
}

TEST_F(TlsTest, CaDirectoryIsTrustedLikeACaFile) {
  const auto server = start_tls_server();
  auto config = tls_config(server);
  config.tls.ca_file.clear();
  config.tls.ca_dir = ca_.hashed_directory().string();
  expect_commands_work(config);
}

TEST_F(TlsTest, HostLocalhostIsCheckedAgainstTheCertificatesDnsName) {
  const auto server = start_tls_server();
  auto config = tls_config(server);
  config.host = "localhost";
  expect_commands_work(config);
}

TEST_F(TlsTest, ServerNameReplacesTheHostInTheCheck) {
  // Only a DNS name in this certificate, so connecting to 127.0.0.1 needs server_name.
  const auto dns_only = ca_.issue(
      "dns-only", {.common_name = "localhost", .dns_names = {"localhost"}}, CertificateUse::server);
  const auto server = start_tls_server(dns_only, "no");
  auto config = tls_config(server);
  config.tls.server_name = "localhost";
  expect_commands_work(config);
}

TEST_F(TlsTest, WrongCaFailsWithACertificateVerificationError) {
  const auto server = start_tls_server();
  TestCertificateAuthority other_ca("some other CA");
  auto config = tls_config(server);
  config.tls.ca_file = other_ca.certificate().string();
  const auto error = ping_failure(config);
  EXPECT_EQ(error.code(), errc::tls_error);
  EXPECT_THAT(error.detail(),
              AllOf(HasSubstr("TLS handshake with 127.0.0.1:" + std::to_string(server.tls_port)),
                    HasSubstr("certificate verification failed"), HasSubstr("tls.ca_file")));
}

TEST_F(TlsTest, ClientCommandsReportWhyTheHandshakeFailed) {
  const auto server = start_tls_server();
  TestCertificateAuthority other_ca("some other CA");
  auto config = tls_config(server);
  config.tls.ca_file = other_ca.certificate().string();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    try {
      co_await client.ping();
      ADD_FAILURE() << "PING succeeded against a server signed by an untrusted CA";
    } catch (const valkey::Error& e) {
      // Another attempt cannot fix a certificate: the command fails at once with the cause.
      EXPECT_EQ(e.code(), errc::tls_error);
      EXPECT_THAT(e.detail(), HasSubstr("certificate verification failed"));
    }
    EXPECT_EQ(client.stats().connect_failures, 1u);
  });
}

TEST_F(TlsTest, WrongServerNameFailsWithAHostnameMismatch) {
  const auto server = start_tls_server();
  auto config = tls_config(server);
  config.tls.server_name = "wrong.example";
  const auto error = ping_failure(config);
  EXPECT_EQ(error.code(), errc::tls_error);
  EXPECT_THAT(error.detail(), AllOf(HasSubstr("certificate verification failed: hostname mismatch"),
                                    HasSubstr("'wrong.example'")));
}

TEST_F(TlsTest, IpAddressMissingFromTheCertificateFails) {
  const auto dns_only = ca_.issue(
      "dns-only", {.common_name = "localhost", .dns_names = {"localhost"}}, CertificateUse::server);
  const auto server = start_tls_server(dns_only, "no");
  const auto error = ping_failure(tls_config(server));
  EXPECT_EQ(error.code(), errc::tls_error);
  EXPECT_THAT(error.detail(), HasSubstr("certificate verification failed: IP address mismatch"));
}

TEST_F(TlsTest, RequiredClientCertificateMissingFails) {
  const auto server = start_tls_server(server_certificate_, "yes");
  const auto error = ping_failure(tls_config(server));
  EXPECT_EQ(error.code(), errc::tls_error);
  EXPECT_THAT(error.detail(), HasSubstr("certificate required"));
}

TEST_F(TlsTest, RequiredClientCertificatePresentSucceeds) {
  const auto server = start_tls_server(server_certificate_, "yes");
  const auto client_certificate =
      ca_.issue("client", {.common_name = "opencode-cache client"}, CertificateUse::client);
  auto config = tls_config(server);
  config.tls.cert_file = client_certificate.certificate.string();
  config.tls.key_file = client_certificate.private_key.string();
  expect_commands_work(config);
}

TEST_F(TlsTest, VerifyPeerOffAcceptsASelfSignedServer) {
  const auto self_signed = ca_.issue_self_signed("self-signed", localhost_subject());
  const auto server = start_tls_server(self_signed, "no");
  auto config = tls_config(server);
  config.tls.ca_file.clear();
  config.tls.verify_peer = false;
  expect_commands_work(config);
}

TEST_F(TlsTest, SelfSignedServerIsRejectedWhileVerifyPeerIsOn) {
  const auto self_signed = ca_.issue_self_signed("self-signed", localhost_subject());
  const auto server = start_tls_server(self_signed, "no");
  auto config = tls_config(server);
  config.tls.ca_file.clear();  // the system's trust store, which does not know it either
  const auto error = ping_failure(config);
  EXPECT_EQ(error.code(), errc::tls_error);
  EXPECT_THAT(error.detail(), HasSubstr("certificate verification failed"));
}

TEST_F(TlsTest, TlsToAPlainPortTimesOutNamingTheTlsHandshake) {
  const auto server = start_tls_server();
  auto config = tls_config(server);
  config.port = server.server.port();
  config.connect_timeout = 200ms;
  const auto error = ping_failure(config);
  EXPECT_EQ(error.code(), errc::timeout);
  EXPECT_THAT(error.detail(), HasSubstr("no TLS handshake answer from 127.0.0.1:" +
                                        std::to_string(server.server.port())));
}

TEST_F(TlsTest, UnreadableCaFileFailsBeforeConnecting) {
  ClientConfig config;
  config.port = free_loopback_port();  // nobody listens: the CA file must fail first
  config.tls.enabled = true;
  config.tls.ca_file = "/nonexistent/ca.pem";
  const auto error = ping_failure(config);
  EXPECT_EQ(error.code(), errc::tls_error);
  EXPECT_THAT(error.detail(), HasSubstr("cannot load the TLS CA file '/nonexistent/ca.pem'"));
}

TEST_F(TlsTest, KeyThatDoesNotMatchTheCertificateFails) {
  const auto first = ca_.issue("first", {.common_name = "first"}, CertificateUse::client);
  const auto second = ca_.issue("second", {.common_name = "second"}, CertificateUse::client);
  ClientConfig config;
  config.tls.enabled = true;
  config.tls.ca_file = ca_.certificate().string();
  config.tls.cert_file = first.certificate.string();
  config.tls.key_file = second.private_key.string();
  const auto error = ping_failure(config);
  EXPECT_EQ(error.code(), errc::tls_error);
  EXPECT_THAT(error.detail(), HasSubstr("cannot load the TLS client key"));
}

TEST_F(TlsTest, TlsOverAUnixSocketIsRefused) {
  ClientConfig config;
  config.unix_path = "/tmp/valkey.sock";
  config.tls.enabled = true;
  EXPECT_EQ(ping_failure(config).code(), errc::invalid_config);
}

TEST_F(TlsTest, ReconnectsWithAFreshSessionAfterTheServerRestarts) {
  auto server = start_tls_server();
  auto config = tls_config(server);
  config.max_retries_per_request = 1000;
  config.reconnect.base_delay = 10ms;
  config.reconnect.max_delay = 100ms;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    EXPECT_TRUE(co_await client.set("tls:before", "1"));
    server.server.restart();
    // Once the client has seen the old connection end, the next command waits for the new
    // one instead of being written into the dead one.
    co_await wait_until([&] { return client.stats().disconnects >= 1; });
    EXPECT_TRUE(co_await client.set("tls:after", "2"));
    EXPECT_EQ(co_await client.get("tls:after"), "2");
    EXPECT_GE(client.stats().connects, 2U);
  });
}

TEST_F(TlsTest, ConcurrentCommandsAndLargeValuesCrossManyTlsRecords) {
  const auto server = start_tls_server();
  const auto config = tls_config(server);
  // TLS records hold at most 16 KiB, so each value spans many records and reads.
  const std::string large(256 * 1024, 'v');
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    int done = 0;
    constexpr int kWorkers = 8;
    for (int w = 0; w < kWorkers; ++w) {
      boost::asio::co_spawn(
          ex,
          [&, w]() -> awaitable<void> {
            const std::string key = "tls:large:" + std::to_string(w);
            for (int i = 0; i < 3; ++i) {
              co_await client.set(key, large + std::to_string(i));
              EXPECT_EQ(co_await client.get(key), large + std::to_string(i));
            }
            ++done;
          },
          boost::asio::detached);
    }
    co_await wait_until([&] { return done == kWorkers; }, 30s);
  });
}

TEST_F(TlsTest, ValkeysUrlWithCaFileParameterConnects) {
  const auto server = start_tls_server();
  auto config = ClientConfig::from_url("valkeys://localhost:" + std::to_string(server.tls_port) +
                                       "?ca_file=" + ca_.certificate().string());
  EXPECT_TRUE(config.tls.enabled);
  expect_commands_work(config);
}

TEST(TlsUrl, ParametersFillTheTlsConfig) {
  const auto config = ClientConfig::from_url(
      "rediss://cache.example:6380?ca_file=/etc/ca.pem&ca_dir=/etc/cas&cert_file=/etc/c.pem"
      "&key_file=/etc/k.pem&server_name=valkey.internal&verify_peer=false&db=2");
  EXPECT_TRUE(config.tls.enabled);
  EXPECT_EQ(config.tls.ca_file, "/etc/ca.pem");
  EXPECT_EQ(config.tls.ca_dir, "/etc/cas");
  EXPECT_EQ(config.tls.cert_file, "/etc/c.pem");
  EXPECT_EQ(config.tls.key_file, "/etc/k.pem");
  EXPECT_EQ(config.tls.server_name, "valkey.internal");
  EXPECT_FALSE(config.tls.verify_peer);
  EXPECT_EQ(config.database, 2);
}

TEST(TlsUrl, DefaultsVerifyThePeerAgainstTheHost) {
  const auto config = ClientConfig::from_url("valkeys://cache.example");
  EXPECT_TRUE(config.tls.enabled);
  EXPECT_TRUE(config.tls.verify_peer);
  EXPECT_TRUE(config.tls.ca_file.empty());
  EXPECT_TRUE(config.tls.server_name.empty());
  EXPECT_FALSE(ClientConfig::from_url("valkey://cache.example").tls.enabled);
}

TEST(TlsUrl, TlsParameterOnAPlainUrlIsRejected) {
  try {
    ClientConfig::from_url("valkey://cache.example?ca_file=/etc/ca.pem");
    ADD_FAILURE() << "a TLS parameter on valkey:// must be rejected";
  } catch (const valkey::Error& e) {
    EXPECT_EQ(e.code(), errc::invalid_config);
    EXPECT_THAT(e.detail(), HasSubstr("'ca_file' needs a TLS URL"));
  }
}

TEST(TlsUrl, VerifyPeerMustBeAFlag) {
  try {
    ClientConfig::from_url("valkeys://cache.example?verify_peer=maybe");
    ADD_FAILURE() << "verify_peer=maybe must be rejected";
  } catch (const valkey::Error& e) {
    EXPECT_EQ(e.code(), errc::invalid_config);
    EXPECT_THAT(e.detail(), HasSubstr("verify_peer"));
  }
}

}  // namespace
}  // namespace opencode_cache::testing

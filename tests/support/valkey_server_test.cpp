#include "support/valkey_server.hpp"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A bare socket, so the harness is checked independently of the client library it serves.
class RawConnection {
 public:
  static RawConnection tcp(std::uint16_t port) {
    RawConnection connection(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    connection.connect(reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    return connection;
  }

  static RawConnection unix_socket(const std::string& path) {
    RawConnection connection(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    connection.connect(reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    return connection;
  }

  RawConnection(RawConnection&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), connected_(other.connected_) {}
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }

  bool connected() const { return connected_; }

  void send(const std::string& data) {
    ASSERT_EQ(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(data.size()));
  }

  // The first reply line, or nothing if none arrives within `timeout`.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
    std::string line;
    char c;
    while (line.size() < 2 || line.compare(line.size() - 2, 2, "\r\n") != 0) {
      pollfd entry{fd_, POLLIN, 0};
      if (::poll(&entry, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
      if (::recv(fd_, &c, 1, 0) != 1) return std::nullopt;
      line += c;
    }
    return line.substr(0, line.size() - 2);
  }

  std::optional<std::string> command(const std::string& inline_command) {
    send(inline_command + "\r\n");
    return read_line(2s);
  }

 private:
  explicit RawConnection(int fd) : fd_(fd) {}
  void connect(const sockaddr* addr, socklen_t size) {
    connected_ = fd_ >= 0 && ::connect(fd_, addr, size) == 0;
  }

  int fd_;
  bool connected_ = false;
};

using ValkeyServerHarness = ValkeyTest;

TEST_F(ValkeyServerHarness, StartsAndAnswersPingViaCli) {
  auto& valkey = server();
  EXPECT_TRUE(valkey.running());
  EXPECT_GT(valkey.pid(), 0);
  EXPECT_EQ(valkey.host(), "127.0.0.1");
  EXPECT_EQ(valkey.url(), "valkey://127.0.0.1:" + std::to_string(valkey.port()));
  EXPECT_EQ(valkey.unix_path(), "");
  EXPECT_EQ(valkey.cli({"PING"}), "PONG");
}

TEST_F(ValkeyServerHarness, RunsWithoutPersistenceAndWithDebugEnabled) {
  EXPECT_EQ(server().cli({"CONFIG", "GET", "save"}), "save\n");
  EXPECT_EQ(server().cli({"CONFIG", "GET", "appendonly"}), "appendonly\nno");
  EXPECT_EQ(server().cli({"DEBUG", "SLEEP", "0"}), "OK");
}

TEST_F(ValkeyServerHarness, ExtraConfigIsApplied) {
  auto& valkey =
      start_server({.config = {{"maxmemory", "1mb"}, {"maxmemory-policy", "noeviction"}}});
  EXPECT_EQ(valkey.cli({"CONFIG", "GET", "maxmemory-policy"}), "maxmemory-policy\nnoeviction");
  EXPECT_EQ(valkey.cli({"CONFIG", "GET", "maxmemory"}), "maxmemory\n1048576");
}

TEST_F(ValkeyServerHarness, TwoServersInOneTestGetDifferentPorts) {
  auto& first = server();
  auto& second = start_server({});
  EXPECT_NE(first.port(), second.port());
  EXPECT_EQ(&server(), &first);
  first.cli({"SET", "k", "first"});
  EXPECT_EQ(second.cli({"GET", "k"}), "");
  EXPECT_EQ(first.cli({"GET", "k"}), "first");
}

TEST_F(ValkeyServerHarness, KillThenStartAnswersAgainOnTheSamePort) {
  auto& valkey = server();
  const auto port = valkey.port();
  valkey.kill();
  EXPECT_FALSE(valkey.running());
  EXPECT_EQ(valkey.pid(), -1);
  EXPECT_FALSE(RawConnection::tcp(port).connected());

  valkey.start();
  EXPECT_EQ(valkey.port(), port);
  EXPECT_EQ(valkey.cli({"PING"}), "PONG");
}

TEST_F(ValkeyServerHarness, RestartLosesDataBecauseNothingIsPersisted) {
  auto& valkey = server();
  valkey.cli({"SET", "k", "v"});
  valkey.restart();
  EXPECT_EQ(valkey.cli({"EXISTS", "k"}), "0");
}

TEST_F(ValkeyServerHarness, StopShutsDownGracefullyAndCanStartAgain) {
  auto& valkey = server();
  valkey.stop();
  EXPECT_FALSE(valkey.running());
  valkey.start();
  EXPECT_EQ(valkey.cli({"PING"}), "PONG");
}

TEST_F(ValkeyServerHarness, StartWhileRunningIsAnError) {
  EXPECT_THROW(server().start(), std::logic_error);
}

TEST_F(ValkeyServerHarness, PauseMakesPingTimeOutAndResumeAnswersIt) {
  auto& valkey = server();
  valkey.pause();
  auto connection = RawConnection::tcp(valkey.port());
  ASSERT_TRUE(connection.connected()) << "the kernel still accepts while the server is stopped";
  connection.send("PING\r\n");
  EXPECT_EQ(connection.read_line(200ms), std::nullopt);

  valkey.resume();
  EXPECT_EQ(connection.read_line(2s), "+PONG");
}

TEST_F(ValkeyServerHarness, PauseAndResumeTwiceAreHarmless) {
  auto& valkey = server();
  valkey.resume();
  valkey.pause();
  valkey.pause();
  valkey.resume();
  valkey.resume();
  EXPECT_EQ(valkey.cli({"PING"}), "PONG");
}

TEST_F(ValkeyServerHarness, PasswordIsUsedByCliAndRequiredFromOthers) {
  auto& valkey = start_server({.password = "s3cret with space"});
  EXPECT_EQ(valkey.cli({"PING"}), "PONG");

  auto connection = RawConnection::tcp(valkey.port());
  ASSERT_TRUE(connection.connected());
  EXPECT_THAT(connection.command("GET k").value_or("no reply"), StartsWith("-NOAUTH"));
}

TEST_F(ValkeyServerHarness, AclUserCanAuthenticateWithinItsKeyPattern) {
  auto& valkey = start_server({.acl_users = {"user app on >secret ~opencode:* +@all"}});
  auto connection = RawConnection::tcp(valkey.port());
  ASSERT_TRUE(connection.connected());
  EXPECT_EQ(connection.command("AUTH app secret"), "+OK");
  EXPECT_EQ(connection.command("SET opencode:k v"), "+OK");
  EXPECT_THAT(connection.command("SET other:k v").value_or("no reply"), StartsWith("-NOPERM"));

  EXPECT_EQ(valkey.cli({"--user", "app", "--pass", "secret", "GET", "opencode:k"}), "v");
}

TEST_F(ValkeyServerHarness, UnixSocketAnswersPing) {
  auto& valkey = start_server({.unix_socket = true});
  ASSERT_FALSE(valkey.unix_path().empty());
  EXPECT_EQ(std::filesystem::status(valkey.unix_path()).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  auto connection = RawConnection::unix_socket(valkey.unix_path());
  ASSERT_TRUE(connection.connected());
  EXPECT_EQ(connection.command("PING"), "+PONG");
}

TEST_F(ValkeyServerHarness, DestructorKillsAPausedServerAndRemovesItsDirectory) {
  pid_t pid;
  std::filesystem::path dir;
  {
    ValkeyServer valkey({.unix_socket = true});
    pid = valkey.pid();
    dir = std::filesystem::path(valkey.unix_path()).parent_path();
    ASSERT_TRUE(std::filesystem::exists(dir));
    valkey.pause();
  }
  // Reaped, not merely signalled: the pid no longer exists at all.
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST_F(ValkeyServerHarness, DirectoriesOfDeadTestProcessesAreRemoved) {
  auto orphan = std::filesystem::temp_directory_path() / "opencode-cache-valkey-orphan-test";
  std::filesystem::create_directory(orphan);
  // A pid above any pid_max, standing in for a test process that crashed.
  std::ofstream(orphan / "owner") << "2147483647\n";
  std::ofstream(orphan / "valkey.log") << "left behind\n";

  ValkeyServer next;
  EXPECT_FALSE(std::filesystem::exists(orphan));
  EXPECT_TRUE(
      std::filesystem::exists(std::filesystem::path(next.cli({"CONFIG", "GET", "dir"}).substr(4))));
}

TEST_F(ValkeyServerHarness, FailedStartupReportsTheServersOwnMessage) {
  try {
    ValkeyServer valkey({.config = {{"no-such-option", "1"}}});
    FAIL() << "started despite an unknown option";
  } catch (const std::runtime_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("during startup"));
    EXPECT_THAT(error.what(), HasSubstr("no-such-option"));
  }
}

TEST_F(ValkeyServerHarness, CliFailureThrowsWithItsMessage) {
  auto& valkey = server();
  valkey.kill();
  EXPECT_THROW(valkey.cli({"PING"}), std::runtime_error);
}

}  // namespace
}  // namespace opencode_cache::testing

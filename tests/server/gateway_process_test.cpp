// The real opencode-cache-server binary as a child process: configuration errors stop it
// with the variable's name; SIGTERM lets an open stream finish, then it exits 0.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <map>
#include <thread>

#include "server/support/fake_upstream.hpp"
#include "server/support/http_client.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(
      io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

// The binary with exactly `env`; its stderr goes to `log_path`.
pid_t spawn_server(const std::map<std::string, std::string>& env, const std::string& log_path) {
  std::vector<std::string> entries;
  for (const auto& [name, value] : env) entries.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : entries) envp.push_back(entry.data());
  envp.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(log, STDERR_FILENO);
    dup2(log, STDOUT_FILENO);
    char* argv[] = {const_cast<char*>(OPENCODE_CACHE_SERVER_BINARY), nullptr};
    execve(argv[0], argv, envp.data());
    _exit(127);
  }
  return pid;
}

int wait_for_exit(pid_t pid, std::chrono::seconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > give_up) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(5ms);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 10s) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

bool answers(std::uint16_t port) {
  try {
    return HttpClient(port).request("GET", "/healthz").status == 200;
  } catch (const std::exception&) {
    return false;
  }
}

std::string read_file(const std::string& path) {
  std::string out;
  const int fd = open(path.c_str(), O_RDONLY);
  char buffer[4096];
  ssize_t n;
  while (fd >= 0 && (n = read(fd, buffer, sizeof buffer)) > 0)
    out.append(buffer, static_cast<std::size_t>(n));
  if (fd >= 0) close(fd);
  return out;
}

class GatewayProcessTest : public ValkeyTest {
 protected:
  std::string log_path = ::testing::TempDir() + "/gateway_" +
                         ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".log";
};

TEST_F(GatewayProcessTest, BadValueStopsStartupNamingTheVariable) {
  const pid_t pid = spawn_server({{"OPENCODE_CACHE_THREADS", "many"}}, log_path);
  EXPECT_EQ(wait_for_exit(pid, 10s), 2);
  EXPECT_THAT(read_file(log_path), HasSubstr("OPENCODE_CACHE_THREADS"));
  const pid_t remote = spawn_server({{"OPENCODE_CACHE_LISTEN", "0.0.0.0:3000"}}, log_path);
  EXPECT_EQ(wait_for_exit(remote, 10s), 2);
  EXPECT_THAT(read_file(log_path), HasSubstr("OPENCODE_CACHE_ALLOW_REMOTE"));
}

TEST_F(GatewayProcessTest, SigtermDrainsAnOpenStreamThenExitsZero) {
  FakeUpstream upstream;
  const std::uint16_t port = free_port();
  const pid_t pid = spawn_server({{"OPENCODE_CACHE_LISTEN", "127.0.0.1:" + std::to_string(port)},
                                  {"OPENCODE_CACHE_THREADS", "2"},
                                  {"OPENCODE_CACHE_UPSTREAM", upstream.base_url()},
                                  {"VALKEY_HOST", server().host()},
                                  {"VALKEY_PORT", std::to_string(server().port())}},
                                 log_path);
  ASSERT_TRUE(eventually([&] { return answers(port); })) << read_file(log_path);

  HttpResponse streamed;
  std::thread client([&] {
    streamed = HttpClient(port).post("/v1/chat/completions", chat_body("drain", true, "hold"));
  });
  ASSERT_TRUE(eventually([&] { return upstream.calls() == 1; }));
  kill(pid, SIGTERM);
  // New connections are refused while the stream goes on.
  EXPECT_TRUE(eventually([&] { return !answers(port); }));
  upstream.release();
  client.join();
  EXPECT_EQ(streamed.status, 200);
  EXPECT_EQ(streamed.error, "");
  EXPECT_THAT(streamed.body, HasSubstr("data: [DONE]\n\n"));
  EXPECT_EQ(wait_for_exit(pid, 20s), 0) << read_file(log_path);
  EXPECT_THAT(read_file(log_path), HasSubstr(R"("msg":"draining")"));
}

}  // namespace
}  // namespace opencode_cache::testing

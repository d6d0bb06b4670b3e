// The real opencode-cache-server binary as a child process: configuration errors stop it
// with the variable's name; SIGTERM lets an open stream finish, then it exits 0; two of them on
// one Valkey make one upstream call for identical requests, and survive the leader's death.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <thread>

#include "server/support/fake_upstream.hpp"
#include "server/support/http_client.hpp"
#include "support/free_port.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

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
  const std::uint16_t port = free_loopback_port();
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

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& part : parts) out += part;
  return out;
}

std::uint64_t metric(std::uint16_t port, const std::string& name) {
  const std::string text = HttpClient(port).request("GET", "/metrics").body;
  const std::size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return 0;
  const std::size_t start = at + name.size() + 2;
  return std::stoull(text.substr(start, text.find('\n', start) - start));
}

// Two gateway processes (A, B) in front of one fake provider, sharing one valkey-server.
class TwoGatewaysTest : public GatewayProcessTest {
 protected:
  void start_both(const std::string& lease_ms) {
    for (int i = 0; i < 2; ++i) {
      ports[i] = free_loopback_port();
      pids[i] = spawn_server({{"OPENCODE_CACHE_LISTEN", "127.0.0.1:" + std::to_string(ports[i])},
                              {"OPENCODE_CACHE_THREADS", "1"},
                              {"OPENCODE_CACHE_UPSTREAM", upstream.base_url()},
                              {"OPENCODE_CACHE_FLIGHT_LEASE_MS", lease_ms},
                              {"VALKEY_HOST", server().host()},
                              {"VALKEY_PORT", std::to_string(server().port())}},
                             log_path + (i == 0 ? ".a" : ".b"));
    }
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(eventually([&] { return answers(ports[i]); })) << read_file(log_path + ".a");
    }
  }

  void kill_leader() {
    kill(pids[0], SIGKILL);
    waitpid(pids[0], nullptr, 0);
    pids[0] = -1;
  }

  void TearDown() override {
    upstream.release();
    for (pid_t pid : pids) {
      if (pid > 0) {
        kill(pid, SIGTERM);
        wait_for_exit(pid, 20s);
      }
    }
  }

  std::uint64_t both(const std::string& name) {
    return metric(ports[0], name) + metric(ports[1], name);
  }

  FakeUpstream upstream;
  std::uint16_t ports[2] = {0, 0};
  pid_t pids[2] = {-1, -1};
};

TEST_F(TwoGatewaysTest, TwentyStreamsSplitAcrossTwoProcessesMakeOneUpstreamCall) {
  start_both("3000");
  constexpr int clients = 20;
  std::vector<HttpResponse> responses(clients);
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      responses[i] = HttpClient(ports[i % 2])
                         .post("/v1/chat/completions", chat_body("together", true, "hold"));
    });
  }
  // One leader; the other process follows it, and every other request joins its own
  // process's flight; only then does the provider go on.
  EXPECT_TRUE(eventually([&] {
    return both("opencode_cache_single_flight_joins_total") == clients - 2 &&
           both("opencode_cache_single_flight_follows_total") == 1 && upstream.calls() == 1;
  }));
  upstream.release();
  for (auto& thread : threads) thread.join();
  const std::string expected = joined(FakeUpstream::stream_events("hold", "answer 1 to together"));
  for (const auto& response : responses) {
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.error, "");
    EXPECT_EQ(response.body, expected);
  }
  EXPECT_EQ(upstream.calls(), 1u);
  for (const std::uint16_t port : ports) {
    const auto hit =
        HttpClient(port).post("/v1/chat/completions", chat_body("together", true, "hold"));
    EXPECT_EQ(hit.header("x-cache"), "HIT");
    EXPECT_EQ(hit.body, expected);
  }
  EXPECT_EQ(upstream.calls(), 1u);
}

// The Responses and Messages APIs share the recording and replay: the same across processes.
TEST_F(TwoGatewaysTest, ResponsesAndMessagesStreamsAcrossTwoProcessesMakeOneUpstreamCallEach) {
  start_both("3000");
  const std::vector<std::pair<std::string, std::string>> anthropic = {
      {"x-api-key", "sk-ant-alice"}, {"anthropic-version", "2023-06-01"}};
  struct Api {
    std::string target;
    std::string body;
    std::string expected;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  std::vector<Api> apis;
  apis.push_back({"/v1/responses",
                  responses_body("both", true, "hold"),
                  joined(FakeUpstream::responses_events("hold", "answer 1 to both")),
                  {}});
  apis.push_back({"/v1/messages", messages_body("both", true, "hold"),
                  joined(FakeUpstream::messages_events("hold", "answer 2 to both")), anthropic});
  for (std::size_t n = 0; n < apis.size(); ++n) {
    const Api& api = apis[n];
    constexpr int clients = 6;
    std::vector<HttpResponse> responses(clients);
    std::vector<std::thread> threads;
    const auto joins = both("opencode_cache_single_flight_joins_total");
    const auto follows = both("opencode_cache_single_flight_follows_total");
    for (int i = 0; i < clients; ++i) {
      threads.emplace_back([&, i] {
        responses[i] = HttpClient(ports[i % 2]).post(api.target, api.body, api.headers);
      });
    }
    EXPECT_TRUE(eventually([&] {
      return both("opencode_cache_single_flight_joins_total") == joins + clients - 2 &&
             both("opencode_cache_single_flight_follows_total") == follows + 1 &&
             upstream.calls() == n + 1;
    })) << api.target;
    upstream.release();
    for (auto& thread : threads) thread.join();
    upstream.hold_again();
    for (const auto& response : responses) {
      EXPECT_EQ(response.status, 200) << api.target;
      EXPECT_EQ(response.error, "") << api.target;
      EXPECT_EQ(response.body, api.expected) << api.target;
    }
    EXPECT_EQ(upstream.calls(), n + 1) << api.target;
  }
}

TEST_F(TwoGatewaysTest, LeaderKilledBeforeItsAnswerBeganIsTakenOverByAFollower) {
  start_both("500");
  const std::string body = chat_body("orphan", true, "hold-head");
  HttpResponse first;
  std::thread leader([&] { first = HttpClient(ports[0]).post("/v1/chat/completions", body); });
  ASSERT_TRUE(eventually([&] { return upstream.calls() == 1; }));  // A leads
  std::vector<HttpResponse> followed(3);
  std::vector<std::thread> followers;
  for (auto& response : followed) {
    followers.emplace_back(
        [&] { response = HttpClient(ports[1]).post("/v1/chat/completions", body); });
  }
  EXPECT_TRUE(eventually([&] {
    return metric(ports[1], "opencode_cache_single_flight_follows_total") == 1 &&
           metric(ports[1], "opencode_cache_single_flight_joins_total") == 2;
  }));
  kill_leader();
  upstream.release();
  leader.join();
  for (auto& thread : followers) thread.join();
  EXPECT_NE(first.error, "") << "A's own client lost its connection";
  const std::string expected =
      joined(FakeUpstream::stream_events("hold-head", "answer 2 to orphan"));
  for (const auto& response : followed) {
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.error, "");
    EXPECT_EQ(response.body, expected);
  }
  EXPECT_EQ(upstream.calls(), 2u);
  EXPECT_EQ(metric(ports[1], "opencode_cache_single_flight_takeovers_total"), 1u);
  const auto hit = HttpClient(ports[1]).post("/v1/chat/completions", body);
  EXPECT_EQ(hit.header("x-cache"), "HIT");
  EXPECT_EQ(hit.body, expected);
}

TEST_F(TwoGatewaysTest, LeaderKilledMidStreamAbortsFollowersAndStoresNothing) {
  start_both("500");
  const std::string body = chat_body("cut short", true, "hold");
  HttpResponse first;
  std::thread leader([&] { first = HttpClient(ports[0]).post("/v1/chat/completions", body); });
  // A has recorded the head and the first event.
  ASSERT_TRUE(eventually([&] {
    const std::string stream = server().cli({"--scan", "--pattern", "opencode:flight:*:stream:*"});
    return !stream.empty() && std::stoi(server().cli({"XLEN", stream})) >= 2;
  }));
  std::vector<HttpResponse> followed(3);
  std::vector<std::thread> followers;
  for (auto& response : followed) {
    followers.emplace_back(
        [&] { response = HttpClient(ports[1]).post("/v1/chat/completions", body); });
  }
  EXPECT_TRUE(eventually([&] {
    return metric(ports[1], "opencode_cache_single_flight_follows_total") == 1 &&
           metric(ports[1], "opencode_cache_single_flight_joins_total") == 2;
  }));
  kill_leader();
  leader.join();
  for (auto& thread : followers) thread.join();
  const std::string begun = FakeUpstream::stream_events("hold", "answer 1 to cut short")[0];
  for (const auto& response : followed) {
    EXPECT_EQ(response.status, 200);
    EXPECT_NE(response.error, "") << "a truncated answer must not end cleanly";
    EXPECT_EQ(response.body, begun) << "nothing of another answer spliced in";
  }
  EXPECT_EQ(metric(ports[1], "opencode_cache_single_flight_aborts_total"), 1u);
  EXPECT_EQ(upstream.calls(), 1u);
  upstream.release();
  const auto next = HttpClient(ports[1]).post("/v1/chat/completions", body);
  EXPECT_EQ(next.header("x-cache"), "MISS") << "no truncated entry was stored";
  EXPECT_EQ(next.error, "");
  EXPECT_EQ(next.body, joined(FakeUpstream::stream_events("hold", "answer 2 to cut short")));
  EXPECT_EQ(upstream.calls(), 2u);
}

}  // namespace
}  // namespace opencode_cache::testing

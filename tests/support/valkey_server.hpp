#pragma once

// A real valkey-server per test, never a mock: the client's behaviour under reconnects, pauses,
// auth failures and slow commands is only worth testing against the real thing.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace opencode_cache::testing {

struct ValkeyServerOptions {
  // Every member has an initializer so that designated initializers naming only some of them
  // ({.password = "x"}) pass -Wmissing-field-initializers.
  // Non-empty: `requirepass` for the default user; cli() then authenticates with it.
  std::string password{};
  // Each an ACL rule line in config-file form, e.g. "user app on >secret ~opencode:* +@all".
  // The leading "user" may be left out.
  std::vector<std::string> acl_users{};
  // Also listen on a unix socket in the server's temp dir (unixsocketperm 700).
  bool unix_socket = false;
  // Extra `--name value` arguments; they override the harness defaults.
  std::vector<std::pair<std::string, std::string>> config{};
  // Instead of valkey-server with the harness's config file: this command, which must exec
  // valkey-server in its own process (the project's launcher, scripts/valkey-serve), with
  // `environment` added to the test's. "{dir}" in either stands for the server's temp dir.
  // The harness adds only --port, --logfile and `config`: bind, persistence and users are
  // the command's.
  std::vector<std::string> command{};
  std::vector<std::pair<std::string, std::string>> environment{};
  // Non-empty: the ACL user that cli() and the readiness probe log in as, with `password`
  // (which is then this user's password, not `requirepass`).
  std::string username{};
  // Non-empty: the directory the server's temp dir is made in, instead of TMPDIR or /tmp.
  std::filesystem::path temp_base{};
};

// One valkey-server child process with its own temp dir (config, log, socket), no persistence,
// bound to 127.0.0.1 on a free port. The process is started with PR_SET_PDEATHSIG, so it dies
// with the thread that started it: call start()/restart() from the test's own thread, which
// also means a crashed test binary leaves no servers behind.
class ValkeyServer {
 public:
  explicit ValkeyServer(ValkeyServerOptions options = {});
  ~ValkeyServer();
  ValkeyServer(const ValkeyServer&) = delete;
  ValkeyServer& operator=(const ValkeyServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string host() const { return "127.0.0.1"; }
  std::string unix_path() const;
  std::string url() const;
  // -1 while the server is not running.
  pid_t pid() const { return pid_; }
  // False once the process has exited, even if nobody has called kill()/stop() yet.
  bool running() const;
  // Between pause() and resume(): running, but answering nothing (cli() would hang).
  bool paused() const { return paused_; }

  // (Re)starts on the same port, socket and temp dir; returns once the server answers.
  void start();
  // SIGKILL and reap: an abrupt crash, connections reset.
  void kill();
  // SIGTERM and reap: a graceful shutdown.
  void stop();
  void restart();
  // SIGSTOP: the server keeps its sockets open but answers nothing; returns once it has stopped.
  void pause();
  // SIGCONT; returns once it runs again.
  void resume();

  // Runs valkey-cli against this server (authenticated when a password is configured; further
  // options such as --user may lead `args`) and returns its stdout without the trailing
  // newline. Error replies come back as text ("ERR ..."); throws if valkey-cli itself fails.
  std::string cli(const std::vector<std::string>& args) const;
  // The server's temp dir (config, log, and whatever `command` keeps there).
  const std::filesystem::path& dir() const { return dir_; }

 private:
  void write_config_file() const;
  void launch();
  void wait_until_ready();
  bool answers_as_this_process() const;
  void reap(int deadline_ms);
  std::string failure_report(const std::string& what) const;
  std::vector<std::string> server_arguments() const;
  std::string in_dir(const std::string& text) const;

  ValkeyServerOptions options_;
  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
};

// Fixture: fresh servers per test, torn down (killed, temp dirs removed) after it.
class ValkeyTest : public ::testing::Test {
 protected:
  // The test's first server, started with default options on first use unless start_server()
  // already started one.
  ValkeyServer& server();
  // Starts one more server with the given options; a test may run several.
  ValkeyServer& start_server(ValkeyServerOptions options);

 private:
  std::vector<std::unique_ptr<ValkeyServer>> servers_;
};

}  // namespace opencode_cache::testing

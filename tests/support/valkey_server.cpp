#include "support/valkey_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>

#include "support/free_port.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kReadyDeadline = 10s;
constexpr auto kGracefulStopDeadline = 10s;
constexpr auto kProbeIoTimeout = 1s;
constexpr int kPortAttempts = 5;
constexpr std::size_t kLogTailLines = 40;

// Thrown when the chosen port was grabbed by someone else between picking and binding it, the
// one startup failure that another port fixes.
class PortInUse : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::filesystem::path find_executable(const std::string& name) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream entries(path);
    for (std::string dir; std::getline(entries, dir, ':');) {
      if (!dir.empty()) dirs.push_back(dir);
    }
  }
  dirs.push_back("/usr/bin");
  for (const auto& dir : dirs) {
    auto candidate = std::filesystem::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw std::runtime_error(name + " not found on PATH or in /usr/bin (install valkey-server " +
                           "and valkey-tools: scripts/bootstrap)");
}

const std::filesystem::path& valkey_server_executable() {
  static const auto path = find_executable("valkey-server");
  return path;
}

const std::filesystem::path& valkey_cli_executable() {
  static const auto path = find_executable("valkey-cli");
  return path;
}

constexpr std::string_view kTempDirPrefix = "opencode-cache-valkey-";

std::filesystem::path temp_base(const std::filesystem::path& chosen) {
  if (!chosen.empty()) return chosen;
  const char* tmpdir = std::getenv("TMPDIR");
  return (tmpdir != nullptr && *tmpdir != '\0') ? tmpdir : "/tmp";
}

bool process_exists(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno != ESRCH;
}

// A test process that dies without unwinding (abort, a ctest timeout's SIGKILL) takes its
// servers with it (PR_SET_PDEATHSIG) but leaves their directories behind; the next run removes
// those whose owning process is gone.
void remove_orphaned_temp_dirs(const std::filesystem::path& base) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(base, error)) {
    if (entry.path().filename().string().rfind(kTempDirPrefix, 0) != 0) continue;
    std::ifstream owner_file(entry.path() / "owner");
    pid_t owner = 0;
    if (!(owner_file >> owner) || owner <= 0 || process_exists(owner)) continue;
    std::filesystem::remove_all(entry.path(), error);
  }
}

std::filesystem::path make_temp_dir(const std::filesystem::path& chosen_base) {
  const std::filesystem::path base = temp_base(chosen_base);
  remove_orphaned_temp_dirs(base);
  std::string templ = (base / kTempDirPrefix).string() + "XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) throw_errno("mkdtemp " + templ);
  std::ofstream(std::filesystem::path(templ) / "owner") << ::getpid() << "\n";
  return templ;
}

// Double-quoted in the config file's own syntax, so paths and passwords with spaces survive.
std::string quote_config_value(std::string_view value) {
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + '"';
}

std::string acl_user_directive(const std::string& rule) {
  if (rule.rfind("user ", 0) == 0) return rule;
  return "user " + rule;
}

std::string file_tail(const std::filesystem::path& path, std::size_t max_lines) {
  std::ifstream in(path);
  if (!in) return "(no " + path.filename().string() + ")\n";
  std::deque<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(std::move(line));
    if (lines.size() > max_lines) lines.pop_front();
  }
  std::string tail;
  for (const auto& line : lines) tail += line + '\n';
  return tail.empty() ? "(empty)\n" : tail;
}

std::string encode_resp_command(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& arg : args) out += "$" + std::to_string(arg.size()) + "\r\n" + arg + "\r\n";
  return out;
}

struct RespReply {
  char type;  // '+', '-' or '$'; enough for AUTH and INFO
  std::string text;
};

// Takes one complete reply off the front of `buffer`, or nothing if more bytes are needed.
std::optional<RespReply> take_reply(std::string& buffer) {
  auto line_end = buffer.find("\r\n");
  if (line_end == std::string::npos) return std::nullopt;
  char type = buffer[0];
  std::string line = buffer.substr(1, line_end - 1);
  if (type != '$') {
    buffer.erase(0, line_end + 2);
    return RespReply{type, line};
  }
  long length = std::strtol(line.c_str(), nullptr, 10);
  if (length < 0) {
    buffer.erase(0, line_end + 2);
    return RespReply{type, ""};
  }
  auto body_start = line_end + 2;
  if (buffer.size() < body_start + static_cast<std::size_t>(length) + 2) return std::nullopt;
  RespReply reply{type, buffer.substr(body_start, static_cast<std::size_t>(length))};
  buffer.erase(0, body_start + static_cast<std::size_t>(length) + 2);
  return reply;
}

void set_io_timeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

UniqueFd connect_loopback(std::uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return {};
  return fd;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads until `count` replies have arrived; nothing on timeout or disconnect.
std::optional<std::vector<RespReply>> read_replies(int fd, std::size_t count) {
  std::vector<RespReply> replies;
  std::string buffer;
  char chunk[4096];
  while (replies.size() < count) {
    while (auto reply = take_reply(buffer)) replies.push_back(std::move(*reply));
    if (replies.size() >= count) break;
    auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  return replies;
}

struct ChildStdio {
  int in = -1;
  int out = -1;
  int err = -1;
};

void redirect(int from, int to) {
  if (from == to) {
    ::fcntl(to, F_SETFD, 0);  // dup2 onto itself would keep close-on-exec
  } else {
    ::dup2(from, to);
  }
}

// Only async-signal-safe calls between fork and exec: the test process may have threads.
[[noreturn]] void exec_child(char* const* argv, char* const* envp, ChildStdio stdio, pid_t parent,
                             int status_fd, int max_fd) {
  // Kill the child with its parent, so a crashed or aborted test leaves no servers running.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGTERM, SIGINT, SIGPIPE, SIGHUP}) ::signal(sig, SIG_DFL);
  redirect(stdio.in, STDIN_FILENO);
  redirect(stdio.out, STDOUT_FILENO);
  redirect(stdio.err, STDERR_FILENO);
  // Inherited sockets would keep the test's connections half-alive after the test closes them
  // (the peer never sees FIN). Marked close-on-exec rather than closed so that the status pipe
  // can still report a failed exec.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd <= max_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  ::execve(argv[0], argv, envp);
  int error = errno;
  [[maybe_unused]] auto ignored = ::write(status_fd, &error, sizeof error);
  ::_exit(127);
}

// The test's environment with `overrides` set, as NAME=value strings.
std::vector<std::string> environment_with(
    const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::vector<std::string> entries;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const auto name = text.substr(0, text.find('='));
    const bool overridden = std::any_of(overrides.begin(), overrides.end(),
                                        [&](const auto& pair) { return pair.first == name; });
    if (!overridden) entries.emplace_back(text);
  }
  for (const auto& [name, value] : overrides) entries.push_back(name + "=" + value);
  return entries;
}

std::vector<char*> null_terminated(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (const auto& s : strings) pointers.push_back(const_cast<char*>(s.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

// fork/exec rather than posix_spawn for PR_SET_PDEATHSIG and closing inherited descriptors.
pid_t spawn(const std::vector<std::string>& args, ChildStdio stdio,
            const std::vector<std::pair<std::string, std::string>>& environment = {}) {
  std::vector<char*> argv = null_terminated(args);
  const std::vector<std::string> env_entries = environment_with(environment);
  std::vector<char*> envp = null_terminated(env_entries);

  int status_pipe[2];
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) throw_errno("pipe2");
  UniqueFd status_read(status_pipe[0]);
  UniqueFd status_write(status_pipe[1]);

  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  int max_fd = static_cast<int>(std::min<rlim_t>(files.rlim_cur, 65536)) - 1;

  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) exec_child(argv.data(), envp.data(), stdio, parent, status_write.get(), max_fd);

  status_write.reset();
  int exec_error = 0;
  ssize_t n;
  do {
    n = ::read(status_read.get(), &exec_error, sizeof exec_error);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    ::waitpid(pid, nullptr, 0);
    throw std::system_error(exec_error, std::generic_category(), "exec " + args[0]);
  }
  return pid;
}

// Blocks until the child exits or the timeout passes; a pidfd makes this a wait, not a poll.
bool wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
  // The raw syscall: glibc 2.36's <sys/pidfd.h> lacks extern "C" and does not link from C++.
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) return true;  // already gone
  pollfd entry{pidfd.get(), POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&entry, 1, static_cast<int>(timeout.count()));
  } while (ready < 0 && errno == EINTR);
  return ready > 0;
}

int reap_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended with wait status " + std::to_string(status);
}

UniqueFd open_or_throw(const std::filesystem::path& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC, 0600));
  if (!fd) throw_errno("open " + path.string());
  return fd;
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

std::string join(const std::vector<std::string>& words) {
  std::string joined;
  for (const auto& word : words) joined += (joined.empty() ? "" : " ") + word;
  return joined;
}

struct CapturedOutput {
  std::string out;
  std::string err;
};

// Drains both pipes together so a chatty stderr cannot block the child writing stdout.
CapturedOutput drain(UniqueFd out, UniqueFd err) {
  CapturedOutput captured;
  pollfd fds[2] = {{out.get(), POLLIN, 0}, {err.get(), POLLIN, 0}};
  std::string* sinks[2] = {&captured.out, &captured.err};
  char chunk[4096];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll");
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      auto n = ::read(fds[i].fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;
        continue;
      }
      sinks[i]->append(chunk, static_cast<std::size_t>(n));
    }
  }
  return captured;
}

}  // namespace

ValkeyServer::ValkeyServer(ValkeyServerOptions options)
    : options_(std::move(options)), dir_(make_temp_dir(options_.temp_base)) {
  try {
    if (options_.unix_socket && unix_path().size() >= sizeof(sockaddr_un::sun_path)) {
      throw std::runtime_error("unix socket path too long (set a shorter TMPDIR): " + unix_path());
    }
    for (int attempt = 1;; ++attempt) {
      port_ = free_loopback_port();
      write_config_file();
      try {
        start();
        return;
      } catch (const PortInUse&) {
        if (attempt == kPortAttempts) throw;
      }
    }
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw;
  }
}

ValkeyServer::~ValkeyServer() {
  kill();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string ValkeyServer::unix_path() const {
  return options_.unix_socket ? (dir_ / "valkey.sock").string() : std::string();
}

std::string ValkeyServer::url() const {
  return "valkey://" + host() + ":" + std::to_string(port_);
}

bool ValkeyServer::running() const {
  if (pid_ < 0) return false;
  siginfo_t info{};
  // WNOWAIT leaves a dead child for kill()/stop() to reap, which keeps this const.
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return false;
  }
  return info.si_pid == 0;
}

void ValkeyServer::start() {
  if (running()) throw std::logic_error("ValkeyServer::start: already running on " + url());
  if (pid_ >= 0) reap_child(std::exchange(pid_, -1));  // it died on its own
  launch();
  wait_until_ready();
}

void ValkeyServer::kill() {
  if (pid_ < 0) return;
  ::kill(pid_, SIGKILL);
  ::kill(pid_, SIGCONT);
  reap_child(std::exchange(pid_, -1));
  paused_ = false;
}

void ValkeyServer::stop() {
  if (pid_ < 0) return;
  ::kill(pid_, SIGTERM);
  if (paused_) ::kill(pid_, SIGCONT);  // a stopped process only handles SIGTERM once continued
  paused_ = false;
  if (!wait_for_exit(pid_, kGracefulStopDeadline)) {
    kill();
    throw std::runtime_error(failure_report("valkey-server ignored SIGTERM for 10 s; killed it"));
  }
  reap_child(std::exchange(pid_, -1));
}

void ValkeyServer::restart() {
  kill();
  start();
}

void ValkeyServer::pause() {
  if (pid_ < 0) throw std::logic_error("ValkeyServer::pause: not running");
  if (paused_) return;  // a second stop report would never come
  ::kill(pid_, SIGSTOP);
  siginfo_t info{};
  // Signal delivery is asynchronous; waiting for the stop report means the caller can rely on
  // the server being frozen as soon as pause() returns.
  while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WSTOPPED) < 0 && errno == EINTR) {
  }
  paused_ = true;
}

void ValkeyServer::resume() {
  if (pid_ < 0) throw std::logic_error("ValkeyServer::resume: not running");
  if (!paused_) return;  // nor would a continue report for a running process
  ::kill(pid_, SIGCONT);
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WCONTINUED) < 0 && errno == EINTR) {
  }
  paused_ = false;
}

std::string ValkeyServer::cli(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {valkey_cli_executable().string(), "-h", host(), "-p",
                                   std::to_string(port_)};
  if (!options_.username.empty()) argv.insert(argv.end(), {"--user", options_.username});
  if (!options_.password.empty()) {
    argv.insert(argv.end(), {"-a", options_.password, "--no-auth-warning"});
  }
  argv.insert(argv.end(), args.begin(), args.end());

  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw_errno("pipe2");
  UniqueFd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw_errno("pipe2");
  UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);
  auto null_in = open_or_throw("/dev/null", O_RDONLY);

  pid_t pid = spawn(argv, {null_in.get(), out_write.get(), err_write.get()});
  out_write.reset();
  err_write.reset();
  auto output = drain(std::move(out_read), std::move(err_read));
  int status = reap_child(pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("valkey-cli " + join(args) + " " + describe_exit(status) + ": " +
                             output.err + output.out);
  }
  if (!output.out.empty() && output.out.back() == '\n') output.out.pop_back();
  return output.out;
}

void ValkeyServer::write_config_file() const {
  if (!options_.command.empty()) return;  // the command brings its own
  std::ofstream conf(dir_ / "valkey.conf", std::ios::trunc);
  conf << "port " << port_ << "\n"
       << "bind 127.0.0.1\n"
       << "daemonize no\n"
       << "dir " << quote_config_value(dir_.string()) << "\n"
       << "logfile " << quote_config_value((dir_ / "valkey.log").string()) << "\n"
       << "loglevel warning\n"
       << "save \"\"\n"
       << "appendonly no\n"
       << "enable-debug-command yes\n";
  if (options_.unix_socket) {
    conf << "unixsocket " << quote_config_value(unix_path()) << "\n"
         << "unixsocketperm 700\n";
  }
  if (!options_.password.empty() && options_.username.empty()) {
    conf << "requirepass " << quote_config_value(options_.password) << "\n";
  }
  for (const auto& rule : options_.acl_users) conf << acl_user_directive(rule) << "\n";
  if (!conf.flush()) throw std::runtime_error("cannot write " + (dir_ / "valkey.conf").string());
}

std::vector<std::string> ValkeyServer::server_arguments() const {
  std::vector<std::string> args;
  if (options_.command.empty()) {
    args = {valkey_server_executable().string(), (dir_ / "valkey.conf").string()};
  } else {
    for (const auto& word : options_.command) args.push_back(in_dir(word));
    args.insert(args.end(),
                {"--port", std::to_string(port_), "--logfile", (dir_ / "valkey.log").string()});
  }
  for (const auto& [name, value] : options_.config) {
    args.push_back("--" + name);
    args.push_back(value);
  }
  return args;
}

void ValkeyServer::launch() {
  // Anything valkey prints before its logfile is open (config errors) lands here.
  auto output = open_or_throw(dir_ / "valkey.out", O_WRONLY | O_CREAT | O_APPEND);
  auto null_in = open_or_throw("/dev/null", O_RDONLY);
  std::vector<std::pair<std::string, std::string>> environment;
  for (const auto& [name, value] : options_.environment)
    environment.emplace_back(name, in_dir(value));
  pid_ = spawn(server_arguments(), {null_in.get(), output.get(), output.get()}, environment);
}

void ValkeyServer::wait_until_ready() {
  const auto deadline = Clock::now() + kReadyDeadline;
  auto backoff = 2ms;
  while (true) {
    if (!running()) {
      int status = reap_child(std::exchange(pid_, -1));
      auto report = failure_report("valkey-server " + describe_exit(status) + " during startup");
      if (file_tail(dir_ / "valkey.log", kLogTailLines).find("Address already in use") !=
          std::string::npos) {
        throw PortInUse(report);
      }
      throw std::runtime_error(report);
    }
    if (answers_as_this_process()) return;
    if (Clock::now() >= deadline) {
      kill();
      throw std::runtime_error(failure_report("valkey-server did not answer within 10 s"));
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, 50ms);
  }
}

// INFO's process_id proves the answer comes from our child, not from another test's server that
// took the port while ours was down or had not bound it yet.
bool ValkeyServer::answers_as_this_process() const {
  auto fd = connect_loopback(port_);
  if (!fd) return false;
  set_io_timeout(fd.get(), kProbeIoTimeout);
  std::string request;
  std::size_t expected = 1;
  if (!options_.username.empty()) {
    request += encode_resp_command({"AUTH", options_.username, options_.password});
    ++expected;
  } else if (!options_.password.empty()) {
    request += encode_resp_command({"AUTH", options_.password});
    ++expected;
  }
  request += encode_resp_command({"INFO", "server"});
  if (!send_all(fd.get(), request)) return false;
  auto replies = read_replies(fd.get(), expected);
  if (!replies) return false;
  const auto& info = replies->back();
  if (info.type == '-') {
    // ACL rules may deny the default user INFO; a reply still shows the server is serving.
    return info.text.rfind("LOADING", 0) != 0;
  }
  return info.text.find("process_id:" + std::to_string(pid_) + "\r\n") != std::string::npos;
}

std::string ValkeyServer::in_dir(const std::string& text) const {
  return replace_all(text, "{dir}", dir_.string());
}

std::string ValkeyServer::failure_report(const std::string& what) const {
  return what + " (port " + std::to_string(port_) + ", dir " + dir_.string() + ")\n" +
         "--- valkey.log (tail) ---\n" + file_tail(dir_ / "valkey.log", kLogTailLines) +
         "--- valkey stdout/stderr (tail) ---\n" + file_tail(dir_ / "valkey.out", kLogTailLines);
}

ValkeyServer& ValkeyTest::server() {
  if (servers_.empty()) return start_server({});
  return *servers_.front();
}

ValkeyServer& ValkeyTest::start_server(ValkeyServerOptions options) {
  servers_.push_back(std::make_unique<ValkeyServer>(std::move(options)));
  return *servers_.back();
}

}  // namespace opencode_cache::testing

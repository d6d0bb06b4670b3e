#include "valkey_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace opencode_cache::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto startup_timeout = std::chrono::seconds(10);
constexpr auto stop_timeout = std::chrono::seconds(5);
constexpr int start_attempts = 3;

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// A port nobody listens on right now. Another process may take it before the server binds
// it; the caller retries with a new one if the server does not come up.
std::uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in address = loopback(0);
  socklen_t length = sizeof address;
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                     ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  const int error = errno;
  ::close(fd);
  if (!bound) throw std::runtime_error(std::string("bind: ") + std::strerror(error));
  return ntohs(address.sin_port);
}

std::string make_temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "opencode-cache-bench-XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  }
  return pattern;
}

// True once the server answers PING on the port.
bool answers_ping(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const sockaddr_in address = loopback(port);
  bool pong = false;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    constexpr std::string_view ping = "PING\r\n";
    std::array<char, 16> reply{};
    pong = ::write(fd, ping.data(), ping.size()) == static_cast<ssize_t>(ping.size()) &&
           ::read(fd, reply.data(), reply.size()) > 0 &&
           std::string_view(reply.data()).starts_with("+PONG");
  }
  ::close(fd);
  return pong;
}

// No persistence; the log goes to stdout, which the child points at a file in `dir`.
std::vector<std::string> server_args(const std::string& host, std::uint16_t port,
                                     const std::string& dir) {
  std::vector<std::string> args = {"valkey-server"};
  const auto option = [&args](std::string_view name, std::string value) {
    args.push_back("--" + std::string(name));
    args.push_back(std::move(value));
  };
  option("bind", host);
  option("port", std::to_string(port));
  option("dir", dir);
  option("save", "");
  option("appendonly", "no");
  option("daemonize", "no");
  option("logfile", "");
  return args;
}

// In the child: the server writes its log to `log_path` and dies with its parent.
[[noreturn]] void exec_server(pid_t parent, const std::string& log_path,
                              const std::vector<std::string>& args) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log >= 0) {
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
  }
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  ::_exit(127);
}

}  // namespace

ValkeyProcess::ValkeyProcess() : dir_(make_temp_dir()) {
  for (int attempt = 1;; ++attempt) {
    try {
      spawn();
      wait_until_ready();
      return;
    } catch (const std::runtime_error&) {
      stop();
      if (attempt == start_attempts) {
        const std::string log = log_tail();
        std::filesystem::remove_all(dir_);
        throw std::runtime_error("valkey-server did not start; its log:\n" + log);
      }
    }
  }
}

ValkeyProcess::~ValkeyProcess() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void ValkeyProcess::spawn() {
  port_ = free_loopback_port();
  const std::vector<std::string> args = server_args(host_, port_, dir_);
  const pid_t parent = ::getpid();
  const std::string log_path = dir_ + "/valkey.log";
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) exec_server(parent, log_path, args);
}

void ValkeyProcess::wait_until_ready() {
  const auto give_up = Clock::now() + startup_timeout;
  while (Clock::now() < give_up) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;  // reaped: never signal that pid again
      throw std::runtime_error("valkey-server exited at start");
    }
    if (answers_ping(port_)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("valkey-server did not answer PING in time");
}

void ValkeyProcess::stop() noexcept {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  const auto give_up = Clock::now() + stop_timeout;
  int status = 0;
  pid_t waited = 0;
  while ((waited = ::waitpid(pid_, &status, WNOHANG)) == 0 && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (waited == 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
  pid_ = -1;
}

std::string ValkeyProcess::log_tail() const {
  std::ifstream log(dir_ + "/valkey.log");
  std::ostringstream text;
  text << log.rdbuf();
  const std::string all = text.str();
  constexpr std::size_t tail = 4000;
  return all.size() > tail ? all.substr(all.size() - tail) : all;
}

}  // namespace opencode_cache::bench

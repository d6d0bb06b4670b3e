#include "server/support/sse_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <stdexcept>

namespace opencode_cache::testing {
namespace {

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string trim_leading_space(std::string_view text) {
  if (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  return std::string(text);
}

}  // namespace

SseClient::SseClient(std::uint16_t port, const std::string& target,
                     const std::vector<std::pair<std::string, std::string>>& headers) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error("cannot connect to the gateway");
  }
  std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  request += "Accept: text/event-stream\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  request += "\r\n";
  if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    throw std::runtime_error("cannot send the request");
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::size_t head_end;
  while ((head_end = raw_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill(deadline)) throw std::runtime_error("no response head");
  }
  const std::string head = raw_.substr(0, head_end);
  raw_.erase(0, head_end + 4);
  status_ = std::stoi(head.substr(9, 3));
  std::size_t at = head.find("\r\n");
  while (at != std::string::npos) {
    const std::size_t next = head.find("\r\n", at + 2);
    const std::string line = head.substr(at + 2, next == std::string::npos ? next : next - at - 2);
    const std::size_t colon = line.find(':');
    if (colon != std::string::npos) {
      headers_[lower(line.substr(0, colon))] = trim_leading_space(line.substr(colon + 1));
    }
    at = next;
  }
  if (header("transfer-encoding") != "chunked") {
    const std::size_t length =
        std::stoul(header("content-length").empty() ? "0" : header("content-length"));
    while (raw_.size() < length && fill(deadline)) {
    }
    body_ = raw_.substr(0, length);
    ended_ = true;
  }
}

SseClient::~SseClient() {
  close();
}

std::string SseClient::header(const std::string& lower_name) const {
  const auto it = headers_.find(lower_name);
  return it == headers_.end() ? "" : it->second;
}

void SseClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool SseClient::fill(std::chrono::steady_clock::time_point deadline) {
  if (fd_ < 0) return false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd waiting{fd_, POLLIN, 0};
  if (::poll(&waiting, 1, static_cast<int>(left.count())) <= 0) return false;
  char buffer[4096];
  const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
  if (got <= 0) {
    ended_ = true;
    return false;
  }
  raw_.append(buffer, static_cast<std::size_t>(got));
  return true;
}

void SseClient::decode_chunks() {
  while (true) {
    const std::size_t line_end = raw_.find("\r\n");
    if (line_end == std::string::npos) return;
    const std::size_t size = std::stoul(raw_.substr(0, line_end), nullptr, 16);
    if (size == 0) {
      ended_ = true;
      clean_end_ = true;
      raw_.clear();
      return;
    }
    if (raw_.size() < line_end + 2 + size + 2) return;
    decoded_.append(raw_, line_end + 2, size);
    raw_.erase(0, line_end + 2 + size + 2);
  }
}

std::optional<SseEvent> SseClient::parse_event() {
  while (true) {
    const std::size_t end = decoded_.find("\n\n");
    if (end == std::string::npos) return std::nullopt;
    const std::string block = decoded_.substr(0, end + 1);
    decoded_.erase(0, end + 2);
    SseEvent event;
    bool any_field = false;
    std::size_t at = 0;
    while (at < block.size()) {
      const std::size_t next = block.find('\n', at);
      const std::string line = block.substr(at, next - at);
      at = next + 1;
      if (line.starts_with(":")) {
        ++comments_;
        continue;
      }
      const std::size_t colon = line.find(':');
      const std::string field = line.substr(0, colon);
      const std::string value =
          colon == std::string::npos ? "" : trim_leading_space(line.substr(colon + 1));
      if (field == "id") event.id = value;
      if (field == "event") event.type = value;
      if (field == "data") event.data += value;
      if (field == "id" || field == "event" || field == "data") any_field = true;
    }
    if (any_field) return event;
  }
}

void SseClient::parse_all() {
  decode_chunks();
  while (auto event = parse_event()) events_.push_back(std::move(*event));
}

std::optional<SseEvent> SseClient::next(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    parse_all();
    if (!events_.empty()) {
      SseEvent event = std::move(events_.front());
      events_.pop_front();
      return event;
    }
    if (ended_ || !fill(deadline)) return std::nullopt;
  }
}

bool SseClient::wait_for_comments(std::size_t count, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    parse_all();
    if (comments_ >= count) return true;
    if (ended_ || !fill(deadline)) return false;
  }
}

std::optional<SseEvent> SseClient::next_of(const std::string& type,
                                           std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto event = next(std::max(left, std::chrono::milliseconds(1)));
    if (!event || event->type == type) return event;
  }
}

}  // namespace opencode_cache::testing

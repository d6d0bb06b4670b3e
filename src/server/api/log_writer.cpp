#include "server/api/log_writer.hpp"

#include <limits.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <charconv>

#include "server/gateway/canonical_json.hpp"

namespace opencode_cache::server::api {

namespace {

// A buffer that grew for a burst is not kept for the thread's lifetime.
constexpr std::size_t kept_capacity = 64 * 1024;

void write_fully(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;  // nowhere to log to: drop the lines rather than block the loop
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
}

// The longest prefix of whole lines that fits one atomic write (a longer line goes alone).
std::size_t atomic_prefix(std::string_view bytes) {
  if (bytes.size() <= PIPE_BUF) return bytes.size();
  const auto last_newline = bytes.rfind('\n', PIPE_BUF - 1);
  if (last_newline != std::string_view::npos) return last_newline + 1;
  const auto first_newline = bytes.find('\n');
  return first_newline == std::string_view::npos ? bytes.size() : first_newline + 1;
}

}  // namespace

LogLine::LogLine(LogWriter& writer) : writer_(writer), out_(writer.buffer_) {
  out_ += '{';
}

LogLine::~LogLine() {
  out_ += '}';
  writer_.line_ended();
}

void LogLine::name(std::string_view name) {
  if (!first_) out_ += ',';
  first_ = false;
  gateway::append_canonical_string(name, out_);
  out_ += ':';
}

LogLine& LogLine::field(std::string_view name, std::string_view value) {
  this->name(name);
  gateway::append_canonical_string(value, out_);
  return *this;
}

LogLine& LogLine::field(std::string_view name, std::int64_t value) {
  this->name(name);
  char digits[24];
  out_.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
  return *this;
}

LogLine& LogLine::field(std::string_view name, bool value) {
  this->name(name);
  out_ += value ? "true" : "false";
  return *this;
}

LogWriter::LogWriter(boost::asio::any_io_executor executor, int fd)
    : executor_(std::move(executor)), fd_(fd) {}

LogWriter::~LogWriter() {
  flush();
}

void LogWriter::write_line(std::string_view line) {
  buffer_ += line;
  line_ended();
}

void LogWriter::line_ended() {
  buffer_ += '\n';
  if (flush_posted_) return;
  flush_posted_ = true;
  boost::asio::post(executor_, [this] { flush(); });
}

void LogWriter::flush() {
  flush_posted_ = false;
  std::string_view pending = buffer_;
  while (!pending.empty()) {
    const std::size_t size = atomic_prefix(pending);
    write_fully(fd_, pending.substr(0, size));
    pending.remove_prefix(size);
  }
  buffer_.clear();
  if (buffer_.capacity() > kept_capacity) std::string().swap(buffer_);
}

}  // namespace opencode_cache::server::api

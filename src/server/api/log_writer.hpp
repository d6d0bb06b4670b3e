// The log lines of one event loop thread, written to stderr once per loop turn: under load a
// turn answers many requests, and one write(2) for all their lines costs less than one each.
// Each write holds whole lines and at most PIPE_BUF bytes, so that lines from several threads
// never interleave, even on a pipe. A crash loses at most the lines of the turn it happened in.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace opencode_cache::server::api {

class LogWriter;

// One JSON object on one line, written field by field straight into the writer's buffer (no
// document built first); the line ends when the LogLine goes.
class LogLine {
 public:
  explicit LogLine(LogWriter& writer);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  LogLine& field(std::string_view name, std::string_view value);
  LogLine& field(std::string_view name, const char* value) {
    return field(name, std::string_view(value));
  }
  LogLine& field(std::string_view name, std::int64_t value);
  LogLine& field(std::string_view name, bool value);

 private:
  void name(std::string_view name);
  LogWriter& writer_;
  std::string& out_;
  bool first_ = true;
};

class LogWriter {
 public:
  explicit LogWriter(boost::asio::any_io_executor executor, int fd = 2);
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // One line, without its newline; written at the end of this loop turn.
  void write_line(std::string_view line);
  LogLine line() { return LogLine(*this); }
  // Writes what is buffered now (at shutdown, or before an abort).
  void flush();

 private:
  friend class LogLine;
  void line_ended();
  boost::asio::any_io_executor executor_;
  int fd_;
  std::string buffer_;
  bool flush_posted_ = false;
};

}  // namespace opencode_cache::server::api

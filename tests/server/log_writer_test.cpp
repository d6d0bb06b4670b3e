#include "server/api/log_writer.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <string>
#include <vector>

namespace opencode_cache::server::api {
namespace {

// A socket pair that keeps each write(2) a record of its own, so that a test sees how the
// writer cut its bytes (a pipe would merge them).
class Pipe {
 public:
  Pipe() {
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds_), 0);
    ::fcntl(fds_[0], F_SETFL, O_NONBLOCK);
  }
  ~Pipe() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  int write_end() const { return fds_[1]; }
  // What each write(2) put there, one record per read(2).
  std::vector<std::string> reads() {
    std::vector<std::string> out;
    char buffer[1 << 16];
    for (;;) {
      const ssize_t n = ::read(fds_[0], buffer, sizeof buffer);
      if (n <= 0) break;
      out.emplace_back(buffer, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  int fds_[2] = {-1, -1};
};

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& part : parts) out += part;
  return out;
}

TEST(LogWriter, LinesOfOneLoopTurnAreWrittenWhenItEnds) {
  Pipe pipe;
  boost::asio::io_context io;
  LogWriter log(io.get_executor(), pipe.write_end());
  log.write_line(R"({"msg":"one"})");
  log.write_line(R"({"msg":"two"})");
  EXPECT_TRUE(pipe.reads().empty());
  io.run();
  EXPECT_EQ(joined(pipe.reads()), "{\"msg\":\"one\"}\n{\"msg\":\"two\"}\n");
}

TEST(LogWriter, EachWriteHoldsWholeLinesWithinPipeBuf) {
  Pipe pipe;
  boost::asio::io_context io;
  LogWriter log(io.get_executor(), pipe.write_end());
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    const std::string line = "{\"line\":" + std::to_string(i) + ",\"pad\":\"" +
                             std::string(static_cast<std::size_t>(50 + i), 'p') + "\"}";
    log.write_line(line);
    expected += line + "\n";
  }
  log.flush();
  const auto reads = pipe.reads();
  EXPECT_GT(reads.size(), 1u);
  for (const auto& part : reads) {
    EXPECT_LE(part.size(), static_cast<std::size_t>(PIPE_BUF));
    EXPECT_EQ(part.back(), '\n');
  }
  EXPECT_EQ(joined(reads), expected);
}

TEST(LogWriter, WhatIsLeftIsWrittenWhenTheWriterGoes) {
  Pipe pipe;
  {
    boost::asio::io_context io;
    LogWriter log(io.get_executor(), pipe.write_end());
    log.write_line("last words");
  }
  EXPECT_EQ(joined(pipe.reads()), "last words\n");
}

TEST(LogWriter, ALineIsOneJsonObjectWithItsStringsEscaped) {
  Pipe pipe;
  boost::asio::io_context io;
  LogWriter log(io.get_executor(), pipe.write_end());
  log.line()
      .field("msg", "say \"hi\"\\now\n")
      .field("status", std::int64_t{-42})
      .field("gone", true)
      .field("bell", std::string_view("\x07", 1));
  log.flush();
  EXPECT_EQ(joined(pipe.reads()),
            "{\"msg\":\"say \\\"hi\\\"\\\\now\\n\",\"status\":-42,\"gone\":true,"
            "\"bell\":\"\\u0007\"}\n");
}

}  // namespace
}  // namespace opencode_cache::server::api

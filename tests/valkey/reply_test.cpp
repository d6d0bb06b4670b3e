// Typed views of replies: the happy paths, error replies and replies of the wrong type.

#include "opencode_cache/valkey/reply.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "opencode_cache/valkey/error.hpp"
#include "opencode_cache/valkey/resp_parser.hpp"

namespace opencode_cache::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using valkey::errc;
using valkey::ServerError;
using valkey::resp::parse_one;
namespace reply = valkey::reply;

// Runs `convert` and returns the ServerError it throws.
ServerError server_error_from(const std::function<void()>& convert) {
  try {
    convert();
  } catch (const ServerError& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected ServerError, got " << e.what();
    return ServerError("NONE");
  }
  ADD_FAILURE() << "expected ServerError, nothing thrown";
  return ServerError("NONE");
}

// Runs `convert` and returns the Error it throws, which must not be a ServerError.
valkey::Error error_from(const std::function<void()>& convert) {
  try {
    convert();
  } catch (const ServerError& e) {
    ADD_FAILURE() << "expected a non-server Error, got ServerError " << e.what();
    return e;
  } catch (const valkey::Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected Error, nothing thrown";
  return valkey::Error(errc::server_error, "none");
}

TEST(Reply, OptionalString) {
  EXPECT_EQ(reply::to_optional_string(parse_one("$5\r\nhello\r\n")), "hello");
  EXPECT_EQ(reply::to_optional_string(parse_one("$0\r\n\r\n")), "");
  EXPECT_EQ(reply::to_optional_string(parse_one("+PONG\r\n")), "PONG");
  EXPECT_EQ(reply::to_optional_string(parse_one("=7\r\ntxt:abc\r\n")), "abc");
  EXPECT_EQ(reply::to_optional_string(parse_one("_\r\n")), std::nullopt);
  EXPECT_EQ(reply::to_optional_string(parse_one("$-1\r\n")), std::nullopt);
  EXPECT_EQ(reply::to_optional_string(parse_one(std::string("$3\r\na\0b\r\n", 9))),
            std::string("a\0b", 3));
}

TEST(Reply, String) {
  EXPECT_EQ(reply::to_string(parse_one("$2\r\nhi\r\n")), "hi");
  EXPECT_EQ(error_from([] { reply::to_string(parse_one("_\r\n")); }).code(),
            errc::unexpected_reply);
}

TEST(Reply, Integer) {
  EXPECT_EQ(reply::to_integer(parse_one(":42\r\n")), 42);
  EXPECT_EQ(reply::to_integer(parse_one(":-2\r\n")), -2);
  EXPECT_EQ(reply::to_integer(parse_one(":9223372036854775807\r\n")), INT64_MAX);
}

TEST(Reply, Ok) {
  EXPECT_TRUE(reply::to_ok(parse_one("+OK\r\n")));
  EXPECT_FALSE(reply::to_ok(parse_one("_\r\n")));
  EXPECT_FALSE(reply::to_ok(parse_one("$-1\r\n")));
}

TEST(Reply, OptionalStrings) {
  const auto values = reply::to_optional_strings(parse_one("*3\r\n$1\r\na\r\n_\r\n$1\r\nc\r\n"));
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values[0], "a");
  EXPECT_EQ(values[1], std::nullopt);
  EXPECT_EQ(values[2], "c");
  EXPECT_TRUE(reply::to_optional_strings(parse_one("*0\r\n")).empty());
}

TEST(Reply, StringPairsFromAResp3Map) {
  EXPECT_THAT(
      reply::to_string_pairs(parse_one("%2\r\n$2\r\nf1\r\n$2\r\nv1\r\n+f2\r\n$2\r\nv2\r\n")),
      ElementsAre(Pair("f1", "v1"), Pair("f2", "v2")));
  EXPECT_TRUE(reply::to_string_pairs(parse_one("%0\r\n")).empty());
}

TEST(Reply, StringPairsFromAResp2FlatArray) {
  EXPECT_THAT(
      reply::to_string_pairs(parse_one("*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n")),
      ElementsAre(Pair("a", "1"), Pair("b", "2")));
}

TEST(Reply, ErrorReplyThrowsServerErrorWithItsPrefix) {
  const std::string wrongtype =
      "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
  for (const auto& convert : std::vector<std::function<void()>>{
           [&] { reply::to_optional_string(parse_one(wrongtype)); },
           [&] { reply::to_string(parse_one(wrongtype)); },
           [&] { reply::to_integer(parse_one(wrongtype)); },
           [&] { reply::to_ok(parse_one(wrongtype)); },
           [&] { reply::to_optional_strings(parse_one(wrongtype)); },
           [&] { reply::to_string_pairs(parse_one(wrongtype)); },
           [&] { reply::throw_if_error(parse_one(wrongtype)); },
       }) {
    const auto e = server_error_from(convert);
    EXPECT_EQ(e.code(), errc::server_error);
    EXPECT_EQ(e.prefix(), "WRONGTYPE");
    EXPECT_EQ(e.message(), "WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT_THAT(e.what(), HasSubstr("wrong kind of value"));
  }
}

TEST(Reply, BlobErrorIsAServerErrorToo) {
  const auto e = server_error_from([] { reply::to_integer(parse_one("!10\r\nSYNTAX bad\r\n")); });
  EXPECT_EQ(e.prefix(), "SYNTAX");
  EXPECT_EQ(e.message(), "SYNTAX bad");
}

TEST(Reply, ErrorWithoutASpaceIsAllPrefix) {
  const auto e = server_error_from([] { reply::to_ok(parse_one("-NOAUTH\r\n")); });
  EXPECT_EQ(e.prefix(), "NOAUTH");
}

TEST(Reply, ErrorInsideAnArrayThrows) {
  const auto e = server_error_from(
      [] { reply::to_optional_strings(parse_one("*2\r\n$1\r\na\r\n-ERR inner\r\n")); });
  EXPECT_EQ(e.prefix(), "ERR");
}

TEST(Reply, NonErrorRepliesDoNotThrow) {
  EXPECT_NO_THROW(reply::throw_if_error(parse_one("+OK\r\n")));
  EXPECT_NO_THROW(reply::throw_if_error(parse_one("_\r\n")));
}

TEST(Reply, WrongTypeIsAnUnexpectedReply) {
  struct Case {
    const char* what;
    std::function<void()> convert;
  };
  const std::vector<Case> cases = {
      {"integer as string", [] { reply::to_optional_string(parse_one(":1\r\n")); }},
      {"array as string", [] { reply::to_optional_string(parse_one("*1\r\n:1\r\n")); }},
      {"string as integer", [] { reply::to_integer(parse_one("$2\r\n42\r\n")); }},
      {"null as integer", [] { reply::to_integer(parse_one("_\r\n")); }},
      {"integer as OK", [] { reply::to_ok(parse_one(":1\r\n")); }},
      {"bulk as array", [] { reply::to_optional_strings(parse_one("$1\r\na\r\n")); }},
      {"integer in array", [] { reply::to_optional_strings(parse_one("*1\r\n:1\r\n")); }},
      {"integer as map", [] { reply::to_string_pairs(parse_one(":1\r\n")); }},
      {"odd flat array", [] { reply::to_string_pairs(parse_one("*1\r\n$1\r\na\r\n")); }},
      {"integer in map", [] { reply::to_string_pairs(parse_one("%1\r\n$1\r\na\r\n:1\r\n")); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    const auto e = error_from(c.convert);
    EXPECT_EQ(e.code(), errc::unexpected_reply);
    EXPECT_THAT(e.what(), HasSubstr("expected"));
  }
}

TEST(Reply, UnexpectedReplyNamesWhatCame) {
  const auto e = error_from([] { reply::to_integer(parse_one("$5\r\nhello\r\n")); });
  EXPECT_THAT(e.what(), HasSubstr("an integer"));
  EXPECT_THAT(e.what(), HasSubstr("hello"));
}

}  // namespace
}  // namespace opencode_cache::testing

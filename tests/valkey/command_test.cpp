#include "opencode_cache/valkey/command.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "opencode_cache/valkey/resp_parser.hpp"

namespace opencode_cache::valkey {
namespace {

using namespace std::string_literals;

// The arguments a server would see: the command parsed back as RESP. Fails the test unless it
// is an array of bulk strings.
std::vector<std::string> decoded_arguments(const Command& command) {
  const resp::Value value = resp::parse_one(command.encoded());
  EXPECT_EQ(value.type, resp::Type::array);
  std::vector<std::string> arguments;
  for (const resp::Value& element : value.elements) {
    EXPECT_EQ(element.type, resp::Type::bulk_string);
    arguments.push_back(element.string);
  }
  return arguments;
}

TEST(Command, EncodesStringArgumentsAsArrayOfBulkStrings) {
  EXPECT_EQ(Command("SET", "key", "value").encoded(),
            "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
}

TEST(Command, AcceptsEveryStringType) {
  const std::string owned = "b";
  const std::string_view view = "c";
  EXPECT_EQ(Command("MGET", "a", owned, view).encoded(),
            "*4\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
}

TEST(Command, EncodesEmptyArgument) {
  EXPECT_EQ(Command("SET", "k", "").encoded(), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
}

TEST(Command, EncodesBinaryValuesByLength) {
  const std::string binary = "a\r\nb\0c\xff"s;
  EXPECT_EQ(Command("SET", "k", binary).encoded(),
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$7\r\n"s + binary + "\r\n");
}

TEST(Command, EncodesIntegers) {
  EXPECT_EQ(Command("EXPIRE", "k", 60).encoded(), "*3\r\n$6\r\nEXPIRE\r\n$1\r\nk\r\n$2\r\n60\r\n");
  EXPECT_EQ(decoded_arguments(Command("INCRBY", "k", -42)),
            (std::vector<std::string>{"INCRBY", "k", "-42"}));
  EXPECT_EQ(decoded_arguments(Command("X", 0, short{-7}, 3U, std::size_t{12})),
            (std::vector<std::string>{"X", "0", "-7", "3", "12"}));
}

TEST(Command, EncodesInt64Extremes) {
  EXPECT_EQ(decoded_arguments(Command("X", std::numeric_limits<std::int64_t>::max(),
                                      std::numeric_limits<std::int64_t>::min())),
            (std::vector<std::string>{"X", "9223372036854775807", "-9223372036854775808"}));
}

TEST(Command, EncodesLargeUnsignedWithoutWrapping) {
  EXPECT_EQ(decoded_arguments(Command("X", std::numeric_limits<std::uint64_t>::max())),
            (std::vector<std::string>{"X", "18446744073709551615"}));
}

TEST(Command, EncodesDoublesInShortestRoundTripForm) {
  EXPECT_EQ(decoded_arguments(Command("ZADD", "z", 1.5, 0.1, -2.0, 1e100, 3.0e-5)),
            (std::vector<std::string>{"ZADD", "z", "1.5", "0.1", "-2", "1e+100", "3e-05"}));
}

TEST(Command, EncodesInfinitiesAsValkeyAcceptsThem) {
  EXPECT_EQ(decoded_arguments(Command("ZADD", std::numeric_limits<double>::infinity(),
                                      -std::numeric_limits<double>::infinity())),
            (std::vector<std::string>{"ZADD", "inf", "-inf"}));
}

TEST(Command, ArgsAppendsEveryElementOfARange) {
  const std::vector<std::string> keys = {"a", "b", "c"};
  const std::array<int, 2> numbers = {1, -2};
  Command command("DEL");
  command.args(keys).args(numbers).arg("end");
  EXPECT_EQ(decoded_arguments(command),
            (std::vector<std::string>{"DEL", "a", "b", "c", "1", "-2", "end"}));
  EXPECT_EQ(command.argument_count(), 7U);
}

TEST(Command, EmptyRangeAddsNothing) {
  Command command("DEL");
  command.args(std::vector<std::string>{});
  EXPECT_EQ(command.encoded(), "*1\r\n$3\r\nDEL\r\n");
}

TEST(Command, NameIsTheFirstArgument) {
  EXPECT_EQ(Command("GET", "key").name(), "GET");
  Command built;
  EXPECT_EQ(built.name(), "");
  built.arg("hset").arg("h").arg("f").arg(1);
  EXPECT_EQ(built.name(), "hset");
}

TEST(Command, ArgumentCountIncludesTheName) {
  Command command;
  EXPECT_TRUE(command.empty());
  EXPECT_EQ(command.argument_count(), 0U);
  command.arg("PING");
  EXPECT_FALSE(command.empty());
  EXPECT_EQ(command.argument_count(), 1U);
  EXPECT_EQ(Command("SET", "k", "v", "EX", 10).argument_count(), 5U);
}

TEST(Command, EncodeToAppendsForPipelining) {
  std::string out = "+prefix";
  Command("PING").encode_to(out);
  Command("GET", "k").encode_to(out);
  EXPECT_EQ(out, "+prefix*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
}

TEST(Command, RoundTripsThroughTheParser) {
  const std::string binary = "\0\r\n$3\r\n*1\r\n"s;
  const std::string large(100000, 'x');
  const Command command("SET", binary, large, 5, 2.5, "");
  EXPECT_EQ(decoded_arguments(command),
            (std::vector<std::string>{"SET", binary, large, "5", "2.5", ""}));
}

}  // namespace
}  // namespace opencode_cache::valkey

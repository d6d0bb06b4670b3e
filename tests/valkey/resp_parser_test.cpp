#include "opencode_cache/valkey/resp_parser.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace opencode_cache::valkey::resp {

// Internal linkage so that another test file printing Value cannot clash at link time; ADL
// still finds it because it lives in Value's namespace.
[[maybe_unused]] static void PrintTo(const Value& value, std::ostream* os) {
  *os << to_string(value.type) << ' ' << to_debug_string(value);
  if (!value.attributes.empty()) *os << " with " << value.attributes.size() << " attribute items";
}

namespace {

using namespace std::string_literals;
using Status = Parser::Status;

Value scalar(Type type, std::string text = {}) {
  Value value;
  value.type = type;
  value.string = std::move(text);
  return value;
}

Value simple(std::string text) {
  return scalar(Type::simple_string, std::move(text));
}
Value bulk(std::string text) {
  return scalar(Type::bulk_string, std::move(text));
}
Value null() {
  return scalar(Type::null);
}

Value integer(std::int64_t number) {
  Value value = scalar(Type::integer);
  value.integer = number;
  return value;
}

Value boolean(bool flag) {
  Value value = scalar(Type::boolean);
  value.integer = flag ? 1 : 0;
  return value;
}

Value double_number(double number, std::string text) {
  Value value = scalar(Type::double_number, std::move(text));
  value.number = number;
  return value;
}

Value verbatim(std::string format, std::string text) {
  Value value = scalar(Type::verbatim_string, std::move(text));
  value.format = std::move(format);
  return value;
}

Value aggregate(Type type, std::vector<Value> elements) {
  Value value = scalar(type);
  value.elements = std::move(elements);
  return value;
}

Value array(std::vector<Value> elements) {
  return aggregate(Type::array, std::move(elements));
}

Value with_attributes(Value value, std::vector<Value> attributes) {
  value.attributes = std::move(attributes);
  return value;
}

struct Decoded {
  std::vector<Value> replies;
  std::string error;  // the parser's message if it failed
  std::size_t left_over = 0;
};

// Feeds the chunks one after another the way a client reads a socket: unconsumed bytes stay in
// the buffer and the parser is asked again once more bytes arrived.
Decoded decode_chunks(const std::vector<std::string_view>& chunks, ParserLimits limits = {}) {
  Parser parser(limits);
  ValueBuilder builder;
  Decoded out;
  std::string buffer;
  for (const std::string_view chunk : chunks) {
    buffer.append(chunk);
    std::size_t offset = 0;
    while (true) {
      const auto result = parser.next(std::string_view(buffer).substr(offset));
      if (result.status == Status::need_more) {
        EXPECT_EQ(result.consumed, 0U);
        break;
      }
      if (result.status == Status::error) {
        out.error = parser.error();
        return out;
      }
      EXPECT_LE(result.consumed, buffer.size() - offset);
      builder.add(result.node);
      offset += result.consumed;
      if (parser.reply_complete()) out.replies.push_back(builder.take());
    }
    buffer.erase(0, offset);
  }
  out.left_over = buffer.size();
  return out;
}

Decoded decode(std::string_view stream, ParserLimits limits = {}) {
  return decode_chunks({stream}, limits);
}

std::vector<std::string_view> chunks_of(std::string_view stream, std::size_t size) {
  std::vector<std::string_view> chunks;
  for (std::size_t i = 0; i < stream.size(); i += size) chunks.push_back(stream.substr(i, size));
  return chunks;
}

// The error message of a parser fed `bytes` whole, or "" if it did not fail.
std::string error_of(std::string_view bytes, ParserLimits limits = {}) {
  return decode(bytes, limits).error;
}

std::vector<Node> nodes_of(std::string_view bytes) {
  Parser parser;
  std::vector<Node> nodes;
  while (!bytes.empty()) {
    const auto result = parser.next(bytes);
    if (result.status != Status::node) break;
    nodes.push_back(result.node);
    bytes.remove_prefix(result.consumed);
  }
  return nodes;
}

// ---------------------------------------------------------------------------------------------
// Every RESP3 type

TEST(RespParserTypes, SimpleString) {
  EXPECT_EQ(parse_one("+OK\r\n"), simple("OK"));
  EXPECT_EQ(parse_one("+\r\n"), simple(""));
}

TEST(RespParserTypes, SimpleStringKeepsBareCarriageReturns) {
  // Short and long lines, as the search for CRLF takes a different path past 16 bytes.
  EXPECT_EQ(parse_one("+a\rb\r\n"), simple("a\rb"));
  const std::string long_line = std::string(20, 'x') + "\r\r" + std::string(20, 'y') + "\r";
  EXPECT_EQ(parse_one("+" + long_line + "\r\n"), simple(long_line));
}

TEST(RespParserTypes, SimpleError) {
  const Value value = parse_one("-ERR unknown command 'FOO'\r\n");
  EXPECT_EQ(value, scalar(Type::simple_error, "ERR unknown command 'FOO'"));
  EXPECT_TRUE(value.is_error());
}

TEST(RespParserTypes, Integer) {
  EXPECT_EQ(parse_one(":42\r\n"), integer(42));
  EXPECT_EQ(parse_one(":-7\r\n"), integer(-7));
  EXPECT_EQ(parse_one(":+5\r\n"), integer(5));
  EXPECT_EQ(parse_one(":0\r\n"), integer(0));
  EXPECT_EQ(parse_one(":9223372036854775807\r\n"),
            integer(std::numeric_limits<std::int64_t>::max()));
  EXPECT_EQ(parse_one(":-9223372036854775808\r\n"),
            integer(std::numeric_limits<std::int64_t>::min()));
}

TEST(RespParserTypes, BulkString) {
  EXPECT_EQ(parse_one("$5\r\nhello\r\n"), bulk("hello"));
  EXPECT_TRUE(parse_one("$5\r\nhello\r\n").is_string());
}

TEST(RespParserTypes, EmptyBulkString) {
  EXPECT_EQ(parse_one("$0\r\n\r\n"), bulk(""));
}

TEST(RespParserTypes, BinaryBulkStringKeepsEmbeddedCrlfAndNul) {
  const std::string payload = "a\r\nb\0c\r\n\xff"s;
  ASSERT_EQ(payload.size(), 9U);
  EXPECT_EQ(parse_one("$9\r\n" + payload + "\r\n"), bulk(payload));
}

TEST(RespParserTypes, Array) {
  EXPECT_EQ(parse_one("*3\r\n$1\r\na\r\n:1\r\n+b\r\n"),
            array({bulk("a"), integer(1), simple("b")}));
}

TEST(RespParserTypes, Resp2NullBulkStringAndNullArray) {
  EXPECT_EQ(parse_one("$-1\r\n"), null());
  EXPECT_EQ(parse_one("*-1\r\n"), null());
  EXPECT_TRUE(parse_one("$-1\r\n").is_null());
  EXPECT_EQ(parse_one("*2\r\n$-1\r\n*-1\r\n"), array({null(), null()}));
}

TEST(RespParserTypes, Resp3Null) {
  EXPECT_EQ(parse_one("_\r\n"), null());
  EXPECT_TRUE(parse_one("_\r\n").is_null());
}

TEST(RespParserTypes, Boolean) {
  EXPECT_EQ(parse_one("#t\r\n"), boolean(true));
  EXPECT_EQ(parse_one("#f\r\n"), boolean(false));
}

TEST(RespParserTypes, Double) {
  EXPECT_EQ(parse_one(",3.14\r\n"), double_number(3.14, "3.14"));
  EXPECT_EQ(parse_one(",-2\r\n"), double_number(-2.0, "-2"));
  EXPECT_EQ(parse_one(",1.5e3\r\n"), double_number(1500.0, "1.5e3"));
  EXPECT_EQ(parse_one(",-2.5E-3\r\n"), double_number(-0.0025, "-2.5E-3"));
  EXPECT_EQ(parse_one(",+7.25\r\n"), double_number(7.25, "+7.25"));
}

TEST(RespParserTypes, DoubleInfinitiesAndNan) {
  EXPECT_EQ(parse_one(",inf\r\n"), double_number(std::numeric_limits<double>::infinity(), "inf"));
  EXPECT_EQ(parse_one(",-inf\r\n"),
            double_number(-std::numeric_limits<double>::infinity(), "-inf"));
  const Value nan = parse_one(",nan\r\n");
  EXPECT_EQ(nan.type, Type::double_number);
  EXPECT_TRUE(std::isnan(nan.number));
  EXPECT_EQ(nan.string, "nan");
}

TEST(RespParserTypes, DoubleOutOfRangeBecomesInfinityOrZero) {
  EXPECT_EQ(parse_one(",1e400\r\n").number, std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse_one(",-12.5e400\r\n").number, -std::numeric_limits<double>::infinity());
  const double tiny = parse_one(",-1e-400\r\n").number;
  EXPECT_EQ(tiny, 0.0);
  EXPECT_TRUE(std::signbit(tiny));
  EXPECT_EQ(parse_one(",0.00001e-400\r\n").number, 0.0);
}

TEST(RespParserTypes, BigNumber) {
  EXPECT_EQ(parse_one("(3492890328409238509324850943850943825024385\r\n"),
            scalar(Type::big_number, "3492890328409238509324850943850943825024385"));
  EXPECT_EQ(parse_one("(-12345678901234567890\r\n"),
            scalar(Type::big_number, "-12345678901234567890"));
}

TEST(RespParserTypes, VerbatimStringSplitsFormatFromText) {
  const Value value = parse_one("=15\r\ntxt:Some string\r\n");
  EXPECT_EQ(value, verbatim("txt", "Some string"));
  EXPECT_TRUE(value.is_string());
  EXPECT_EQ(parse_one("=4\r\nmkd:\r\n"), verbatim("mkd", ""));
}

TEST(RespParserTypes, Map) {
  EXPECT_EQ(parse_one("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n"),
            aggregate(Type::map, {simple("first"), integer(1), simple("second"), integer(2)}));
}

TEST(RespParserTypes, Set) {
  EXPECT_EQ(parse_one("~3\r\n+orange\r\n+apple\r\n#t\r\n"),
            aggregate(Type::set, {simple("orange"), simple("apple"), boolean(true)}));
}

TEST(RespParserTypes, Push) {
  EXPECT_EQ(parse_one(">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"),
            aggregate(Type::push, {bulk("message"), bulk("news"), bulk("hello")}));
}

TEST(RespParserTypes, BlobError) {
  const Value value = parse_one("!21\r\nSYNTAX invalid syntax\r\n");
  EXPECT_EQ(value, scalar(Type::blob_error, "SYNTAX invalid syntax"));
  EXPECT_TRUE(value.is_error());
}

TEST(RespParserTypes, AttributeAtTopLevelAttachesToTheReply) {
  // The example of the RESP3 specification.
  const std::string bytes =
      "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
      "*2\r\n:2039123\r\n:9543892\r\n";
  const Value expected =
      with_attributes(array({integer(2039123), integer(9543892)}),
                      {simple("key-popularity"),
                       aggregate(Type::map, {bulk("a"), double_number(0.1923, "0.1923"), bulk("b"),
                                             double_number(0.0012, "0.0012")})});
  EXPECT_EQ(parse_one(bytes), expected);
}

TEST(RespParserTypes, AttributeInsideArrayIsNotAnElement) {
  const Value value = parse_one("*2\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n");
  EXPECT_EQ(value,
            array({integer(1), with_attributes(integer(2), {simple("ttl"), integer(3600)})}));
  EXPECT_EQ(value.elements.size(), 2U);
}

TEST(RespParserTypes, TopLevelAttributeDoesNotCompleteTheReply) {
  Parser parser;
  std::string_view bytes = "|1\r\n+k\r\n+v\r\n:7\r\n";
  std::vector<bool> completes;
  while (!bytes.empty()) {
    const auto result = parser.next(bytes);
    ASSERT_EQ(result.status, Status::node);
    bytes.remove_prefix(result.consumed);
    completes.push_back(parser.reply_complete());
  }
  EXPECT_EQ(completes, (std::vector<bool>{false, false, false, true}));
}

TEST(RespParserTypes, NestedAggregates) {
  EXPECT_EQ(parse_one("*3\r\n*2\r\n:1\r\n:2\r\n%1\r\n+k\r\n~1\r\n*1\r\n_\r\n>1\r\n$1\r\nx\r\n"),
            array({array({integer(1), integer(2)}),
                   aggregate(Type::map, {simple("k"), aggregate(Type::set, {array({null()})})}),
                   aggregate(Type::push, {bulk("x")})}));
}

TEST(RespParserTypes, EmptyAggregates) {
  EXPECT_EQ(parse_one("*0\r\n"), array({}));
  EXPECT_EQ(parse_one("%0\r\n"), aggregate(Type::map, {}));
  EXPECT_EQ(parse_one("~0\r\n"), aggregate(Type::set, {}));
  EXPECT_EQ(parse_one(">0\r\n"), aggregate(Type::push, {}));
  EXPECT_EQ(parse_one("*3\r\n*0\r\n%0\r\n:1\r\n"),
            array({array({}), aggregate(Type::map, {}), integer(1)}));
}

TEST(RespParserNodes, ComeInPreOrderWithDepthSizeAndPayload) {
  const auto nodes = nodes_of("*2\r\n$3\r\nfoo\r\n%1\r\n=7\r\ntxt:bar\r\n:1\r\n");
  ASSERT_EQ(nodes.size(), 5U);
  EXPECT_EQ(nodes[0].type, Type::array);
  EXPECT_EQ(nodes[0].depth, 0U);
  EXPECT_EQ(nodes[0].aggregate_size, 2U);
  EXPECT_EQ(nodes[1].type, Type::bulk_string);
  EXPECT_EQ(nodes[1].depth, 1U);
  EXPECT_EQ(nodes[1].data, "foo");
  EXPECT_EQ(nodes[2].type, Type::map);
  EXPECT_EQ(nodes[2].depth, 1U);
  EXPECT_EQ(nodes[2].aggregate_size, 1U);  // pairs, not elements
  EXPECT_EQ(nodes[3].type, Type::verbatim_string);
  EXPECT_EQ(nodes[3].depth, 2U);
  EXPECT_EQ(nodes[3].data, "txt:bar");
  EXPECT_EQ(nodes[4].type, Type::integer);
  EXPECT_EQ(nodes[4].depth, 2U);
  EXPECT_EQ(nodes[4].data, "1");
}

// ---------------------------------------------------------------------------------------------
// Streams and incremental input

// One of everything, nested, with attributes and binary payloads; nan is left out because it
// never compares equal.
const std::string mixed_stream =
    "+OK\r\n"
    "-ERR oops\r\n"
    ":-12\r\n"
    "$11\r\nhe\r\nllo\0wor\r\n"s
    "$0\r\n\r\n"
    "$-1\r\n"
    "*-1\r\n"
    "_\r\n"
    "#f\r\n"
    ",-inf\r\n"
    ",2.5e-3\r\n"
    "(-123456789012345678901234567890\r\n"
    "=8\r\nmkd:# Hi\r\n"
    "!5\r\nERR x\r\n"
    "*3\r\n$1\r\na\r\n*0\r\n%1\r\n+k\r\n~2\r\n:1\r\n#t\r\n"
    ">2\r\n+message\r\n$2\r\n\r\n\r\n"
    "|1\r\n+ttl\r\n:10\r\n*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n_\r\n";

std::vector<Value> mixed_values() {
  return {
      simple("OK"),
      scalar(Type::simple_error, "ERR oops"),
      integer(-12),
      bulk("he\r\nllo\0wor"s),
      bulk(""),
      null(),
      null(),
      null(),
      boolean(false),
      double_number(-std::numeric_limits<double>::infinity(), "-inf"),
      double_number(2.5e-3, "2.5e-3"),
      scalar(Type::big_number, "-123456789012345678901234567890"),
      verbatim("mkd", "# Hi"),
      scalar(Type::blob_error, "ERR x"),
      array(
          {bulk("a"), array({}),
           aggregate(Type::map, {simple("k"), aggregate(Type::set, {integer(1), boolean(true)})})}),
      aggregate(Type::push, {simple("message"), bulk("\r\n")}),
      with_attributes(array({with_attributes(integer(1), {simple("a"), simple("b")}), null()}),
                      {simple("ttl"), integer(10)}),
  };
}

TEST(RespParserStream, RepliesBackToBackInOneBuffer) {
  const Decoded whole = decode(mixed_stream);
  EXPECT_EQ(whole.error, "");
  EXPECT_EQ(whole.left_over, 0U);
  EXPECT_EQ(whole.replies, mixed_values());
}

TEST(RespParserStream, ReplyCompleteMarksEachReplyBoundary) {
  Parser parser;
  std::string_view bytes = "+OK\r\n*2\r\n:1\r\n*1\r\n:2\r\n$3\r\nfoo\r\n";
  std::vector<std::size_t> boundaries;  // offsets right after each complete reply
  std::size_t offset = 0;
  while (offset < bytes.size()) {
    const auto result = parser.next(bytes.substr(offset));
    ASSERT_EQ(result.status, Status::node);
    offset += result.consumed;
    if (parser.reply_complete()) boundaries.push_back(offset);
  }
  EXPECT_EQ(boundaries, (std::vector<std::size_t>{5, 21, 30}));
}

TEST(RespParserStream, ByteByByteGivesTheSameValues) {
  const Decoded split = decode_chunks(chunks_of(mixed_stream, 1));
  EXPECT_EQ(split.error, "");
  EXPECT_EQ(split.left_over, 0U);
  EXPECT_EQ(split.replies, mixed_values());
}

TEST(RespParserStream, EverySplitPointGivesTheSameValues) {
  const std::string_view stream = mixed_stream;
  const std::vector<Value> expected = mixed_values();
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    SCOPED_TRACE("split at " + std::to_string(split));
    const Decoded decoded = decode_chunks({stream.substr(0, split), stream.substr(split)});
    ASSERT_EQ(decoded.error, "");
    ASSERT_EQ(decoded.left_over, 0U);
    ASSERT_EQ(decoded.replies, expected);
  }
}

TEST(RespParserStream, NeedMoreConsumesNothingAndKeepsNoState) {
  const std::string_view reply = "*2\r\n$5\r\nhello\r\n:1\r\n";
  const std::size_t array_header = 4;
  for (std::size_t size = array_header; size < reply.size(); ++size) {
    SCOPED_TRACE("prefix of " + std::to_string(size));
    Parser parser;
    ASSERT_EQ(parser.next(reply).status, Status::node);  // the array header
    const std::string_view rest = reply.substr(array_header);
    const std::string_view prefix = rest.substr(0, size - array_header);
    const auto first = parser.next(prefix);
    if (first.status == Status::need_more) {
      EXPECT_EQ(first.consumed, 0U);
      EXPECT_FALSE(parser.failed());
      const auto again = parser.next(rest);
      ASSERT_EQ(again.status, Status::node);
      EXPECT_EQ(again.node.data, "hello");
      EXPECT_EQ(again.node.depth, 1U);
    } else {
      EXPECT_EQ(first.status, Status::node);
    }
  }
}

TEST(RespParserStream, EmptyInputNeedsOneByte) {
  Parser parser;
  const auto result = parser.next("");
  EXPECT_EQ(result.status, Status::need_more);
  EXPECT_EQ(result.consumed, 0U);
  EXPECT_EQ(parser.bytes_needed(), 1U);
}

TEST(RespParserStream, BytesNeededForAPartialLine) {
  Parser parser;
  EXPECT_EQ(parser.next("+OK").status, Status::need_more);
  EXPECT_GT(parser.bytes_needed(), 3U);
  EXPECT_LE(parser.bytes_needed(), 5U);
}

TEST(RespParserStream, BytesNeededForALargeBulkSplitAcrossReads) {
  const std::string header = "$100000\r\n";
  const std::string reply = header + std::string(100000, 'v') + "\r\n";
  Parser parser;
  EXPECT_EQ(parser.next(std::string_view(reply).substr(0, 1000)).status, Status::need_more);
  EXPECT_EQ(parser.bytes_needed(), reply.size());

  // A reader that waits for bytes_needed() bytes is not woken early nor left hanging.
  EXPECT_EQ(parser.next(std::string_view(reply).substr(0, reply.size() - 1)).status,
            Status::need_more);
  EXPECT_EQ(parser.bytes_needed(), reply.size());
  const auto result = parser.next(reply);
  ASSERT_EQ(result.status, Status::node);
  EXPECT_EQ(result.consumed, reply.size());
  EXPECT_EQ(result.node.data.size(), 100000U);
  EXPECT_EQ(parser.bytes_needed(), 1U);
}

TEST(RespParserStream, TenMegabyteBulkAcross64KiBChunks) {
  std::string payload(10 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 % 251);
  const std::string stream = "$" + std::to_string(payload.size()) + "\r\n" + payload + "\r\n:1\r\n";
  const Decoded decoded = decode_chunks(chunks_of(stream, 64 * 1024));
  EXPECT_EQ(decoded.error, "");
  ASSERT_EQ(decoded.replies.size(), 2U);
  EXPECT_EQ(decoded.replies[0].type, Type::bulk_string);
  EXPECT_TRUE(decoded.replies[0].string == payload);  // no 10 MB diff on failure
  EXPECT_EQ(decoded.replies[1], integer(1));
}

TEST(RespParserStream, ResetStartsOverMidReply) {
  Parser parser;
  ASSERT_EQ(parser.next("*3\r\n").status, Status::node);
  parser.reset();
  const auto result = parser.next("+OK\r\n");
  ASSERT_EQ(result.status, Status::node);
  EXPECT_EQ(result.node.depth, 0U);
  EXPECT_TRUE(parser.reply_complete());
}

// ---------------------------------------------------------------------------------------------
// Malformed input

TEST(RespParserErrors, UnknownTypeByte) {
  EXPECT_NE(error_of("?foo\r\n").find("unknown RESP type byte"), std::string::npos);
  EXPECT_NE(error_of("\0\r\n"s).find("unknown RESP type byte"), std::string::npos);
}

TEST(RespParserErrors, ParserStaysFailed) {
  Parser parser;
  const auto result = parser.next("?\r\n");
  EXPECT_EQ(result.status, Status::error);
  EXPECT_EQ(result.consumed, 0U);
  EXPECT_TRUE(parser.failed());
  const std::string message = parser.error();
  EXPECT_FALSE(message.empty());

  EXPECT_EQ(parser.next("+OK\r\n").status, Status::error);
  EXPECT_TRUE(parser.failed());
  EXPECT_EQ(parser.error(), message);

  parser.reset();
  EXPECT_FALSE(parser.failed());
  EXPECT_EQ(parser.next("+OK\r\n").status, Status::node);
}

TEST(RespParserErrors, BadLength) {
  for (const char* bytes : {"$abc\r\n", "$\r\n", "$-2\r\n", "$1x\r\n", "* 1\r\n", "*-5\r\n",
                            "%-1\r\n", "=-1\r\n", "!-1\r\n", "$+-1\r\n"}) {
    SCOPED_TRACE(bytes);
    EXPECT_EQ(error_of(bytes), "invalid RESP length");
  }
}

TEST(RespParserErrors, BulkLengthOverTheLimitFailsOnTheHeader) {
  ParserLimits limits;
  limits.max_bulk_length = 10;
  EXPECT_EQ(error_of("$10\r\n0123456789\r\n", limits), "");
  // The header alone is enough: the parser does not wait for the bytes it would refuse.
  EXPECT_EQ(error_of("$11\r\n", limits), "RESP bulk length over the limit");
  EXPECT_EQ(error_of("!11\r\n", limits), "RESP bulk length over the limit");
  EXPECT_EQ(error_of("$9223372036854775807\r\n"), "RESP bulk length over the limit");
}

TEST(RespParserErrors, AggregateSizeOverTheLimit) {
  ParserLimits limits;
  limits.max_aggregate_size = 100;
  EXPECT_EQ(error_of("*100\r\n", limits), "");
  EXPECT_EQ(error_of("*101\r\n", limits), "RESP aggregate size over the limit");
  EXPECT_EQ(error_of("%101\r\n", limits), "RESP aggregate size over the limit");
  EXPECT_EQ(error_of("*4294967297\r\n"), "RESP aggregate size over the limit");
}

TEST(RespParserErrors, NestingDeeperThanMaxDepth) {
  ParserLimits limits;
  limits.max_depth = 3;
  EXPECT_EQ(decode("*1\r\n*1\r\n*1\r\n:1\r\n", limits).replies.size(), 1U);
  EXPECT_EQ(error_of("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", limits), "RESP nesting too deep");
  EXPECT_EQ(error_of("*1\r\n%1\r\n~1\r\n>0\r\n", limits), "RESP nesting too deep");

  std::string deep;
  for (int i = 0; i < 65; ++i) deep += "*1\r\n";
  EXPECT_EQ(error_of(deep), "RESP nesting too deep");
}

TEST(RespParserErrors, BulkWithoutCrlfTerminator) {
  EXPECT_EQ(error_of("$3\r\nfooXY"), "RESP bulk string not terminated by CRLF");
  EXPECT_EQ(error_of("$3\r\nfoo\n\r"), "RESP bulk string not terminated by CRLF");
  EXPECT_EQ(error_of("$3\r\nfoob\r\n"), "RESP bulk string not terminated by CRLF");
}

TEST(RespParserErrors, BadInteger) {
  for (const char* bytes : {":\r\n", ":12a\r\n", ": 1\r\n", ":+\r\n", ":+-5\r\n", ":1.5\r\n",
                            ":9223372036854775808\r\n"}) {
    SCOPED_TRACE(bytes);
    EXPECT_EQ(error_of(bytes), "invalid RESP integer");
  }
}

TEST(RespParserErrors, BadBoolean) {
  for (const char* bytes : {"#\r\n", "#x\r\n", "#tt\r\n", "#T\r\n", "#1\r\n"}) {
    SCOPED_TRACE(bytes);
    EXPECT_EQ(error_of(bytes), "invalid RESP boolean");
  }
}

TEST(RespParserErrors, BadDouble) {
  for (const char* bytes : {",\r\n", ",abc\r\n", ",1.5x\r\n", ", 1\r\n", ",+-1\r\n", ",0x10\r\n"}) {
    SCOPED_TRACE(bytes);
    EXPECT_EQ(error_of(bytes), "invalid RESP double");
  }
}

TEST(RespParserErrors, BadNull) {
  EXPECT_EQ(error_of("_x\r\n"), "invalid RESP null");
}

TEST(RespParserErrors, BadBigNumber) {
  for (const char* bytes : {"(\r\n", "(-\r\n", "(12a\r\n", "(1.5\r\n", "(+-1\r\n"}) {
    SCOPED_TRACE(bytes);
    EXPECT_EQ(error_of(bytes), "invalid RESP big number");
  }
}

TEST(RespParserErrors, VerbatimWithoutFormat) {
  EXPECT_EQ(error_of("=3\r\ntxt\r\n"), "verbatim string without a format");
  EXPECT_EQ(error_of("=5\r\ntxt-x\r\n"), "verbatim string without a format");
}

TEST(RespParserErrors, LineLongerThanMaxLineLength) {
  ParserLimits limits;
  limits.max_line_length = 16;
  EXPECT_EQ(decode("+" + std::string(16, 'x') + "\r\n", limits).replies.size(), 1U);
  EXPECT_EQ(error_of("+" + std::string(17, 'x') + "\r\n", limits), "RESP line too long");
  // Without any CRLF the parser gives up instead of waiting for ever.
  EXPECT_EQ(error_of("+" + std::string(40, 'x'), limits), "RESP line too long");
  EXPECT_EQ(decode_chunks(chunks_of("$" + std::string(40, '1'), 1), limits).error,
            "RESP line too long");
}

TEST(RespParserErrors, StreamedTypesAreRejected) {
  for (const char* bytes : {"$?\r\n", "*?\r\n", "%?\r\n", "~?\r\n", "=?\r\n"}) {
    SCOPED_TRACE(bytes);
    EXPECT_EQ(error_of(bytes), "streamed RESP3 types are not supported");
  }
  EXPECT_NE(error_of(";4\r\nHell\r\n").find("unknown RESP type byte"), std::string::npos);
}

TEST(RespParserErrors, ErrorInsideAnAggregate) {
  EXPECT_EQ(error_of("*3\r\n:1\r\n:x\r\n:3\r\n"), "invalid RESP integer");
}

// ---------------------------------------------------------------------------------------------
// Declared sizes are claims, not allocations

TEST(RespParserLimits, AbsurdDeclaredArraySizeDoesNotAllocate) {
  Parser parser;
  ValueBuilder builder;
  std::string_view bytes = "*2000000000\r\n:1\r\n$1\r\nx\r\n*2000000000\r\n:2\r\n";
  while (!bytes.empty()) {
    const auto result = parser.next(bytes);
    ASSERT_EQ(result.status, Status::node);
    builder.add(result.node);
    bytes.remove_prefix(result.consumed);
  }
  EXPECT_FALSE(parser.reply_complete());
  const Value partial = builder.take();
  ASSERT_EQ(partial.elements.size(), 3U);
  EXPECT_LE(partial.elements.capacity(), 1024U);
  EXPECT_LE(partial.elements[2].elements.capacity(), 1024U);
}

TEST(RespParserLimits, LargestAllowedAggregateSizeDoesNotAllocate) {
  Parser parser;
  ValueBuilder builder;
  for (std::string_view bytes : {"*4294967296\r\n", "%4294967296\r\n"}) {
    const auto result = parser.next(bytes);
    ASSERT_EQ(result.status, Status::node) << parser.error();
    EXPECT_EQ(result.node.aggregate_size, 4294967296U);
    builder.add(result.node);
  }
  const Value partial = builder.take();
  ASSERT_EQ(partial.elements.size(), 1U);
  EXPECT_LE(partial.elements.capacity(), 1024U);
  EXPECT_LE(partial.elements[0].elements.capacity(), 1024U);
}

// ---------------------------------------------------------------------------------------------
// parse_one

TEST(RespParserParseOne, ReturnsTheReply) {
  EXPECT_EQ(parse_one("*1\r\n+x\r\n"), array({simple("x")}));
}

TEST(RespParserParseOne, ThrowsOnIncompleteInput) {
  EXPECT_THROW(parse_one(""), std::invalid_argument);
  EXPECT_THROW(parse_one("*2\r\n:1\r\n"), std::invalid_argument);
  EXPECT_THROW(parse_one("$5\r\nhel"), std::invalid_argument);
}

TEST(RespParserParseOne, ThrowsOnBytesAfterTheReply) {
  EXPECT_THROW(parse_one("+OK\r\n+OK\r\n"), std::invalid_argument);
}

TEST(RespParserParseOne, ThrowsTheParsersMessageOnMalformedInput) {
  try {
    parse_one(":abc\r\n");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "invalid RESP integer");
  }
}

TEST(RespParserParseOne, UsesTheGivenLimits) {
  ParserLimits limits;
  limits.max_bulk_length = 2;
  EXPECT_THROW(parse_one("$3\r\nabc\r\n", limits), std::invalid_argument);
  EXPECT_EQ(parse_one("$2\r\nab\r\n", limits), bulk("ab"));
}

// ---------------------------------------------------------------------------------------------
// to_debug_string

TEST(RespParserDebugString, RendersScalars) {
  EXPECT_EQ(to_debug_string(parse_one("+OK\r\n")), "\"OK\"");
  EXPECT_EQ(to_debug_string(parse_one("$3\r\nfoo\r\n")), "\"foo\"");
  EXPECT_EQ(to_debug_string(parse_one("=7\r\ntxt:bar\r\n")), "\"bar\"");
  EXPECT_EQ(to_debug_string(parse_one("-ERR no\r\n")), "(error) ERR no");
  EXPECT_EQ(to_debug_string(parse_one("!6\r\nERR no\r\n")), "(error) ERR no");
  EXPECT_EQ(to_debug_string(parse_one(":-3\r\n")), "-3");
  EXPECT_EQ(to_debug_string(parse_one("_\r\n")), "(nil)");
  EXPECT_EQ(to_debug_string(parse_one("$-1\r\n")), "(nil)");
  EXPECT_EQ(to_debug_string(parse_one("#t\r\n")), "true");
  EXPECT_EQ(to_debug_string(parse_one("#f\r\n")), "false");
  EXPECT_EQ(to_debug_string(parse_one(",1.5e3\r\n")), "1.5e3");
  EXPECT_EQ(to_debug_string(parse_one("(123\r\n")), "123");
}

TEST(RespParserDebugString, RendersAggregates) {
  EXPECT_EQ(to_debug_string(parse_one("*0\r\n")), "[]");
  EXPECT_EQ(to_debug_string(parse_one("*2\r\n:1\r\n*1\r\n+a\r\n")), "[1, [\"a\"]]");
  EXPECT_EQ(to_debug_string(parse_one("%2\r\n+a\r\n:1\r\n+b\r\n_\r\n")),
            "{\"a\": 1, \"b\": (nil)}");
  EXPECT_EQ(to_debug_string(parse_one("~2\r\n:1\r\n:2\r\n")), "[1, 2]");
  EXPECT_EQ(to_debug_string(parse_one(">1\r\n+m\r\n")), "[\"m\"]");
}

}  // namespace
}  // namespace opencode_cache::valkey::resp

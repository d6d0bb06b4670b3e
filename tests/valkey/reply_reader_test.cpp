// ReplyReader: whole replies out of bytes that arrive in arbitrary pieces.

#include "valkey/reply_reader.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "opencode_cache/valkey/error.hpp"

namespace opencode_cache::testing {
namespace {

using valkey::errc;
using valkey::ReplyReader;
using valkey::resp::Type;
using valkey::resp::Value;

// Writes `bytes` into the reader as a socket read would: into prepare(), then commit().
void receive(ReplyReader& reader, std::string_view bytes) {
  while (!bytes.empty()) {
    const auto space = reader.prepare();
    ASSERT_FALSE(space.empty());
    const std::size_t n = std::min(space.size(), bytes.size());
    std::memcpy(space.data(), bytes.data(), n);
    reader.commit(n);
    bytes.remove_prefix(n);
  }
}

std::vector<Value> drain(ReplyReader& reader) {
  std::vector<Value> out;
  Value value;
  while (reader.next(value)) out.push_back(std::move(value));
  return out;
}

constexpr std::string_view nested =
    "*4\r\n$5\r\nhello\r\n:42\r\n%1\r\n+key\r\n*2\r\n_\r\n#t\r\n,3.5\r\n";

TEST(ReplyReader, ReplySplitAtEveryPointArrivesWhole) {
  const Value expected = valkey::resp::parse_one(nested);
  for (std::size_t split = 0; split <= nested.size(); ++split) {
    SCOPED_TRACE("split at " + std::to_string(split));
    ReplyReader reader;
    receive(reader, nested.substr(0, split));
    Value value;
    if (split < nested.size()) {
      EXPECT_FALSE(reader.next(value));
    }
    receive(reader, nested.substr(split));
    const auto replies = drain(reader);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0], expected);
    EXPECT_EQ(reader.buffered(), 0u);
  }
}

TEST(ReplyReader, ReplyArrivingOneByteAtATime) {
  const Value expected = valkey::resp::parse_one(nested);
  ReplyReader reader;
  std::vector<Value> replies;
  for (char c : nested) {
    receive(reader, std::string_view(&c, 1));
    for (auto& value : drain(reader)) replies.push_back(std::move(value));
  }
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0], expected);
}

TEST(ReplyReader, SeveralRepliesInOneRead) {
  ReplyReader reader;
  receive(reader, "+OK\r\n:7\r\n$3\r\nabc\r\n_\r\n-ERR bad\r\n");
  const auto replies = drain(reader);
  ASSERT_EQ(replies.size(), 5u);
  EXPECT_EQ(replies[0].type, Type::simple_string);
  EXPECT_EQ(replies[0].string, "OK");
  EXPECT_EQ(replies[1].type, Type::integer);
  EXPECT_EQ(replies[1].integer, 7);
  EXPECT_EQ(replies[2].type, Type::bulk_string);
  EXPECT_EQ(replies[2].string, "abc");
  EXPECT_TRUE(replies[3].is_null());
  EXPECT_TRUE(replies[4].is_error());
  EXPECT_EQ(replies[4].string, "ERR bad");
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(ReplyReader, WholeRepliesThenAPartialOne) {
  ReplyReader reader;
  receive(reader, "+OK\r\n$5\r\nwor");
  Value value;
  ASSERT_TRUE(reader.next(value));
  EXPECT_EQ(value.string, "OK");
  EXPECT_FALSE(reader.next(value));
  EXPECT_GT(reader.buffered(), 0u);
  receive(reader, "ld\r\n");
  ASSERT_TRUE(reader.next(value));
  EXPECT_EQ(value.string, "world");
  EXPECT_FALSE(reader.next(value));
}

// Reads `bytes` as the connection does (prepare, commit, next), each read filling the room
// offered; returns how many reads it took and the reply in `out`.
int receive_counting_reads(ReplyReader& reader, std::string_view bytes, Value& out) {
  int reads = 0;
  while (!bytes.empty()) {
    const auto space = reader.prepare();
    const std::size_t n = std::min(space.size(), bytes.size());
    std::memcpy(space.data(), bytes.data(), n);
    reader.commit(n);
    bytes.remove_prefix(n);
    ++reads;
    if (reader.next(out)) break;
  }
  return reads;
}

TEST(ReplyReader, LargeBulkArrivesInFewReads) {
  const std::size_t size = 5 * 1024 * 1024;
  std::string payload(size, '\0');
  for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>(i * 31 % 251);
  const std::string reply = "$" + std::to_string(size) + "\r\n" + payload + "\r\n";

  ReplyReader reader;
  Value value;
  // The room offered doubles with what arrived: 16 KiB, then 1 MiB, 2, 4 and the rest.
  EXPECT_LE(receive_counting_reads(reader, reply, value), 6);
  EXPECT_EQ(value.type, Type::bulk_string);
  EXPECT_TRUE(value.string == payload) << "5 MiB bulk came back different";

  // The reader carries on with ordinary replies afterwards.
  receive(reader, "+OK\r\n");
  ASSERT_TRUE(reader.next(value));
  EXPECT_EQ(value.string, "OK");
}

TEST(ReplyReader, LargeBulkPartlyReadStillArrivesWhole) {
  const std::size_t size = 3 * 1024 * 1024;
  const std::string reply = "$" + std::to_string(size) + "\r\n" + std::string(size, 'x') + "\r\n";
  const std::size_t first = 20000;

  ReplyReader reader;
  receive(reader, "+before\r\n");
  receive(reader, std::string_view(reply).substr(0, first));
  Value value;
  ASSERT_TRUE(reader.next(value));
  EXPECT_EQ(value.string, "before");
  EXPECT_FALSE(reader.next(value));
  EXPECT_LE(receive_counting_reads(reader, std::string_view(reply).substr(first), value), 5);
  EXPECT_EQ(value.string.size(), size);
  EXPECT_EQ(value.string.find_first_not_of('x'), std::string::npos);
}

TEST(ReplyReader, ADeclaredLengthWithoutTheBytesAllocatesLittle) {
  ReplyReader reader;
  receive(reader, "$536870912\r\n");  // 512 MiB announced, nothing sent
  Value value;
  EXPECT_FALSE(reader.next(value));
  reader.prepare();
  EXPECT_LE(reader.capacity(), 2u * 1024 * 1024);
  // A few bytes more change nothing: memory follows the bytes, not the claim.
  receive(reader, std::string(1000, 'x'));
  reader.prepare();
  EXPECT_LE(reader.capacity(), 2u * 1024 * 1024);
}

valkey::Error protocol_error_for(ReplyReader& reader, std::string_view bytes) {
  receive(reader, bytes);
  try {
    drain(reader);
  } catch (const valkey::Error& e) {
    return e;
  }
  ADD_FAILURE() << "malformed input must throw";
  return valkey::Error(errc::server_error, "did not throw");
}

TEST(ReplyReader, MalformedInputIsAProtocolError) {
  ReplyReader reader;
  const auto e = protocol_error_for(reader, "+OK\r\n?what is this\r\n");
  EXPECT_EQ(e.code(), errc::protocol_error);
  EXPECT_THAT(e.what(), ::testing::HasSubstr("invalid reply"));
}

TEST(ReplyReader, MalformedLengthIsAProtocolError) {
  ReplyReader reader;
  EXPECT_EQ(protocol_error_for(reader, "$abc\r\n").code(), errc::protocol_error);
}

TEST(ReplyReader, ParserLimitsApply) {
  valkey::resp::ParserLimits limits;
  limits.max_bulk_length = 10;
  ReplyReader reader(limits);
  EXPECT_EQ(protocol_error_for(reader, "$11\r\nhello world\r\n").code(), errc::protocol_error);
}

TEST(ReplyReader, ResetForgetsAPartialReply) {
  ReplyReader reader;
  receive(reader, "*2\r\n$5\r\nhel");
  Value value;
  EXPECT_FALSE(reader.next(value));
  reader.reset();
  EXPECT_EQ(reader.buffered(), 0u);
  receive(reader, "+fresh\r\n");
  ASSERT_TRUE(reader.next(value));
  EXPECT_EQ(value.type, Type::simple_string);
  EXPECT_EQ(value.string, "fresh");
  EXPECT_FALSE(reader.next(value));
}

TEST(ReplyReader, ResetRecoversFromAProtocolError) {
  ReplyReader reader;
  EXPECT_EQ(protocol_error_for(reader, "!!garbage\r\n").code(), errc::protocol_error);
  reader.reset();
  receive(reader, ":5\r\n");
  Value value;
  ASSERT_TRUE(reader.next(value));
  EXPECT_EQ(value.integer, 5);
}

}  // namespace
}  // namespace opencode_cache::testing

// Which commands the client may send again on its own after a dropped connection.

#include "valkey/command_table.hpp"

#include <gtest/gtest.h>

#include <string>

namespace opencode_cache::testing {
namespace {

using valkey::is_read_only_command;

TEST(CommandTable, ReadsAreReadOnly) {
  EXPECT_TRUE(is_read_only_command("GET"));
  EXPECT_TRUE(is_read_only_command("HGETALL"));
  EXPECT_TRUE(is_read_only_command("MGET"));
  EXPECT_TRUE(is_read_only_command("EXISTS"));
  EXPECT_TRUE(is_read_only_command("TTL"));
  EXPECT_TRUE(is_read_only_command("PING"));
  EXPECT_TRUE(is_read_only_command("ZRANGEBYSCORE"));
}

TEST(CommandTable, NamesAreCaseInsensitive) {
  EXPECT_TRUE(is_read_only_command("get"));
  EXPECT_TRUE(is_read_only_command("Get"));
  EXPECT_TRUE(is_read_only_command("hGetAll"));
  EXPECT_FALSE(is_read_only_command("set"));
}

TEST(CommandTable, WritesAreNot) {
  for (const char* name :
       {"SET",    "INCR",  "INCRBY", "EVAL", "EVALSHA",          "DEL",     "EXPIRE",
        "HSET",   "HDEL",  "MSET",   "ZADD", "ZREMRANGEBYSCORE", "PUBLISH", "FLUSHALL",
        "GETDEL", "GETEX", "GETSET", "SORT", "ZRANGESTORE",      "QUIT"}) {
    EXPECT_FALSE(is_read_only_command(name)) << name;
  }
}

TEST(CommandTable, EveryListedReadIsFound) {
  // The whole table, so that a typo or an unsorted entry cannot hide one.
  for (const char* name :
       {"BITCOUNT",    "BITPOS",   "DBSIZE",  "DUMP",        "ECHO",          "EXISTS",
        "EXPIRETIME",  "GET",      "GETBIT",  "GETRANGE",    "HEXISTS",       "HGET",
        "HGETALL",     "HKEYS",    "HLEN",    "HMGET",       "HRANDFIELD",    "HSCAN",
        "HSTRLEN",     "HVALS",    "INFO",    "KEYS",        "LINDEX",        "LLEN",
        "LPOS",        "LRANGE",   "MGET",    "PEXPIRETIME", "PING",          "PTTL",
        "RANDOMKEY",   "SCAN",     "SCARD",   "SISMEMBER",   "SMEMBERS",      "SMISMEMBER",
        "SRANDMEMBER", "SSCAN",    "STRLEN",  "TIME",        "TTL",           "TYPE",
        "ZCARD",       "ZCOUNT",   "ZMSCORE", "ZRANGE",      "ZRANGEBYSCORE", "ZRANK",
        "ZREVRANGE",   "ZREVRANK", "ZSCAN",   "ZSCORE"}) {
    EXPECT_TRUE(is_read_only_command(name)) << name;
  }
}

TEST(CommandTable, EmptyAndOverlongNamesAreNot) {
  EXPECT_FALSE(is_read_only_command(""));
  EXPECT_FALSE(is_read_only_command("GETGETGETGETGETGETGET"));
  EXPECT_FALSE(is_read_only_command(std::string(10000, 'G')));
  // A read-only name padded past the longest known name is still not one.
  EXPECT_FALSE(is_read_only_command("ZRANGEBYSCORE    "));
  EXPECT_FALSE(is_read_only_command("GET "));
  EXPECT_FALSE(is_read_only_command(std::string("GET\0", 4)));
}

}  // namespace
}  // namespace opencode_cache::testing

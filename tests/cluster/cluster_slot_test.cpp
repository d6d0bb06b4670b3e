// Hash slots, redirections and slot maps as plain functions: known values from the cluster
// specification, and every answer checked against the server's own CLUSTER KEYSLOT.

#include "valkey/cluster_slot.hpp"

#include <gtest/gtest.h>

#include "cluster/valkey_cluster.hpp"
#include "valkey/cluster_routing.hpp"
#include "valkey/cluster_topology.hpp"

namespace opencode_cache::testing {
namespace {

using namespace valkey::detail;
using valkey::Command;
using valkey::resp::Type;
using valkey::resp::Value;

TEST(ClusterSlot, Crc16IsXmodem) {
  EXPECT_EQ(crc16("123456789"), 0x31C3);  // the specification's test vector
  EXPECT_EQ(crc16(""), 0);
}

TEST(ClusterSlot, KnownSlots) {
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot("hello"), 866);
}

TEST(ClusterSlot, HashTags) {
  EXPECT_EQ(hash_tag("{user1000}.following"), "user1000");
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
  EXPECT_EQ(hash_tag("foo{}{bar}"), "foo{}{bar}");  // an empty tag: the whole key
  EXPECT_EQ(hash_tag("foo{{bar}}zap"), "{bar");
  EXPECT_EQ(hash_tag("foo{bar}{zap}"), "bar");
  EXPECT_EQ(hash_tag("no{close"), "no{close");
}

TEST(ClusterSlot, RedirectionsAreParsed) {
  auto moved = parse_redirection("MOVED 3999 127.0.0.1:6381", "seed");
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->kind, Redirection::Kind::moved);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->target.endpoint(), "127.0.0.1:6381");
  auto ask = parse_redirection("ASK 1 :7000", "seed");
  ASSERT_TRUE(ask);
  EXPECT_EQ(ask->kind, Redirection::Kind::ask);
  EXPECT_EQ(ask->target.endpoint(), "seed:7000");  // no host: the node we asked
  EXPECT_FALSE(parse_redirection("MOVED 99999 h:1", "seed"));
  EXPECT_FALSE(parse_redirection("ERR MOVED", "seed"));
}

Value integer(std::int64_t n) {
  return Value{.type = Type::integer, .integer = n};
}
Value text(std::string s) {
  return Value{.type = Type::bulk_string, .string = std::move(s)};
}
Value array(std::vector<Value> elements) {
  return Value{.type = Type::array, .elements = std::move(elements)};
}

TEST(ClusterSlot, SlotsReplyGroupsRangesByPrimary) {
  const Value reply = array({
      array({integer(0), integer(99), array({text("10.0.0.1"), integer(7000)}),
             array({text("10.0.0.2"), integer(7001)})}),
      array({integer(100), integer(16383), array({text(""), integer(7002)})}),
      array({integer(50), integer(60), array({text("10.0.0.1"), integer(7000)})}),
  });
  auto topology = parse_cluster_slots(reply, "seed");
  ASSERT_TRUE(topology);
  EXPECT_EQ(topology->shards.size(), 2u);
  EXPECT_TRUE(topology->covers_every_slot());
  EXPECT_EQ(topology->shards[topology->slot_shard[0]].primary.endpoint(), "10.0.0.1:7000");
  EXPECT_EQ(topology->shards[topology->slot_shard[0]].replicas.size(), 1u);
  EXPECT_EQ(topology->shards[topology->slot_shard[16383]].primary.endpoint(), "seed:7002");
}

TEST(ClusterSlot, RoutingFindsTheKeys) {
  EXPECT_EQ(route_of(Command("get", "k")).routing, Routing::by_key);
  EXPECT_EQ(route_of(Command("MGET", "a", "b")).routing, Routing::split_keys);
  EXPECT_EQ(route_of(Command("MSET", "a", "1")).routing, Routing::split_pairs);
  EXPECT_EQ(route_of(Command("PING")).routing, Routing::any_node);
  EXPECT_EQ(route_of(Command("FLUSHALL")).routing, Routing::every_primary);
  EXPECT_EQ(route_of(Command("SCAN", "0")).routing, Routing::scan);
  const Command object("OBJECT", "ENCODING", "foo");
  EXPECT_EQ(command_slot(object, route_of(object)), 12182);
  const Command eval("EVALSHA", "abc", "2", "{t}a", "{t}b", "arg");
  EXPECT_EQ(command_slot(eval, route_of(eval)), key_slot("t"));
  const Command cross("EVAL", "return 1", "2", "foo", "bar");
  EXPECT_EQ(command_slot(cross, route_of(cross)), cross_slot);
  const Command keyless("EVAL", "return 1", "0");
  EXPECT_EQ(command_slot(keyless, route_of(keyless)), no_slot);
}

TEST(ClusterSlot, OnlyReadsMayGoToReplicas) {
  for (const Command& read :
       {Command("GET", "k"), Command("mget", "a", "b"), Command("EXISTS", "k"),
        Command("PTTL", "k"), Command("HGETALL", "k"), Command("EVAL_RO", "return 1", "1", "k"),
        Command("EVALSHA_RO", "abc", "1", "k"), Command("FCALL_RO", "f", "1", "k")}) {
    EXPECT_TRUE(may_read_from_replica(read)) << read.name();
  }
  // Writes, scripts that may write, and SCAN (its cursor belongs to the node that gave it).
  for (const Command& other :
       {Command("SET", "k", "v"), Command("DEL", "k"), Command("INCR", "k"), Command("GETEX", "k"),
        Command("EVAL", "return 1", "1", "k"), Command("EVALSHA", "abc", "1", "k"),
        Command("FCALL", "f", "1", "k"), Command("SCAN", "0")}) {
    EXPECT_FALSE(may_read_from_replica(other)) << other.name();
  }
}

class ClusterSlotServer : public ValkeyClusterTest {};

TEST_F(ClusterSlotServer, EverySlotAgreesWithClusterKeyslot) {
  for (const std::string key : {"foo", "opencode:response:0123456789abcdef", "{a}b", "x{}y",
                                "opencode:ratelimit:user:42", "\xff\xfe", "k{{t}}"}) {
    EXPECT_EQ(key_slot(key), cluster().key_slot(key)) << key;
  }
  for (int i = 0; i < 50; ++i) {
    const std::string key = "key:" + std::to_string(i * 7919);
    EXPECT_EQ(key_slot(key), cluster().key_slot(key)) << key;
  }
}

}  // namespace
}  // namespace opencode_cache::testing

// Internal: where a command goes in a cluster, decided from its name and arguments alone.
// Most commands carry their key first; the ones below differ. No I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "opencode_cache/valkey/command.hpp"

namespace opencode_cache::valkey::detail {

enum class Routing : std::uint8_t {
  by_key,            // one key at `key_index` (GET, SET, HSET... and subcommands like OBJECT)
  split_keys,        // every argument from 1 is a key: MGET, DEL, UNLINK, EXISTS, TOUCH
  split_pairs,       // key, value pairs from 1: MSET
  by_script_keys,    // EVAL / EVALSHA / FCALL: numkeys at 2, keys after; no key: any node
  any_node,          // no key: PING, INFO, PUBLISH, SCRIPT EXISTS, CLUSTER ...
  every_primary,     // the same on every primary, first reply kept: FLUSHALL, SCRIPT LOAD ...
  sum_primaries,     // integers added up over the primaries: DBSIZE
  concat_primaries,  // arrays joined: KEYS
  scan,              // SCAN: one primary after the other, the cursor saying which
};

struct Route {
  Routing routing = Routing::by_key;
  std::size_t key_index = 1;
};

Route route_of(const Command& command);

// The slots of the command's keys for by_key and by_script_keys; -1 when it has none, -2
// when they are in different slots (CROSSSLOT).
int command_slot(const Command& command, const Route& route);

// With ClientConfig::read_from_replicas: whether the command may go to a replica of its
// slot. Read-only commands (command_table.cpp) and the read-only scripts (EVAL_RO, EVALSHA_RO,
// FCALL_RO), except SCAN: its cursor belongs to the one node that gave it. Keyless ones (PING,
// INFO) are decided by the caller, which sends them to a primary.
bool may_read_from_replica(const Command& command);

inline constexpr int no_slot = -1;
inline constexpr int cross_slot = -2;

}  // namespace opencode_cache::valkey::detail

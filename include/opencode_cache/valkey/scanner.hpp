// SCAN, HSCAN, SSCAN and ZSCAN as an iteration in batches: one server call per batch, so
// memory stays bounded by COUNT whatever the size of the keyspace.
//
// SCAN's guarantee holds: every element present for the whole iteration is returned at
// least once. An element may come twice (the table was resized meanwhile); consumers
// must tolerate that, as UNLINK and set insertion do.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "opencode_cache/valkey/client.hpp"

namespace opencode_cache::valkey {

struct ScanOptions {
  std::string match;      // MATCH pattern; empty: everything
  std::size_t count = 0;  // COUNT hint; 0: the server's default (10)
  std::string type;       // SCAN only: TYPE filter such as "string" or "hash"
};

class Scanner {
 public:
  // Over the keyspace.
  static Scanner keys(Client& client, ScanOptions options = {});
  // Over a hash (field, value, field, value...), a set (members), or a sorted set
  // (member, score, member, score...).
  static Scanner hash(Client& client, std::string key, ScanOptions options = {});
  static Scanner set(Client& client, std::string key, ScanOptions options = {});
  static Scanner sorted_set(Client& client, std::string key, ScanOptions options = {});

  // The next batch (possibly empty: SCAN may return nothing and a cursor to go on), or
  // nullopt once the iteration is complete.
  Task<std::optional<std::vector<std::string>>> next();
  bool done() const noexcept { return done_; }

 private:
  Scanner(Client& client, std::string verb, std::string key, ScanOptions options);
  Command next_command() const;

  Client* client_;
  std::string verb_;
  std::string key_;  // empty for SCAN
  ScanOptions options_;
  std::string cursor_ = "0";
  bool done_ = false;
};

}  // namespace opencode_cache::valkey

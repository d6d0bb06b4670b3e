// Optimistic transactions: WATCH the keys, read, then MULTI/EXEC the writes; start over
// when a watched key changed meanwhile.
//
// WATCH state belongs to one connection, so run these on a Client that no other coroutine
// uses at the same time (a dedicated Client with the same config). EXEC is pinned to the
// connection that answered WATCH: after a reconnect the attempt starts over instead of
// running unwatched.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "opencode_cache/valkey/client.hpp"

namespace opencode_cache::valkey {

struct WatchOptions {
  std::uint32_t max_attempts = 16;
};

// `attempt` reads through the client and returns the writes to commit, or nullopt to
// commit nothing (the keys are unwatched). Returns EXEC's replies (empty when nothing was
// committed). Throws Error(transaction_aborted) after max_attempts conflicts.
using WatchAttempt = std::function<Task<std::optional<Pipeline>>(Client&)>;

Task<std::vector<resp::Value>> watch_transaction(Client& dedicated,
                                                 const std::vector<std::string>& keys,
                                                 const WatchAttempt& attempt,
                                                 WatchOptions options = {});

}  // namespace opencode_cache::valkey

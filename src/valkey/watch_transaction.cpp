#include "opencode_cache/valkey/watch_transaction.hpp"

namespace opencode_cache::valkey {

Task<std::vector<resp::Value>> watch_transaction(Client& dedicated,
                                                 const std::vector<std::string>& keys,
                                                 const WatchAttempt& attempt,
                                                 WatchOptions options) {
  for (std::uint32_t round = 1; round <= options.max_attempts; ++round) {
    const std::uint64_t epoch = dedicated.connection_epoch();
    co_await dedicated.command(Command("WATCH").args(keys));
    // The reply came on the connection current now only if none was lost in between.
    if (dedicated.connection_epoch() != epoch) continue;

    std::optional<Pipeline> writes = co_await attempt(dedicated);
    if (!writes) {
      co_await dedicated.command(Command("UNWATCH"));
      co_return std::vector<resp::Value>{};
    }
    bool conflict = false;
    std::vector<resp::Value> replies;
    try {
      replies = co_await dedicated.transaction(*writes, {.connection_epoch = epoch});
    } catch (const Error& e) {
      // connection_changed: EXEC was never sent, as safe to retry as a conflict. (A
      // connection_lost, EXEC sent and then the connection gone, is not: it may have run.)
      if (e.code() != errc::transaction_aborted && e.code() != errc::connection_changed) throw;
      conflict = true;
    }
    if (!conflict) co_return replies;
  }
  throw Error(errc::transaction_aborted, "watched keys kept changing: gave up after " +
                                             std::to_string(options.max_attempts) + " attempts");
}

}  // namespace opencode_cache::valkey

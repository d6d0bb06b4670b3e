// Single flight across gateway processes sharing one Valkey (docs/single-flight.md).
//
// The in-process flight (flight.hpp) stays the first level: identical requests in one thread
// join one local Flight. SharedFlights decides where that Flight's answer comes from:
//  - leader: it takes the lease `<prefix>:flight:<flight key>` (SET NX PX, renewed while the
//    answer is read), runs `lead` (the upstream call and the store) and records the answer as
//    it arrives into the stream `<prefix>:flight:<flight key>:<lease token>` (XADD, capped by
//    MAXLEN and a byte cap, expiring); the lease is released after the entry is stored;
//  - follower: the lease is held elsewhere, so it replays that leader's stream into the local
//    Flight (XREAD BLOCK on a connection of its own), one reader per process and key;
//    FlightFollower decides when it takes over, goes upstream itself or aborts.
// With Valkey unreachable it just runs `lead`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "opencode_cache/valkey/client.hpp"
#include "opencode_cache/valkey/script.hpp"
#include "server/flow/flight.hpp"
#include "server/flow/flight_follower.hpp"

namespace opencode_cache::server::flow {

struct SharedFlightConfig {
  SharedFlightConfig() = default;
  bool enabled = true;
  // The lease's expiry, renewed every third of it: how soon a dead leader is replaced.
  std::chrono::milliseconds lease{3000};
  // The longest a follower waits for the leader's answer to begin before going upstream.
  std::chrono::milliseconds follow_timeout{60000};
  // Body bytes recorded per flight; beyond, the leader stops recording and followers that
  // have not started go upstream themselves.
  std::size_t max_bytes = 8 * 1024 * 1024;
  std::size_t max_entries = 10000;              // the stream's MAXLEN
  std::chrono::milliseconds stream_ttl{60000};  // after its last entry
};

struct SharedFlightEvents {
  SharedFlightEvents() = default;
  std::function<void()> followed;   // a local flight follows a leader elsewhere
  std::function<void()> took_over;  // a follower took the lease of a leader that was gone
  std::function<void()> fell_back;  // a follower went upstream without a lease
  std::function<void()> aborted;    // a follower reset its clients: the leader's answer broke
};

class SharedFlights {
 public:
  using Lead = std::function<upstream::Task<void>()>;

  // One try at the lease: won, held by `holder`, or Valkey out of reach.
  struct Claim {
    Claim() = default;
    bool reachable = true;
    bool won = false;
    std::optional<std::string> holder;
    std::string token;  // the one this claim offered
  };

  // `reader` configures the followers' own connections (made dedicated here).
  SharedFlights(valkey::Client& client, valkey::ClientConfig reader, std::string prefix,
                SharedFlightConfig config, SharedFlightEvents events);

  // Fills `flight`, already in the caller's table under `flight_key`, with the answer: by
  // leading (running `lead`) or by following the leader of another process.
  // `ahead`: the first round's claim, already made by claim_ahead().
  upstream::Task<void> run(std::shared_ptr<Flight> flight, std::string flight_key, Lead lead,
                           std::optional<Claim> ahead = std::nullopt);

  // A request about to lead claims the lease in the same round trip as its provider's rate
  // limit instead of after it: the round trip a miss would wait for one more time. It gives
  // the claim to run(), or, going no further (a refusal, a local flight to join), to release().
  // Unreachable (and nothing sent) when shared flights are off.
  upstream::Task<Claim> claim_ahead(const std::string& flight_key);
  // Gives a won claim back at once, in the background; nothing for any other claim.
  void release(const std::string& flight_key, const Claim& claim);

  std::string lease_key(std::string_view flight_key) const;
  static std::string stream_key(std::string_view lease_key, std::string_view token);

 private:
  struct Leading;
  struct Read;

  upstream::Task<Claim> claim(const std::string& lease_key, const std::string& token);
  upstream::Task<void> lead_recorded(std::shared_ptr<Flight> flight, std::string lease_key,
                                     std::string token, const Lead& lead);
  upstream::Task<void> record(std::shared_ptr<Flight> flight, std::string stream_key,
                              std::shared_ptr<Leading> leading);
  upstream::Task<void> release_lease(std::string lease_key, std::string token);
  upstream::Task<void> renew(std::string lease_key, std::string token,
                             std::shared_ptr<Leading> leading);
  // The next entries of `stream` after `last_id`, waiting for them a while.
  upstream::Task<Read> read(valkey::Client& reader, const std::string& lease_key,
                            const std::string& stream, const std::string& last_id);
  upstream::Task<FlightFollower::Verdict> follow(Flight& flight, const std::string& lease_key,
                                                 FlightFollower& follower);
  std::chrono::milliseconds block_time() const;

  valkey::Client& client_;
  valkey::ClientConfig reader_;
  std::string prefix_;
  SharedFlightConfig config_;
  SharedFlightEvents events_;
  valkey::Script renew_script_;
  valkey::Script release_script_;
  // The tokens of the leases this thread holds: an identical request that finds one of them
  // arrived after the local flight finished (else it would have joined it) and waits for its
  // release instead of replaying an answer that ended before it came.
  std::set<std::string, std::less<>> leading_;
};

}  // namespace opencode_cache::server::flow

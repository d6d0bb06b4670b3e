// The entries of a flight's Valkey stream (docs/single-flight.md): what the leader records of
// its upstream answer so that followers in other processes can replay it byte for byte.
//
// Every entry has three fields: "n" its sequence number (0, 1, 2... with no gap, so that a
// follower notices entries it missed, trimmed by MAXLEN), "k" its kind and "v" its value:
//   head  the answer's status and headers (JSON: {"status":200,"headers":[[name,value]...]})
//   data  body bytes, in order, verbatim
//   end   how the answer ended (JSON: {"end":"done"|"failed"|"abandoned"|"overflow",
//         "status":502,"message":"..."}); the last entry
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/http/exchange.hpp"

namespace opencode_cache::server::flow {

enum class FlightEnd : std::uint8_t {
  done,       // the upstream answer ended cleanly: followers end their response
  failed,     // the upstream failed: followers fail as the leader's clients did
  abandoned,  // the leader's clients all left and it stopped reading: nobody failed
  overflow,   // the answer outgrew the recording cap: the rest is not recorded
};

struct FlightHead {
  int status = 0;
  http::Headers headers;
};

struct FlightOutcome {
  FlightEnd end = FlightEnd::done;
  int status = 0;  // failed: the status the leader's clients got
  std::string message;
};

struct FlightEntry {
  enum class Kind : char { head = 'h', data = 'd', end = 'e' };
  std::uint64_t seq = 0;
  Kind kind = Kind::data;
  std::string value;
};

std::string encode_head(const FlightHead& head);
std::optional<FlightHead> decode_head(std::string_view value);
std::string encode_outcome(const FlightOutcome& outcome);
std::optional<FlightOutcome> decode_outcome(std::string_view value);

// The field-value pairs of an XADD for `entry`.
std::vector<std::string> entry_fields(const FlightEntry& entry);
// An entry from a stream entry's field-value pairs; nullopt when they are not one of ours.
std::optional<FlightEntry> entry_from_fields(const std::vector<std::string>& fields);

}  // namespace opencode_cache::server::flow

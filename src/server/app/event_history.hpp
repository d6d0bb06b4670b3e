// The bounded history of events in a Valkey stream, sans-I/O: its ids, and what a client that
// reconnects with Last-Event-ID gets from it (docs/app-api.md, "Events").
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace opencode_cache::server::app {

// A stream entry id, "<ms>-<seq>", ordered as Valkey orders them.
struct StreamId {
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;

  // nullopt for anything but two decimal numbers joined by '-'.
  static std::optional<StreamId> parse(std::string_view text);
  std::string str() const;
  friend auto operator<=>(const StreamId&, const StreamId&) = default;
};

enum class Resume {
  replay,  // every entry after the client's id is still held: send them, then live events
  reset,   // entries after it may have been trimmed (or the history was deleted): tell the
           // client to reload what it shows
};

// `oldest` and `newest` are the history's first and last ids, nullopt when it is empty. Trimming
// only removes the oldest entries, so an id within [oldest, newest] misses nothing; an id
// before `oldest` may have missed trimmed entries, and one past `newest` (or any id of an empty
// history) comes from a history that was deleted since.
Resume resume_from(StreamId last_seen, std::optional<StreamId> oldest,
                   std::optional<StreamId> newest);

}  // namespace opencode_cache::server::app

// What the client knows about commands by name, for decisions it must make without the server.
#pragma once

#include <string_view>

namespace opencode_cache::valkey {

// True for commands that only read: sending one again after a dropped connection cannot
// change data or what the caller sees. Everything else is never re-sent on its own, since
// it may already have run (INCR twice, SET NX reporting a lost race it actually won).
bool is_read_only_command(std::string_view name) noexcept;

}  // namespace opencode_cache::valkey

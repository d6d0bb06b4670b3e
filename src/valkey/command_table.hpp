// Internal: what the client knows about commands by name, for decisions it must make without the
// server.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opencode_cache/valkey/command.hpp"

namespace opencode_cache::valkey {

// True for commands that only read: sending one again after a dropped connection cannot
// change data or what the caller sees. Everything else is never re-sent on its own, since
// it may already have run (INCR twice, SET NX reporting a lost race it actually won).
bool is_read_only_command(std::string_view name) noexcept;

// Why `command` may not go through Client::command, with what to use instead; nullopt when
// it may. Refused: commands that change the connection's state, which a reconnect would
// silently undo or which put replies out of step with commands (SELECT, HELLO, AUTH, RESET,
// CLIENT REPLY / TRACKING / SETNAME, the SUBSCRIBE family, MONITOR, MULTI / EXEC / DISCARD),
// and, unless the client is `dedicated`, commands that block the connection and so every
// caller sharing it (BLPOP and the other blocking pops, XREAD / XREADGROUP with BLOCK, WAIT,
// WAITAOF).
std::optional<std::string> refusal_on_shared_connection(const Command& command, bool dedicated);

// The same for a pipeline, written to the connection as one piece: there a MULTI closed by an
// EXEC or DISCARD of the same pipeline is fine, since no other caller's command can come
// between them; an unclosed MULTI, or an EXEC or DISCARD without one, is refused.
std::optional<std::string> refusal_in_pipeline(const std::vector<Command>& commands,
                                               bool dedicated);

}  // namespace opencode_cache::valkey

// Internal: how every new connection starts (Client and Subscriber alike).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <vector>

#include "connection.hpp"
#include "opencode_cache/valkey/client_config.hpp"
#include "opencode_cache/valkey/command.hpp"

namespace opencode_cache::valkey::detail {

// In order: HELLO 3 with AUTH and SETNAME (RESP3), or AUTH and CLIENT SETNAME (RESP2); then
// SELECT when the database is not 0, CLIENT TRACKING ON with `tracking`, READONLY with
// `read_from_replicas` on a single node.
std::vector<Command> handshake_commands(const ClientConfig& config);

// Writes the handshake in one go and checks every reply. Throws Error(auth_failed) when the
// server refuses the credentials, Error(server_error) for any other refusal.
boost::asio::awaitable<void> run_handshake(Connection& connection, const ClientConfig& config);

}  // namespace opencode_cache::valkey::detail

#include "handshake.hpp"

#include <string>

#include "opencode_cache/valkey/error.hpp"

namespace opencode_cache::valkey::detail {
namespace {

bool is_auth_error(std::string_view prefix) {
  return prefix == "WRONGPASS" || prefix == "NOAUTH" || prefix == "NOPERM";
}

std::string user_of(const ClientConfig& config) {
  return config.username.empty() ? std::string("default") : config.username;
}

Command hello_command(const ClientConfig& config) {
  Command hello("HELLO", "3");
  if (!config.password.empty()) hello.arg("AUTH").arg(user_of(config)).arg(config.password);
  if (!config.client_name.empty()) hello.arg("SETNAME").arg(config.client_name);
  return hello;
}

Error refusal(const ClientConfig& config, const Command& command, const resp::Value& reply) {
  const ServerError error(reply.string);
  if (is_auth_error(error.prefix())) {
    return Error(errc::auth_failed, "the server refused the credentials of user '" +
                                        user_of(config) + "': " + error.message());
  }
  return Error(errc::server_error,
               std::string(command.name()) + " failed on connect: " + error.message());
}

}  // namespace

std::vector<Command> handshake_commands(const ClientConfig& config) {
  std::vector<Command> commands;
  if (config.protocol == 3) {
    commands.push_back(hello_command(config));
  } else {
    if (!config.password.empty()) {
      commands.push_back(config.username.empty()
                             ? Command("AUTH", config.password)
                             : Command("AUTH", config.username, config.password));
    }
    if (!config.client_name.empty()) commands.emplace_back("CLIENT", "SETNAME", config.client_name);
  }
  if (config.database != 0) commands.emplace_back("SELECT", config.database);
  if (config.tracking) commands.emplace_back("CLIENT", "TRACKING", "ON");
  // A connection to one node of a cluster that reads from replicas: READONLY lets a replica
  // answer reads of its primary's slots. It lasts as long as the connection, so every new one
  // says it again. A cluster Client's own config only routes; its per-node clients connect.
  if (config.read_from_replicas && !config.cluster) commands.emplace_back("READONLY");
  return commands;
}

boost::asio::awaitable<void> run_handshake(Connection& connection, const ClientConfig& config) {
  const std::vector<Command> commands = handshake_commands(config);
  if (commands.empty()) co_return;
  std::string bytes;
  for (const Command& command : commands) command.encode_to(bytes);
  co_await connection.write(bytes);
  for (const Command& command : commands) {
    const resp::Value reply = co_await connection.read_reply();
    if (reply.is_error()) throw refusal(config, command, reply);
  }
}

}  // namespace opencode_cache::valkey::detail

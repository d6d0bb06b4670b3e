#include "opencode_cache/valkey/scanner.hpp"

#include "opencode_cache/valkey/reply.hpp"

namespace opencode_cache::valkey {

Scanner::Scanner(Client& client, std::string verb, std::string key, ScanOptions options)
    : client_(&client),
      verb_(std::move(verb)),
      key_(std::move(key)),
      options_(std::move(options)) {}

Scanner Scanner::keys(Client& client, ScanOptions options) {
  return {client, "SCAN", "", std::move(options)};
}

Scanner Scanner::hash(Client& client, std::string key, ScanOptions options) {
  return {client, "HSCAN", std::move(key), std::move(options)};
}

Scanner Scanner::set(Client& client, std::string key, ScanOptions options) {
  return {client, "SSCAN", std::move(key), std::move(options)};
}

Scanner Scanner::sorted_set(Client& client, std::string key, ScanOptions options) {
  return {client, "ZSCAN", std::move(key), std::move(options)};
}

Command Scanner::next_command() const {
  Command command(verb_);
  if (!key_.empty()) command.arg(key_);
  command.arg(cursor_);
  if (!options_.match.empty()) command.arg("MATCH").arg(options_.match);
  if (options_.count > 0) command.arg("COUNT").arg(options_.count);
  if (!options_.type.empty() && key_.empty()) command.arg("TYPE").arg(options_.type);
  return command;
}

Task<std::optional<std::vector<std::string>>> Scanner::next() {
  if (done_) co_return std::nullopt;
  resp::Value reply = co_await client_->command(next_command());
  if (reply.type != resp::Type::array || reply.elements.size() != 2) {
    throw Error(errc::unexpected_reply,
                verb_ + " returned " + resp::to_debug_string(reply) + ", not [cursor, elements]");
  }
  cursor_ = reply::to_string(std::move(reply.elements[0]));
  done_ = cursor_ == "0";
  std::vector<std::string> batch;
  resp::Value& elements = reply.elements[1];
  batch.reserve(elements.elements.size());
  for (resp::Value& element : elements.elements) {
    batch.push_back(reply::to_string(std::move(element)));
  }
  co_return batch;
}

}  // namespace opencode_cache::valkey

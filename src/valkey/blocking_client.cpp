#include "opencode_cache/valkey/blocking_client.hpp"

namespace opencode_cache::valkey {

BlockingClient::BlockingClient(ClientConfig config)
    : work_(io_.get_executor()),
      client_(io_.get_executor(), std::move(config)),
      thread_([this] { io_.run(); }) {}

BlockingClient::~BlockingClient() {
  boost::asio::post(io_, [this] { client_.close(); });
  work_.reset();
  thread_.join();
}

resp::Value BlockingClient::command(Command command, RequestOptions options) {
  return call([&](Client& c) { return c.command(std::move(command), options); });
}

bool BlockingClient::ping() {
  return call([](Client& c) { return c.ping(); });
}

std::optional<std::string> BlockingClient::get(std::string_view key) {
  return call([&](Client& c) { return c.get(key); });
}

bool BlockingClient::set(std::string_view key, std::string_view value, SetOptions options) {
  return call([&](Client& c) { return c.set(key, value, options); });
}

std::int64_t BlockingClient::del(std::string_view key) {
  return call([&](Client& c) { return c.del(key); });
}

void BlockingClient::quit() {
  call([](Client& c) { return c.quit(); });
}

}  // namespace opencode_cache::valkey

#include "opencode_cache/valkey/blocking_client.hpp"

namespace opencode_cache::valkey {

BlockingClient::BlockingClient(ClientConfig config)
    : work_(io_.get_executor()),
      client_(io_.get_executor(), std::move(config)),
      thread_([this] { io_.run(); }) {}

BlockingClient::~BlockingClient() {
  try {
    boost::asio::post(io_, [this] { client_.close(); });
  } catch (...) {
    io_.stop();  // no memory to ask for a clean close: stop the loop instead
  }
  work_.reset();
  try {
    thread_.join();
  } catch (...) {
    // join fails only for a thread that is not joinable; nothing left to wait for then.
  }
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

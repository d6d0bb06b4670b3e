// A pub/sub message, and the handler a subscription delivers it to.
#pragma once

#include <functional>
#include <string>

namespace opencode_cache::valkey {

struct Message {
  std::string channel;
  std::string pattern;  // the pattern that matched (psubscribe); empty for subscribe
  std::string payload;
};

using MessageHandler = std::function<void(const Message&)>;

}  // namespace opencode_cache::valkey

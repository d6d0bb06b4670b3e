// A Lua script run with EVALSHA, its SHA1 computed locally. Client::eval falls back to EVAL
// when the server answers NOSCRIPT (after SCRIPT FLUSH or a restart), which loads it again.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "opencode_cache/valkey/command.hpp"

namespace opencode_cache::valkey {

class Script {
 public:
  explicit Script(std::string source);

  const std::string& source() const noexcept { return *source_; }
  // Lower-case hex, as SCRIPT LOAD returns it.
  const std::string& sha1() const noexcept { return sha1_; }

  Command evalsha(const std::vector<std::string>& keys, const std::vector<std::string>& args) const;
  Command eval(const std::vector<std::string>& keys, const std::vector<std::string>& args) const;

 private:
  // Shared so that copies of a script (in pipelines, in many requests) cost no copy of text.
  std::shared_ptr<const std::string> source_;
  std::string sha1_;
};

// SHA1 in lower-case hex, as Valkey's SCRIPT LOAD and redis.sha1hex() give it.
std::string sha1_hex(std::string_view text);

}  // namespace opencode_cache::valkey

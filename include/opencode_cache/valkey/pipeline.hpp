// Several commands written together and answered together, in order.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "opencode_cache/valkey/command.hpp"
#include "opencode_cache/valkey/script.hpp"

namespace opencode_cache::valkey {

class Pipeline {
 public:
  Pipeline& add(Command command) {
    commands_.push_back(std::move(command));
    return *this;
  }
  template <class... Args>
  Pipeline& add(std::string_view name, const Args&... args) {
    return add(Command(name, args...));
  }
  // A script call by EVALSHA. If the server does not know the script (NOSCRIPT), the client
  // runs this call again with EVAL once the pipeline's replies are in: it then runs after
  // the pipeline's later commands, not between them.
  Pipeline& add(const Script& script, const std::vector<std::string>& keys,
                const std::vector<std::string>& args) {
    scripts_.push_back({commands_.size(), script, keys, args});
    return add(script.evalsha(keys, args));
  }

  const std::vector<Command>& commands() const noexcept { return commands_; }
  std::size_t size() const noexcept { return commands_.size(); }
  bool empty() const noexcept { return commands_.empty(); }

  struct ScriptCall {
    std::size_t index;  // position in commands()
    Script script;
    std::vector<std::string> keys;
    std::vector<std::string> args;
  };
  const std::vector<ScriptCall>& script_calls() const noexcept { return scripts_; }

 private:
  std::vector<Command> commands_;
  std::vector<ScriptCall> scripts_;
};

}  // namespace opencode_cache::valkey

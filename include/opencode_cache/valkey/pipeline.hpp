// Several commands written together and answered together, in order.
#pragma once

#include <string_view>
#include <utility>
#include <vector>

#include "opencode_cache/valkey/command.hpp"

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

  const std::vector<Command>& commands() const noexcept { return commands_; }
  std::size_t size() const noexcept { return commands_.size(); }
  bool empty() const noexcept { return commands_.empty(); }

 private:
  std::vector<Command> commands_;
};

}  // namespace opencode_cache::valkey

#pragma once

// For tests that drive a cluster or a server from a helper thread while the event loop runs.

#include <thread>

namespace opencode_cache::testing {

// Joins a helper thread however the test body ends, so that a failure is reported, not a
// std::terminate.
struct JoinAtExit {
  std::thread& thread;
  ~JoinAtExit() {
    if (thread.joinable()) thread.join();
  }
};

}  // namespace opencode_cache::testing

// The test suite's fake provider as a process of its own, for the tests written in other
// languages (tests/sdk drives the gateway with the real JavaScript clients), so that every suite
// checks the gateway against the same streams. Prints "port <n>" once it listens, answers each
// "calls" line on stdin with the number of requests received so far, and exits when stdin
// closes: it never outlives the test that started it.
#include <iostream>
#include <string>

#include "server/support/fake_upstream.hpp"

int main() {
  opencode_cache::testing::FakeUpstream upstream;
  std::cout << "port " << upstream.port() << std::endl;
  for (std::string line; std::getline(std::cin, line);) {
    if (line == "calls") {
      std::cout << upstream.calls() << std::endl;
    } else {
      std::cout << "error: unknown command '" << line << "' (known: calls)" << std::endl;
    }
  }
  return 0;
}

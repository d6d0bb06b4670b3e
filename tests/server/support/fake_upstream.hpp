#pragma once
// A model provider for the gateway's tests: a local HTTP/1.1 server speaking OpenAI Chat
// Completions (JSON and SSE streams with role, reasoning, content, tool-call deltas and a
// usage chunk) on its own thread. The request's "model" chooses a behaviour:
//   "fail-500", "fail-429"    that error status with an OpenAI error body
//   "abort"                   a stream cut off after two events (connection closed)
//   "stall"                   no answer at all
//   "hold"                    the first event, then waits for release() before the rest
//                             (not streamed: the whole answer waits)
//   anything else             a complete answer
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace opencode_cache::testing {

class FakeUpstream {
 public:
  FakeUpstream();
  ~FakeUpstream();
  FakeUpstream(const FakeUpstream&) = delete;
  FakeUpstream& operator=(const FakeUpstream&) = delete;

  std::uint16_t port() const;
  std::string base_url() const;  // http://127.0.0.1:<port>/v1
  // Requests received on /v1/... (chat completions, embeddings, models and the rest).
  std::uint64_t calls() const;
  // The Authorization values received, in order.
  std::vector<std::string> authorizations() const;
  // Lets every "hold" stream continue.
  void release();
  // Events of a streamed answer for `model`, as the fake sends them (each "data: ...\n\n").
  static std::vector<std::string> stream_events(const std::string& model, const std::string& text);
  static std::string json_answer(const std::string& model, const std::string& text);
  // A stream of `chunks` content events, for benchmarks.
  static std::string long_stream(int chunks);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace opencode_cache::testing

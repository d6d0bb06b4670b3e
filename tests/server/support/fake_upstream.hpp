#pragma once
// A model provider for the gateway's tests: a local HTTP/1.1 server on its own thread speaking
//  - OpenAI Chat Completions (JSON and SSE streams with role, reasoning, content, tool-call
//    deltas and a usage chunk),
//  - OpenAI Responses on .../responses (reasoning with encrypted content and a summary, an
//    output_text message, a function call, usage in response.completed),
//  - Anthropic Messages on .../messages (a thinking block with its signature, text, a tool_use
//    with input_json_delta, ping, usage in message_start and message_delta).
// The request's "model" chooses a behaviour:
//   "fail-500", "fail-429"    that error status with the API's error body
//   "abort"                   a stream cut off after two events (connection closed)
//   "stall"                   no answer at all
//   "hold"                    the first event, then waits for release() before the rest
//                             (not streamed: the whole answer waits)
//   "hold-head"               streamed: nothing at all (not even the head) until release()
//   "fail-stream"             Responses, Messages: an `error` event after a few events, then
//                             the stream ends cleanly
//   "no-terminal"             Responses, Messages: the stream ends cleanly without its
//                             terminal event (response.completed, message_stop)
//   "failed", "incomplete"    Responses: ends with response.failed / response.incomplete
//                             (JSON: a response with that status)
//   anything else             a complete answer
#include <atomic>
#include <cstdint>
#include <map>
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
  // Every request's headers (lower-case names), in order.
  std::vector<std::map<std::string, std::string>> request_headers() const;
  // Lets every "hold" stream continue.
  void release();
  // Makes later "hold" requests wait for the next release().
  void hold_again();
  // Events of a streamed answer for `model`, as the fake sends them (each "data: ...\n\n").
  static std::vector<std::string> stream_events(const std::string& model, const std::string& text);
  static std::string json_answer(const std::string& model, const std::string& text);
  // The Responses stream for `model` (each event "event: <type>\ndata: {...}\n\n") and the
  // JSON response of a non-streaming call (the response object of response.completed).
  static std::vector<std::string> responses_events(const std::string& model,
                                                   const std::string& text);
  static std::string responses_json(const std::string& model, const std::string& text);
  // The same for Anthropic Messages.
  static std::vector<std::string> messages_events(const std::string& model,
                                                  const std::string& text);
  static std::string messages_json(const std::string& model, const std::string& text);
  // A stream of `chunks` content events, for benchmarks.
  static std::string long_stream(int chunks);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace opencode_cache::testing

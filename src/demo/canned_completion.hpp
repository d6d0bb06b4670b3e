// The demo upstream's answers (scripts/run --demo): an OpenAI-compatible Chat Completions
// provider that always says the same thing, so that a newcomer can watch the gateway record a
// stream on the first request and replay it from Valkey on the second without any account.
// Sans-I/O: request bodies in, response bodies or SSE events out; demo_upstream.cpp serves them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace opencode_cache::demo {

// What a request to POST /v1/chat/completions asks for.
struct CompletionRequest {
  std::string model;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  std::size_t prompt_tokens = 0;
};

// A request the demo cannot answer: the status and the OpenAI-shaped error body.
struct DemoError {
  unsigned status;
  std::string body;
};

// Parses a Chat Completions request; throws DemoError on a body OpenAI would refuse too.
CompletionRequest parse_completion_request(std::string_view body);

// The whole answer as one chat.completion object.
std::string completion_json(const CompletionRequest& request);

// The same answer as SSE events ("data: ...\n\n"), one per word, the finish_reason, the usage
// when asked for, and "data: [DONE]": what the gateway needs to see before it stores a stream.
std::vector<std::string> completion_events(const CompletionRequest& request);

// GET /v1/models.
std::string models_json();

// An error body in OpenAI's shape.
DemoError demo_error(unsigned status, std::string_view type, std::string_view message);

}  // namespace opencode_cache::demo

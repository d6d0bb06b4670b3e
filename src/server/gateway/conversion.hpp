// The results of converting an answer between its two shapes (a JSON body and a recorded
// stream), for every API's converter.
#pragma once

#include <string>
#include <vector>

namespace opencode_cache::server::gateway {

struct AssembledCompletion {
  std::string body;   // the JSON body a non-streaming call returns
  std::string error;  // empty on success
  bool ok() const { return error.empty(); }
};

struct SynthesisedStream {
  std::vector<std::string> events;  // each a whole SSE event, blank line included
  std::string error;                // empty on success
  bool ok() const { return error.empty(); }
};

}  // namespace opencode_cache::server::gateway
